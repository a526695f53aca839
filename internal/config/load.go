package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"
)

// LoadOptions says where [Load] finds the file and which values override it.
type LoadOptions struct {
	// Path is the configuration file. Empty means EDGE_AGENT_CONFIG, then
	// [DefaultPath]. A file named here or in EDGE_AGENT_CONFIG must exist;
	// a missing file at DefaultPath leaves the defaults.
	Path string
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment as KEY=VALUE strings, so that [Load]
	// can refuse EDGE_AGENT_* variables that set no key. Nil means
	// os.Environ when LookupEnv is nil too; with only LookupEnv set, no
	// variable is refused.
	Environ func() []string
	// Overrides maps dotted keys (see [Keys]) to values. They are applied
	// after the environment and before flags bound with BindFlags.
	Overrides map[string]string

	flags    *pflag.FlagSet
	flagKeys map[string]string
}

// flagKeys maps the flags that BindFlags adds to the keys they set.
var flagKeys = []struct{ flag, key, usage string }{
	{"thing", "thing_name", "IoT thing name (thing_name)"},
	{"role-alias", "role_alias", "IoT role alias (role_alias)"},
	{"endpoint", "credential_endpoint", "IoT credentials endpoint host (credential_endpoint)"},
	{"region", "region", "AWS region of the credentials endpoint (region)"},
	{"identity-dir", "identity_dir", "folder with the device certificate, key and root CA (identity_dir)"},
	{"cache-file", "cache_file", "file that keeps the last good credentials (cache_file)"},
	{"socket", "socket.path", "unix socket of the local API (socket.path)"},
	{"tcp-port", "tcp.port", "loopback TCP port, 0 for none (tcp.port)"},
	{"imds-port", "imds.port", "instance-metadata style port, 0 for none (imds.port)"},
	{"log-level", "log.level", "debug, info, warn or error (log.level)"},
}

// BindFlags adds --config and one flag per common key (--thing,
// --role-alias, --endpoint, --region, --allow-custom-endpoint,
// --identity-dir, --cache-file, --socket, --tcp-port, --imds-port,
// --log-level) to fs. [Load] applies only the flags the user set.
func (o *LoadOptions) BindFlags(fs *pflag.FlagSet) {
	o.flags = fs
	o.flagKeys = map[string]string{"allow-custom-endpoint": "allow_custom_endpoint"}
	fs.StringVar(&o.Path, "config", o.Path, "configuration file (default "+DefaultPath+", or $"+PathEnv+")")
	fs.Bool("allow-custom-endpoint", false, "accept any host[:port] as the credentials endpoint (allow_custom_endpoint)")
	for _, f := range flagKeys {
		fs.String(f.flag, "", f.usage)
		o.flagKeys[f.flag] = f.key
	}
}

// Load resolves the configuration once: [Default], then the YAML file, then
// EDGE_AGENT_<KEY> variables, then Overrides, then bound flags. It does not
// check the values; call [Config.Validate] or [Config.ValidatePartial].
func Load(opts LoadOptions) (Config, error) {
	lookup, environ := opts.LookupEnv, opts.Environ
	if lookup == nil {
		lookup = os.LookupEnv
		if environ == nil {
			environ = os.Environ
		}
	}
	if environ != nil {
		if err := checkEnvNames(environ()); err != nil {
			return Config{}, err
		}
	}

	cfg, err := loadFile(opts.Path, lookup)
	if err != nil {
		return Config{}, err
	}
	if cfg, err = applyEnv(cfg, lookup); err != nil {
		return Config{}, err
	}
	for name, v := range opts.Overrides {
		if cfg, err = Set(cfg, name, v); err != nil {
			return Config{}, err
		}
	}
	return opts.applyFlags(cfg)
}

// defaultPath is [DefaultPath]; tests point it elsewhere.
var defaultPath = DefaultPath

// loadFile reads the file named by path, EDGE_AGENT_CONFIG or DefaultPath.
// A missing file at DefaultPath gives the defaults, marked so that
// [Config.Validate] can say the file is missing rather than only which keys
// are.
func loadFile(path string, lookup func(string) (string, bool)) (Config, error) {
	required := true
	if path == "" {
		path, _ = lookup(PathEnv)
	}
	if path == "" {
		path, required = defaultPath, false
	}

	cfg, err := ParseFile(path)
	if !required && errors.Is(err, fs.ErrNotExist) {
		cfg = Default()
		cfg.missingFile = path
		return cfg, nil
	}
	return cfg, err
}

// applyEnv sets every key that has an EDGE_AGENT_<KEY> variable.
func applyEnv(cfg Config, lookup func(string) (string, bool)) (Config, error) {
	for _, k := range keys {
		v, ok := lookup(EnvName(k.name))
		if !ok {
			continue
		}
		var err error
		if cfg, err = Set(cfg, k.name, v); err != nil {
			return Config{}, fmt.Errorf("environment %s: %w", EnvName(k.name), err)
		}
	}
	return cfg, nil
}

// applyFlags sets the keys of the bound flags the user changed.
func (o *LoadOptions) applyFlags(cfg Config) (Config, error) {
	if o.flags == nil {
		return cfg, nil
	}
	var err error
	for flag, key := range o.flagKeys {
		f := o.flags.Lookup(flag)
		if f == nil || !f.Changed {
			continue
		}
		if cfg, err = Set(cfg, key, f.Value.String()); err != nil {
			return Config{}, fmt.Errorf("flag --%s: %w", flag, err)
		}
	}
	return cfg, nil
}
