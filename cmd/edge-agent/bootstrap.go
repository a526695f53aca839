package main

import "github.com/spf13/cobra"

// newBootstrapCmd is a placeholder until the command is built.
func newBootstrapCmd() *cobra.Command {
	return &cobra.Command{Use: "bootstrap", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
