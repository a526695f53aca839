package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/doctor"
)

// errDoctorFailed makes doctor exit 1 after it printed its report.
var errDoctorFailed = errors.New("doctor found failures; see the fix under each FAIL line")

func newDoctorCmd() *cobra.Command {
	var (
		load   config.LoadOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this device's agent setup and explain each failure",
		Long: `doctor checks, as the calling user: the configuration; the identity files and
their modes; the certificate (parses, matches its key, valid now, days left);
the credentials endpoint (form, an mTLS credentials call, clock skew against
its Date header); the socket, token file and TCP door; and whether another
credential source earlier in the SDKs' default chain (environment keys, web
identity, ~/.aws profiles) would shadow the agent's credentials.

One line per check (ok, warn, FAIL, skip) with a fix under each problem.
Exit status 1 when any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs := doctor.Run(cmd.Context(), doctor.Options{
				LoadConfig: func() (config.Config, error) { return config.Load(load) },
			})

			write := doctor.WriteText
			if asJSON {
				write = doctor.WriteJSON
			}
			if err := write(cmd.OutOrStdout(), rs); err != nil {
				return err
			}
			if doctor.Failed(rs) {
				return errDoctorFailed
			}
			return nil
		},
	}
	load.BindFlags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
