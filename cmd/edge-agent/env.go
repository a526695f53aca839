package main

import "github.com/spf13/cobra"

// newEnvCmd is a placeholder until the command is built.
func newEnvCmd() *cobra.Command {
	return &cobra.Command{Use: "env", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
