// Package credserver serves the agent's temporary AWS credentials to local
// processes: HTTP/1.1 over a unix socket gated by the kernel's peer
// credentials, over loopback TCP gated by a token, and, when enabled, through
// an IMDSv2-compatible door for clients that only read instance metadata,
// gated by the uid that owns the client's socket (from the kernel's TCP
// table) and the same allow-list as the unix socket.
//
// The package depends on no credential cache. It reads credentials through
// the small [Source] interface, so that the cache (internal/credprovider) can
// be plugged in with a short adapter and tests can use a fake. (credprovider
// did not exist when this package was written.) The adapter:
//
//	type cacheSource struct{ c *credprovider.Cache }
//
//	func (s cacheSource) Get(ctx context.Context) (credserver.Credentials, error) {
//		c, err := s.c.Get(ctx)
//		var ue *credprovider.UnavailableError
//		if errors.As(err, &ue) {
//			return credserver.Credentials{}, credserver.NewUnavailableError(ue.Reason, err)
//		}
//		return credserver.Credentials(c), err
//	}
//
//	func (s cacheSource) Status() any { return s.c.Status() }
//
// The conversion credserver.Credentials(c) compiles while both structs have
// the same fields in the same order.
package credserver

import (
	"context"
	"errors"
	"time"
)

// Credentials is a set of temporary AWS credentials as the server hands them
// out. It mirrors credprovider.Credentials field for field.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// String returns the key ID and expiry only, so that a stray %v never prints
// a secret.
func (c Credentials) String() string {
	return "credentials{access_key_id=" + c.AccessKeyID +
		" expiration=" + c.Expiration.UTC().Format(time.RFC3339) + " secret=REDACTED}"
}

// GoString redacts secrets for %#v as well.
func (c Credentials) GoString() string { return c.String() }

// Valid reports whether c has both keys and expires after now. The server
// checks it on every response, whatever the [Source] promised.
func (c Credentials) Valid(now time.Time) bool {
	return c.AccessKeyID != "" && c.SecretAccessKey != "" && c.Expiration.After(now)
}

// Source is what the server needs from the credentials cache.
//
// Get returns the current credentials. It must not call upstream while cached
// credentials are fresh. When it has none to give, its error should carry a
// human reason through [Unavailable] (for example by wrapping it with
// [NewUnavailableError]); other errors are answered with a generic message
// and logged.
//
// Status returns the value served as JSON at GET /v1/status. It is marshalled
// as is, so it must never hold a secret.
type Source interface {
	Get(ctx context.Context) (Credentials, error)
	Status() any
}

// Unavailable is implemented by errors that explain, safely for a client to
// read, why no credentials can be served ("never fetched", "expired during an
// outage", a configuration error with what to fix).
type Unavailable interface {
	Unavailable() string
}

// UnavailableError is a ready-made [Unavailable] error.
type UnavailableError struct {
	Reason string
	Err    error
}

// NewUnavailableError returns an [UnavailableError] with the given public
// reason that wraps err (which may be nil).
func NewUnavailableError(reason string, err error) *UnavailableError {
	return &UnavailableError{Reason: reason, Err: err}
}

// Error returns the reason.
func (e *UnavailableError) Error() string { return e.Reason }

// Unavailable returns the reason.
func (e *UnavailableError) Unavailable() string { return e.Reason }

// Unwrap returns the underlying cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// unavailableReason returns the client-safe reason carried by err, or a
// generic one.
func unavailableReason(err error) string {
	var u Unavailable
	if errors.As(err, &u) && u.Unavailable() != "" {
		return u.Unavailable()
	}
	return "no valid credentials are held; see edge-agent status and the agent's log"
}
