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
	"os"
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
	// Force replaces an installed identity that is still valid. Without
	// it, a valid identity is kept and Settings still update the
	// configuration file.
	Force bool
	// Owner, when set, is given the identity and the configuration file's
	// group (see [Owner]), also when a valid identity is kept. Nil leaves
	// files to whoever runs Run.
	Owner *Owner
	// Verify, when set, is called with the new identity and configuration
	// before anything is installed; its error aborts the install.
	Verify VerifyFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
	// MaxObjectSize caps each fetched file; 0 means [MaxObjectSize].
	MaxObjectSize int64
	// Timeout bounds the whole of Run (fetch, verify and install); 0
	// means no bound beyond ctx and the sources' own timeouts.
	Timeout time.Duration
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
	// MissingConfig is the configuration path when none was written and
	// there is none: edge-agent run cannot start until one is.
	MissingConfig string
	// Verified is true when the Verify hook passed.
	Verified bool
	// Owner is the USER:GROUP the files were given to, or "".
	Owner string
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
	if r.Owner != "" {
		s += "; owner " + r.Owner
	}
	if r.ConfigPath != "" && r.AlreadyInstalled {
		s += "; updated config " + r.ConfigPath + " with the given settings"
	} else if r.ConfigPath != "" {
		s += "; wrote config " + r.ConfigPath
	}
	if r.Verified {
		s += "; verified with the credentials provider"
	}
	switch {
	case r.MissingConfig != "" && r.AlreadyInstalled:
		s += "; no config at " + r.MissingConfig + " and no --thing/--role-alias/--endpoint given: edge-agent run needs one"
	case r.MissingConfig != "":
		s += "; no " + ConfigFile + " found and no --thing/--role-alias/--endpoint given: config not written; edge-agent run needs one at " + r.MissingConfig
	}
	return s
}

// Run fetches, checks and installs an identity. Nothing is installed unless
// the certificate, key, CA and configuration all pass their checks (and
// Verify, when set). A valid installed identity is kept unless Force;
// Settings then still update the configuration file, without fetching
// anything. With an Owner, the identity and the configuration file's group
// are given to it, whether installed or kept.
// The identity is installed before the configuration is written, so a
// failure to write the configuration leaves the new identity with the old
// configuration; running bootstrap again with --force repairs it.
// Timeout, when set, bounds all of it; the error then says so.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Timeout <= 0 {
		return run(ctx, opts)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res, err := run(ctx, opts)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("gave up after %s (--timeout): %w", opts.Timeout, err)
	}
	return res, err
}

func run(ctx context.Context, opts Options) (Result, error) {
	opts = withDefaults(opts)
	res, err := fetchAndInstall(ctx, opts)
	if err == nil && res.ConfigPath == "" && !exists(opts.ConfigPath) {
		res.MissingConfig = opts.ConfigPath
	}
	return res, err
}

// exists reports whether path names something, so that a config that
// cannot be read for another reason is not called missing.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func fetchAndInstall(ctx context.Context, opts Options) (Result, error) {
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

// keep keeps an identity that is already installed: it verifies it when
// asked, applies Settings to the current configuration file (nothing is
// fetched) and gives both to Owner.
func keep(ctx context.Context, opts Options, res Result, id *certstore.Identity) (Result, error) {
	log := opts.Logger.Named("bootstrap")
	res.AlreadyInstalled, res.Identity = true, id
	log.Info("identity already installed and valid",
		zap.String("identity_dir", opts.IdentityDir), zap.String("fingerprint", id.Fingerprint),
		zap.Time("not_after", id.NotAfter))

	var cfg config.Config
	writeCfg := false
	if opts.Verify != nil || !opts.Settings.empty() {
		var err error
		if cfg, writeCfg, err = buildConfig(opts, nil); err != nil {
			return res, err
		}
		if err := verify(ctx, opts, id, cfg); err != nil {
			return res, err
		}
		res.Verified = opts.Verify != nil
	}

	if opts.Owner != nil {
		if err := certstore.Chown(opts.IdentityDir, opts.Owner.certstore()); err != nil {
			return res, err
		}
		res.Owner = opts.Owner.Name
	}
	res, err := configure(opts, res, cfg, writeCfg, log)
	if err != nil {
		return res, fmt.Errorf("identity kept, but %w", err)
	}
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
	if err := installIdentity(opts, f); err != nil {
		return res, err
	}
	res.Identity = id
	if opts.Owner != nil {
		res.Owner = opts.Owner.Name
	}
	log.Info("installed identity", zap.String("identity_dir", opts.IdentityDir),
		zap.String("fingerprint", id.Fingerprint), zap.Time("not_after", id.NotAfter),
		zap.String("source", res.Source), zap.String("owner", res.Owner))

	res, err := configure(opts, res, cfg, writeCfg, log)
	if err != nil {
		return res, fmt.Errorf("identity installed, but %w", err)
	}
	return res, nil
}

func installIdentity(opts Options, f certstore.Files) error {
	if opts.Owner == nil {
		return certstore.Install(opts.IdentityDir, f, opts.Now())
	}
	return certstore.InstallAs(opts.IdentityDir, f, opts.Now(), opts.Owner.certstore())
}

// configure writes cfg when write is set, with the group of Owner.
// Otherwise, with an Owner, it gives an existing configuration file to
// that group, so that a file written by an older bootstrap as root:root
// becomes readable by the service.
func configure(opts Options, res Result, cfg config.Config, write bool, log *zap.Logger) (Result, error) {
	gid := -1
	if opts.Owner != nil {
		gid = opts.Owner.GID
	}
	if !write {
		return res, chgrpConfig(opts.ConfigPath, gid)
	}

	if err := config.WriteFileOwner(opts.ConfigPath, cfg, -1, gid); err != nil {
		return res, err
	}
	res.ConfigPath = opts.ConfigPath
	log.Info("wrote agent configuration", zap.String("config_path", opts.ConfigPath))
	return res, nil
}

// chgrpConfig gives the configuration file at path, if any, to gid; -1
// changes nothing.
func chgrpConfig(path string, gid int) error {
	if gid == -1 {
		return nil
	}
	err := os.Chown(path, -1, gid)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("give config %s to group %d: %w", path, gid, err)
	}
	return nil
}
