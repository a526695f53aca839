package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/service"
)

// newServiceCmd builds `edge-agent service ...`, which manages the systemd
// unit on machines where edge-agent was not installed from the .deb.
func newServiceCmd() *cobra.Command {
	var exe string
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, start, stop or remove edge-agent as a systemd service",
		Long: `Manage edge-agent as a systemd service on a machine where it was not
installed from the .deb package (the package installs and enables the unit by
itself; use systemctl there).

The unit written is the one the package ships, with ExecStart pointing at this
binary. It runs "edge-agent run" as the edge-agent user, reads
/etc/edge-agent/config.yaml, keeps its state in /var/lib/edge-agent and serves
credentials on /run/edge-agent/agent.sock. Every subcommand but status needs
root and a running systemd.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&exe, "executable", "",
		"binary that the unit starts (default: this binary)")

	manager := func() (*service.Manager, error) {
		return service.New(service.Options{Executable: exe})
	}
	cmd.AddCommand(
		serviceInstallCmd(manager),
		serviceActionCmd(manager, "uninstall", "Stop and disable the service and remove its unit",
			`Stop and disable the service and remove the unit file that "service install"
wrote. The edge-agent user and groups, /etc/edge-agent and the identity and
cache in /var/lib/edge-agent are kept, so a later install picks them up again.`,
			(*service.Manager).Uninstall, "uninstalled"),
		serviceActionCmd(manager, "start", "Start the service now",
			`Start the service now (systemctl start edge-agent). It reports ready to
systemd once it serves credentials; units ordered After=edge-agent.service
wait for that.`,
			(*service.Manager).Start, "started"),
		serviceActionCmd(manager, "stop", "Stop the service",
			`Stop the service (systemctl stop edge-agent). Clients get no credentials
until it runs again; credentials they already hold stay valid until they expire.`,
			(*service.Manager).Stop, "stopped"),
		serviceStatusCmd(manager),
	)
	return cmd
}

func serviceInstallCmd(manager func() (*service.Manager, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "install",
		Short: "Write, enable and prepare the systemd unit (does not start it)",
		Long: `Create the edge-agent system user and group and the edge-agent-clients
group when missing, create /etc/edge-agent (root:edge-agent, 0750), write
/etc/systemd/system/edge-agent.service (the packaged unit with ExecStart set to
this binary, or --executable), enable it and reload systemd.

It does not start the service: write /etc/edge-agent/config.yaml and run
"edge-agent bootstrap" first, then "edge-agent service start". The binary must
not live under /home, /root or /tmp, which the hardened unit hides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := manager()
			if err != nil {
				return err
			}
			if err := m.Install(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"installed %s.service (ExecStart=%s run); start it with: edge-agent service start\n",
				service.Name, m.Executable())
			return err
		},
	}
}

func serviceActionCmd(manager func() (*service.Manager, error), use, short, long string,
	action func(*service.Manager) error, done string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := manager()
			if err != nil {
				return err
			}
			if err := action(m); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s.service\n", done, service.Name)
			return err
		},
	}
}

func serviceStatusCmd(manager func() (*service.Manager, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print whether the service is running (exit 0 running, 3 stopped, 4 not installed)",
		Long: `Print "running" or "stopped" as systemd sees the unit. Exit status 0 when
running, 3 when stopped, 4 when not installed, 1 on other errors (the codes of
systemctl is-active and LSB). For the agent's own view of its credentials use
"edge-agent status".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := manager()
			if err != nil {
				return err
			}
			st, err := m.Status()
			if errors.Is(err, service.ErrNotInstalled) {
				return &exitError{code: 4, err: err}
			}
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), st); err != nil {
				return err
			}
			if st != service.StateRunning {
				return &exitError{code: 3, err: fmt.Errorf("%s.service is %s", service.Name, st)}
			}
			return nil
		},
	}
}
