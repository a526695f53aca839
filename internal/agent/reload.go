package agent

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// Reload applies a new configuration and re-reads the identity without
// dropping clients: a new credentials endpoint, thing or role alias takes
// effect at once, since the cached credentials then belong to another
// identity. (A new certificate needs no reload: it is picked up at the next
// refresh.) Listener settings (socket, tcp, imds) need a restart; Reload says
// so in the log and keeps the listeners it has. On error nothing changes, and
// the error shows in the status as reload_error until a reload succeeds.
func (a *Agent) Reload(cfg config.Config) error {
	return a.ReloadFrom(func() (config.Config, error) { return cfg, nil })
}

// ReloadFrom is Reload with the configuration read by load, so that a file
// that no longer parses is reported like any other refused reload.
func (a *Agent) ReloadFrom(load func() (config.Config, error)) error {
	_ = a.notifier.Reloading()
	defer func() { _ = a.notifier.Ready() }()

	cfg, err := load()
	if err != nil {
		err = fmt.Errorf("reload: %w", err)
	} else {
		err = a.reload(cfg)
	}

	a.mu.Lock()
	a.reloadErr = err
	a.mu.Unlock()
	if err != nil {
		a.log.Error("reload refused; keeping the running configuration", zap.Error(err))
	}
	return err
}

func (a *Agent) reload(cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	fetcher := newIdentityFetcher(cfg, a.clock.Now, a.log)
	if _, err := fetcher.current(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}

	a.mu.Lock()
	old := a.cfg
	a.cfg, a.fetcher = cfg, fetcher
	a.mu.Unlock()

	a.cache.SetFetcher(fetcher, identityInfo(cfg, fetcher))
	if listenersChanged(old, cfg) {
		a.log.Warn("socket, tcp and imds settings take effect at the next restart")
	}
	a.log.Info("configuration reloaded",
		zap.String("thing_name", cfg.ThingName),
		zap.String("role_alias", cfg.RoleAlias),
		zap.String("credential_endpoint", cfg.CredentialEndpoint))
	return nil
}

func listenersChanged(a, b config.Config) bool {
	return a.Socket.Path != b.Socket.Path || a.Socket.Group != b.Socket.Group ||
		!slices.Equal(a.Socket.AllowedUIDs, b.Socket.AllowedUIDs) ||
		!slices.Equal(a.Socket.AllowedGIDs, b.Socket.AllowedGIDs) ||
		a.TCP.Port != b.TCP.Port || a.TCP.TokenFile != b.TCP.TokenFile ||
		!slices.Equal(a.TCP.Addresses, b.TCP.Addresses) || a.IMDS.Port != b.IMDS.Port
}

// Healthy reports whether the refresh loop is alive: it has gone round
// recently (it wakes at least every credprovider.MaxIdle, and an upstream
// call is bounded by the cache's fetch timeout), and the cache's state still
// answers within a few seconds, which a lock held by a wedged call would
// prevent. The systemd watchdog pings only while it is true, so a wedged loop
// gets the agent restarted.
func (a *Agent) Healthy() bool {
	last := a.cache.LastPass()
	if last.IsZero() || a.clock.Now().Sub(last) > staleLoop {
		return false
	}

	done := make(chan struct{})
	go func() {
		a.cache.Status()
		close(done)
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// staleLoop is how long since the refresh loop's last pass the agent counts
// as wedged: one idle wait, one upstream call at its timeout, and a margin.
const staleLoop = credprovider.MaxIdle + credprovider.DefaultFetchTimeout + time.Minute
