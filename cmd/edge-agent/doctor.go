package main

import "github.com/spf13/cobra"

// newDoctorCmd is a placeholder until the command is built.
func newDoctorCmd() *cobra.Command {
	return &cobra.Command{Use: "doctor", Hidden: true, RunE: func(*cobra.Command, []string) error { return errNotBuilt }}
}
