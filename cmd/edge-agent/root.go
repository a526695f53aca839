package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code other than 1 through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode returns the exit status for an error returned by a command.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// newRootCmd builds the command tree. Each subcommand lives in its own file.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "edge-agent",
		Short: "Give this device an AWS identity and keep its credentials fresh",
		Long: `edge-agent installs a device certificate, exchanges it for temporary AWS
credentials at the AWS IoT credentials provider, and serves those credentials to
every process on the device in the formats the AWS SDKs read unmodified.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newBootstrapCmd(),
		newRunCmd(),
		newCredentialProcessCmd(),
		newStatusCmd(),
		newVersionCmd(),
		newAdminCmd(),
		newServiceCmd(),
		newEnvCmd(),
		newDoctorCmd(),
	)
	return root
}
