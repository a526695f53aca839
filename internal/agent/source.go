package agent

import (
	"context"

	"github.com/edge-agent/edge-agent/internal/credprovider"
	"github.com/edge-agent/edge-agent/internal/credserver"
)

// source adapts the agent's credentials cache to what the local server
// reads.
type source struct{ a *Agent }

// Get returns the cache's credentials. When it has none, its error carries
// the reason the local server answers its 503 with.
func (s source) Get(ctx context.Context) (credserver.Credentials, error) {
	return s.a.cache.Get(ctx)
}

// Status returns the cache's status, which holds no secret, with the
// certificate in use and the last refused reload.
func (s source) Status() any { return s.a.Status() }

// Status is the body of GET /v1/status: the cache's status, plus the error
// of the last reload when it was refused (the agent then runs on its previous
// configuration, which the next restart would not).
type Status struct {
	credprovider.Status
	ReloadError *credprovider.LastError `json:"reload_error,omitempty"`
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	st := Status{Status: a.cache.Status()}

	a.mu.Lock()
	fetcher, reloadErr := a.fetcher, a.reloadErr
	a.mu.Unlock()

	st.CertificateNotAfter = fetcher.NotAfter()
	if reloadErr != nil {
		st.ReloadError = &credprovider.LastError{
			Class:   credprovider.ClassConfiguration,
			Message: reloadErr.Error() + " (the agent runs on its previous configuration)",
		}
	}
	return st
}
