package agent

import (
	"context"
	"errors"
	"time"

	"github.com/edge-agent/edge-agent/internal/credprovider"
	"github.com/edge-agent/edge-agent/internal/credserver"
)

// source adapts the credentials cache to what the local server reads.
type source struct{ cache *credprovider.Cache }

// Get returns the cache's credentials, passing its reason on when it has
// none, so that the 503 a client sees says why.
func (s source) Get(ctx context.Context) (credserver.Credentials, error) {
	c, err := s.cache.Get(ctx)
	if err != nil {
		var ue *credprovider.UnavailableError
		if errors.As(err, &ue) {
			return credserver.Credentials{}, credserver.NewUnavailableError(ue.Error(), err)
		}
		return credserver.Credentials{}, err
	}
	return credserver.Credentials(c), nil
}

// Status returns the cache's status, which holds no secret.
func (s source) Status() any { return s.cache.Status() }

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
