package main

import (
	"errors"
	"fmt"
	"strings"

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
	// --version is a plain flag rather than cobra's Version field: a version
	// template makes cobra run text/template, whose reflection turns off the
	// linker's dead code elimination and nearly triples the binary.
	showVersion := root.Flags().Bool("version", false, "print the version, commit and build date")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if *showVersion {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return err
		}
		return cmd.Help()
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w; run '%s --help'", err, cmd.CommandPath())
	})
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

// execute runs root. An unknown command becomes one line that ends with the
// help to run, as flag errors do through the root's flag error function:
// cobra puts its "Did you mean" suggestions on lines of their own.
func execute(root *cobra.Command) error {
	cmd, err := root.ExecuteC()
	if err == nil || !strings.HasPrefix(err.Error(), "unknown command ") {
		return err
	}

	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	msg := lines[0]
	var suggestions []string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "\t") {
			suggestions = append(suggestions, strings.TrimSpace(l))
		}
	}
	if len(suggestions) > 0 {
		msg += " (did you mean " + strings.Join(suggestions, " or ") + "?)"
	}
	return fmt.Errorf("%s; run '%s --help'", msg, cmd.CommandPath())
}
