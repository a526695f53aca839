package bootstrap

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/edge-agent/edge-agent/internal/config"
)

// buildConfig returns the agent configuration to install and whether to
// write it: the fetched edge-agent.yaml (else the current file at
// ConfigPath, else the defaults) with Settings and IdentityDir applied. It
// is written when edge-agent.yaml was found or Settings set something.
func buildConfig(opts Options, fetched []byte) (config.Config, bool, error) {
	write := fetched != nil || !opts.Settings.empty()

	cfg, err := baseConfig(opts, fetched)
	if err != nil {
		return cfg, false, err
	}
	cfg = applySettings(cfg, opts.Settings)
	if write {
		cfg.IdentityDir = opts.IdentityDir
	}

	if err := cfg.ValidatePartial(); err != nil {
		return cfg, false, fmt.Errorf("check agent configuration: %w", err)
	}
	return cfg, write, nil
}

func baseConfig(opts Options, fetched []byte) (config.Config, error) {
	if fetched != nil {
		return config.Parse(fetched, ConfigFile+" from "+opts.Source.String())
	}
	cfg, err := config.ParseFile(opts.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return cfg, err
}

func applySettings(cfg config.Config, s Settings) config.Config {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.ThingName, s.ThingName)
	set(&cfg.RoleAlias, s.RoleAlias)
	set(&cfg.CredentialEndpoint, s.CredentialEndpoint)
	if s.CredentialEndpoint != "" && s.Region == "" {
		set(&cfg.Region, config.RegionFromEndpoint(s.CredentialEndpoint))
	}
	set(&cfg.Region, s.Region)
	if s.AllowCustomEndpoint {
		cfg.AllowCustomEndpoint = true
	}
	return cfg
}
