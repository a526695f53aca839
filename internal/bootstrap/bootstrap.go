// Package bootstrap installs a device identity from its authorization
// files: it fetches the certificate, private key and root CA (and an
// optional edge-agent.yaml) from S3, presigned HTTPS URLs or a local
// folder, checks all of them, and only then installs the identity into the
// certstore and the agent configuration.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
)

// VerifyFunc checks a new identity against the credentials provider before
// it is installed, for example with one credentials call.
type VerifyFunc func(ctx context.Context, id *certstore.Identity, cfg config.Config) error

// Settings are agent configuration values given on the command line. Empty
// strings leave the value of edge-agent.yaml (or the current config) alone.
type Settings struct {
	ThingName          string
	RoleAlias          string
	CredentialEndpoint string
	// Region defaults to the region named in CredentialEndpoint.
	Region string
	// AllowCustomEndpoint, when true, sets allow_custom_endpoint.
	AllowCustomEndpoint bool
}

func (s Settings) empty() bool { return s == Settings{} }

// Options configure [Run].
type Options struct {
	// Source provides the files. Required.
	Source Source
	// IdentityDir is where the identity is installed; empty means the
	// default identity_dir.
	IdentityDir string
	// ConfigPath is where the agent configuration is written; empty means
	// config.DefaultPath.
	ConfigPath string
	// Settings override values of the fetched edge-agent.yaml.
	Settings Settings
	// Force replaces an installed identity that is still valid.
	Force bool
	// Verify, when set, is called with the new identity and configuration
	// before anything is installed; its error aborts the install.
	Verify VerifyFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
	// MaxObjectSize caps each fetched file; 0 means [MaxObjectSize].
	MaxObjectSize int64
}

// Result says what [Run] did.
type Result struct {
	// AlreadyInstalled is true when a valid identity was kept.
	AlreadyInstalled bool
	// Identity is the installed (or kept) identity.
	Identity *certstore.Identity
	// IdentityDir is where it lives.
	IdentityDir string
	// ConfigPath is the configuration file written, or "" when none was.
	ConfigPath string
	// Verified is true when the Verify hook passed.
	Verified bool
	// Source describes where the files came from.
	Source string
}

// String is a one-line summary for the command's output.
func (r Result) String() string {
	id := fmt.Sprintf("%s (certificate %s, valid until %s)", r.IdentityDir,
		r.Identity.Fingerprint[:16], r.Identity.NotAfter.UTC().Format(time.RFC3339))
	s := "installed identity into " + id + " from " + r.Source
	if r.AlreadyInstalled {
		s = "identity already installed and valid in " + id + "; use --force to replace it"
	}
	if r.ConfigPath != "" {
		s += "; wrote config " + r.ConfigPath
	}
	if r.Verified {
		s += "; verified with the credentials provider"
	}
	return s
}

// Run fetches, checks and installs an identity. Nothing is installed unless
// the certificate, key, CA and configuration all pass their checks (and
// Verify, when set). A valid installed identity is kept unless Force.
// The identity is installed before the configuration is written, so a
// failure to write the configuration leaves the new identity with the old
// configuration; running bootstrap again with --force repairs it.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts = withDefaults(opts)
	log := opts.Logger.Named("bootstrap")
	now := opts.Now()
	res := Result{IdentityDir: opts.IdentityDir, Source: opts.Source.String()}

	if !opts.Force {
		if id, ok := installed(opts.IdentityDir, now, log); ok {
			return keep(ctx, opts, res, id)
		}
	}

	files, cfgYAML, err := fetch(ctx, opts, log)
	if err != nil {
		return res, err
	}
	id, err := certstore.Parse(files, now)
	if err != nil {
		return res, fmt.Errorf("check files from %s: %w", res.Source, err)
	}
	cfg, writeCfg, err := buildConfig(opts, cfgYAML)
	if err != nil {
		return res, err
	}
	if err := verify(ctx, opts, id, cfg); err != nil {
		return res, err
	}
	res.Verified = opts.Verify != nil

	return install(opts, res, files, id, cfg, writeCfg, log)
}

func withDefaults(o Options) Options {
	if o.IdentityDir == "" {
		o.IdentityDir = config.Default().IdentityDir
	}
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = MaxObjectSize
	}
	return o
}

// installed returns the identity in dir when it loads and is valid.
func installed(dir string, now time.Time, log *zap.Logger) (*certstore.Identity, bool) {
	id, err := certstore.Load(dir, now)
	switch {
	case err == nil:
		return id, true
	case errors.Is(err, fs.ErrNotExist):
		log.Debug("no identity installed yet", zap.String("identity_dir", dir))
	default:
		log.Info("installed identity is not usable; replacing it", zap.String("identity_dir", dir), zap.Error(err))
	}
	return nil, false
}

// keep reports an identity that is already installed, verifying it when
// asked.
func keep(ctx context.Context, opts Options, res Result, id *certstore.Identity) (Result, error) {
	res.AlreadyInstalled, res.Identity = true, id
	opts.Logger.Named("bootstrap").Info("identity already installed and valid",
		zap.String("identity_dir", opts.IdentityDir), zap.String("fingerprint", id.Fingerprint),
		zap.Time("not_after", id.NotAfter))
	if opts.Verify == nil {
		return res, nil
	}
	cfg, _, err := buildConfig(opts, nil)
	if err != nil {
		return res, err
	}
	if err := verify(ctx, opts, id, cfg); err != nil {
		return res, err
	}
	res.Verified = true
	return res, nil
}

// fetch reads the three identity files and the optional configuration.
func fetch(ctx context.Context, opts Options, log *zap.Logger) (certstore.Files, []byte, error) {
	var f certstore.Files
	dst := []struct {
		name string
		data *[]byte
	}{{certstore.CertFile, &f.Cert}, {certstore.KeyFile, &f.Key}, {certstore.CAFile, &f.CA}}
	for _, d := range dst {
		data, err := opts.Source.Fetch(ctx, d.name, opts.MaxObjectSize)
		if err != nil {
			return f, nil, fmt.Errorf("fetch %s: %w", d.name, err)
		}
		*d.data = data
	}

	cfgYAML, err := opts.Source.Fetch(ctx, ConfigFile, opts.MaxObjectSize)
	switch {
	case err == nil:
		log.Info("found agent configuration beside the identity", zap.String("source", opts.Source.String()))
	case errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessDenied):
		log.Debug("no agent configuration beside the identity", zap.Error(err))
		cfgYAML = nil
	default:
		return f, nil, fmt.Errorf("fetch %s: %w", ConfigFile, err)
	}
	return f, cfgYAML, nil
}

func verify(ctx context.Context, opts Options, id *certstore.Identity, cfg config.Config) error {
	if opts.Verify == nil {
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("verify needs a complete configuration: %w", err)
	}
	if err := opts.Verify(ctx, id, cfg); err != nil {
		return fmt.Errorf("verify identity (nothing installed): %w", err)
	}
	return nil
}

func install(opts Options, res Result, f certstore.Files, id *certstore.Identity, cfg config.Config, writeCfg bool, log *zap.Logger) (Result, error) {
	if err := certstore.Install(opts.IdentityDir, f, opts.Now()); err != nil {
		return res, err
	}
	res.Identity = id
	log.Info("installed identity", zap.String("identity_dir", opts.IdentityDir),
		zap.String("fingerprint", id.Fingerprint), zap.Time("not_after", id.NotAfter),
		zap.String("source", res.Source))

	if !writeCfg {
		return res, nil
	}
	if err := config.WriteFile(opts.ConfigPath, cfg); err != nil {
		return res, fmt.Errorf("identity installed, but %w", err)
	}
	res.ConfigPath = opts.ConfigPath
	log.Info("wrote agent configuration", zap.String("config_path", opts.ConfigPath))
	return res, nil
}
