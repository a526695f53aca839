package main

import "github.com/spf13/cobra"

// newCredentialProcessCmd is a placeholder until the command is built.
func newCredentialProcessCmd() *cobra.Command {
	return &cobra.Command{Use: "credential-process", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
