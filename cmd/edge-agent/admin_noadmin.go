//go:build noadmin

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newAdminCmd stands in for the operator commands in builds made with
// -tags noadmin. Those builds leave out the IoT, SageMaker and IAM clients,
// whose start-up tables cost a device about 8 MiB of resident memory.
func newAdminCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "admin",
		Short: "Not in this build: use a full edge-agent build on an operator machine",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("admin: this device build (-tags noadmin) leaves out the cloud-side " +
				"commands; run edge-agent admin from a full build on an operator machine")
		},
	}
}
