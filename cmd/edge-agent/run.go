package main

import (
	"context"

	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/agent"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/service"
)

func newRunCmd() *cobra.Command {
	var opts config.LoadOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: fetch, refresh and serve AWS credentials",
		Long: `Run the edge-agent daemon, normally as the systemd service edge-agent.service.

It presents the device certificate to the AWS IoT credentials provider over
mutual TLS, keeps the temporary credentials fresh (refreshing at about half of
their lifetime), and serves them on the unix socket and, when tcp.port is set,
on loopback for AWS_CONTAINER_CREDENTIALS_FULL_URI.

Settings come from the config file, then EDGE_AGENT_* variables, then flags.
SIGHUP reloads the config and the identity; SIGTERM or SIGINT stop cleanly.`,
		Example: `  edge-agent run
  edge-agent run --config /etc/edge-agent/config.yaml --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), opts)
		},
	}
	opts.BindFlags(cmd.Flags())
	return cmd
}

// runDaemon loads the config, starts the agent and serves until a stop
// signal, reloading on SIGHUP.
func runDaemon(ctx context.Context, opts config.LoadOptions) error {
	cfg, err := config.Load(opts)
	if err != nil {
		return err
	}
	log, level, err := newLogger(cfg.Log.Level)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Notifier: systemdNotifier{}})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go reloadOnHUP(ctx, a, opts, level, log)
	go func() {
		if err := service.Watchdog(ctx, a.Healthy); err != nil && ctx.Err() == nil {
			log.Error("systemd watchdog stopped", zap.Error(err))
		}
	}()
	// The AWS SDK packages linked in for `admin` allocate several MiB
	// while they initialise; the daemon never uses them, so hand that memory
	// back to the kernel once instead of carrying it in RSS.
	debug.FreeOSMemory()
	return a.Run(ctx)
}

// reloadOnHUP re-reads the configuration on each SIGHUP until ctx is done.
// A bad configuration is logged and the running one kept.
func reloadOnHUP(ctx context.Context, a *agent.Agent, opts config.LoadOptions,
	level zap.AtomicLevel, log *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		var cfg config.Config
		err := a.ReloadFrom(func() (config.Config, error) {
			var err error
			cfg, err = config.Load(opts)
			return cfg, err
		})
		if err != nil {
			continue
		}
		if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
			log.Warn("log.level not applied", zap.Error(err))
		}
	}
}

// systemdNotifier sends lifecycle events to systemd; it does nothing when
// the agent does not run under systemd.
type systemdNotifier struct{}

func (systemdNotifier) Ready() error          { return service.Ready() }
func (systemdNotifier) Status(m string) error { return service.Status(m) }
func (systemdNotifier) Reloading() error      { return service.Reloading() }
func (systemdNotifier) Stopping() error       { return service.Stopping() }
