package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// identityFetcher is the cache's Fetcher. Before each call it reads the
// identity folder again, so that a certificate that was not valid yet (a
// device that booted with its clock behind), an identity installed after the
// agent started, or one that bootstrap replaced, is picked up without a
// restart. While the folder holds nothing usable, each call fails with the
// reason, the cache backs off, and clients get a 503 that says why.
type identityFetcher struct {
	cfg config.Config
	now func() time.Time
	log *zap.Logger

	mu          sync.Mutex
	client      *credprovider.Client
	fingerprint string
	notAfter    time.Time
}

func newIdentityFetcher(cfg config.Config, now func() time.Time, log *zap.Logger) *identityFetcher {
	return &identityFetcher{cfg: cfg, now: now, log: log}
}

// Fetch makes one credentials call with the current identity.
func (f *identityFetcher) Fetch(ctx context.Context) (credprovider.Result, error) {
	client, err := f.current()
	if err != nil {
		return credprovider.Result{}, err
	}
	return client.Fetch(ctx)
}

// NotAfter returns the expiry of the identity in use, or zero before one has
// loaded.
func (f *identityFetcher) NotAfter() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notAfter
}

// current loads the identity and returns a client for it, reusing the
// client (and its kept-alive connection) while the certificate is the same.
// When the folder cannot be read but a client exists, that client is kept.
func (f *identityFetcher) current() (*credprovider.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	id, err := certstore.Load(f.cfg.IdentityDir, f.now())
	if err != nil {
		err = identityError(f.cfg.IdentityDir, err)
		if f.client == nil {
			return nil, err
		}
		f.log.Warn("identity folder unreadable; keeping the identity already loaded", zap.Error(err))
		return f.client, nil
	}
	if f.client != nil && id.Fingerprint == f.fingerprint {
		return f.client, nil
	}

	client, err := credprovider.NewClient(credprovider.ClientOptions{
		Endpoint:    f.cfg.CredentialEndpoint,
		RoleAlias:   f.cfg.RoleAlias,
		ThingName:   f.cfg.ThingName,
		Certificate: id.TLS,
		Roots:       id.Roots,
		UserAgent:   "edge-agent",
	})
	if err != nil {
		return nil, fmt.Errorf("credentials provider client: %w", err)
	}
	if f.client != nil {
		f.client.CloseIdleConnections()
	}
	f.client, f.fingerprint, f.notAfter = client, id.Fingerprint, id.NotAfter
	f.log.Info("identity loaded",
		zap.String("identity_dir", f.cfg.IdentityDir),
		zap.String("certificate_id", id.Fingerprint),
		zap.Time("certificate_not_after", id.NotAfter))
	return client, nil
}

// identityError adds what to do to a failure to load the identity.
func identityError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no device identity in %s: install one with edge-agent bootstrap: %w", dir, err)
	case errors.Is(err, certstore.ErrNotYetValid):
		return fmt.Errorf("device identity: %w (waiting for the clock to be set; check time sync)", err)
	default:
		return fmt.Errorf("device identity: %w", err)
	}
}
