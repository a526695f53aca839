package main

import "github.com/spf13/cobra"

// newAdminCmd is a placeholder until the command is built.
func newAdminCmd() *cobra.Command {
	return &cobra.Command{Use: "admin", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
