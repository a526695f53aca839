package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// Names of the files edge-sandbox writes into --dir.
const (
	caFile        = "ca.pem"
	endpointsFile = "endpoints.env"
	pidFile       = "edge-sandbox.pid"
	devicesDir    = "devices"
)

// app is one run of edge-sandbox.
type app struct {
	stdout, stderr io.Writer
	// ready, when set, is closed once endpoints.env is written.
	ready chan struct{}
	// sb is the running sandbox, for tests.
	sb *sandbox.Sandbox
}

// run starts the sandbox, writes the client files, and serves until ctx is
// done.
func (a *app) run(ctx context.Context, args []string) error {
	o, err := parseFlags(args, a.stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(o.logLevel, a.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	if err := prepareDir(o.dir); err != nil {
		return err
	}
	defer removeRunFiles(o.dir, log)

	sb, err := startSandbox(ctx, o, log)
	if err != nil {
		return err
	}
	defer sb.Close()
	a.sb = sb

	if err := a.publish(ctx, sb, o); err != nil {
		return err
	}
	log.Info("serving until SIGTERM or SIGINT", zap.Int("pid", os.Getpid()))
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func startSandbox(ctx context.Context, o options, log *zap.Logger) (*sandbox.Sandbox, error) {
	faults, err := o.faults()
	if err != nil {
		return nil, err
	}
	return sandbox.Start(ctx, sandbox.Options{
		Region:             o.region,
		CredentialsAddr:    o.credAddr,
		S3Addr:             o.s3Addr,
		ControlAddr:        o.controlAddr,
		AdminAddr:          o.adminAddr,
		CredentialDuration: o.credDuration,
		Logger:             log,
		Faults:             faults,
		RequireSigV4:       o.requireSigV4,
	})
}

// publish seeds the device, then writes the client files, endpoints.env
// last, and says where.
func (a *app) publish(ctx context.Context, sb *sandbox.Sandbox, o options) error {
	if err := writeFile(filepath.Join(o.dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.dir, caFile), sb.CA, 0o644); err != nil {
		return err
	}

	var dev *seeded
	if o.device != "" {
		d, err := seedDevice(ctx, sb, o)
		if err != nil {
			return err
		}
		dev = &d
	}
	envPath := filepath.Join(o.dir, endpointsFile)
	if err := writeFile(envPath, endpointsEnv(sb, o, dev), 0o644); err != nil {
		return err
	}

	fmt.Fprintf(a.stdout, "edge-sandbox ready: source %s\n", envPath)
	if a.ready != nil {
		close(a.ready)
	}
	return nil
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core).Named("edge-sandbox"), nil
}
