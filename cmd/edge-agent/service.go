package main

import "github.com/spf13/cobra"

// newServiceCmd is a placeholder until the command is built.
func newServiceCmd() *cobra.Command {
	return &cobra.Command{Use: "service", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
