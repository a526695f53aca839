package main

import "github.com/spf13/cobra"

// newStatusCmd is a placeholder until the command is built.
func newStatusCmd() *cobra.Command {
	return &cobra.Command{Use: "status", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
