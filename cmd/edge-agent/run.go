package main

import "github.com/spf13/cobra"

// newRunCmd is a placeholder until the command is built.
func newRunCmd() *cobra.Command {
	return &cobra.Command{Use: "run", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
