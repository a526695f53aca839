// Package credserver serves the agent's temporary AWS credentials to local
// processes: HTTP/1.1 over a unix socket gated by the kernel's peer
// credentials, over loopback TCP gated by a token, and, when enabled, through
// an IMDSv2-compatible door for clients that only read instance metadata,
// gated by the uid that owns the client's socket (from the kernel's TCP
// table) and the same allow-list as the unix socket.
//
// # Who may use the unix socket
//
// A unix peer is allowed when its uid is in AllowedUIDs, when its primary
// gid or one of its supplementary gids is in AllowedGIDs or is the socket's
// group (socket.group, given to [ListenUnix]), or when it runs as the agent's
// own non-root uid. The ids are the kernel's record of the process that
// called connect(2): SO_PEERCRED for uid and primary gid, SO_PEERGROUPS
// (Linux 4.13) for the supplementary groups, read once per connection and
// only when uid and primary gid did not already allow the peer.
//
// Why not the other ways to learn the supplementary groups:
//
//   - /proc/<pid>/status of the SO_PEERCRED pid is invisible to the agent
//     under its unit's ProtectProc=invisible (other users' processes are
//     hidden; ptraceable hides them as well, since the agent may not ptrace
//     them), and a pid can be reused between connect and the read. It is the
//     fallback on kernels without SO_PEERGROUPS, where ProtectProc has no
//     effect either (it needs Linux 5.8), and only after checking that the
//     process still has the peer's uid and gid. When it cannot be read, only
//     the primary gid counts.
//   - "It could connect to a 0660 socket of group G, so it is in G" does not
//     hold: root and holders of CAP_DAC_OVERRIDE connect anyway, the socket
//     has the umask's mode between bind and chmod, and an administrator may
//     loosen its mode. Group membership is therefore always checked against
//     the kernel's credentials, never inferred from the file's mode.
//
// Members of socket.group are allowed because that is what the group is for
// (CONTRACT.md: it "may connect to the socket"), and because allowed_gids
// holds numbers while the packaged group edge-agent-clients gets a different
// gid on every device. A connected socket handed to another process
// (SCM_RIGHTS) keeps the credentials of the process that connected, as with
// any SO_PEERCRED check.
//
// The server reads credentials through the small [Source] interface, which
// *credprovider.Cache's Get satisfies (its UnavailableError carries the reason
// a 503 shows), so that tests can use a fake. It shares the cache's
// [Credentials] type and wire formats rather than keeping copies.
package credserver

import (
	"context"
	"errors"

	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// Credentials are the temporary AWS credentials the server hands out: the
// cache's own type, whose default renderings redact the secrets and whose
// ContainerJSON and ProcessJSON write the two wire formats.
type Credentials = credprovider.Credentials

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
