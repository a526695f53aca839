package credserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// peerKey is the context key of the unix peer's credentials.
type peerKey struct{}

// peer is what the kernel says about the process at the other end of a unix
// socket connection, read once when the connection is accepted.
type peer struct {
	uid, gid, pid int
	err           error
}

// peerConnContext records the connection's SO_PEERCRED in its context.
func peerConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, readPeer(c))
}

// readPeer reads SO_PEERCRED from a unix connection.
func readPeer(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{err: fmt.Errorf("read peer credentials: %T is not a unix connection", c)}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{err: fmt.Errorf("read peer credentials: %w", err)}
	}

	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return peer{err: fmt.Errorf("read peer credentials: %w", err)}
	}
	return peer{uid: int(cred.Uid), gid: int(cred.Gid), pid: int(cred.Pid)}
}

// allowed reports whether the peer may use the local API.
func (s *Server) allowed(p peer) bool {
	switch {
	case p.err != nil:
		return false
	case s.uids[p.uid], s.gids[p.gid]:
		return true
	default:
		return p.uid == s.ownUID && p.uid != 0
	}
}

// peerCheck refuses unix peers outside the allow-list with 403.
func (s *Server) peerCheck(log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(peer)
		if s.allowed(p) {
			next.ServeHTTP(w, r)
			return
		}

		if p.err != nil {
			log.Warn("cannot read peer credentials", zap.Error(p.err))
			s.refuse(log, w, r, http.StatusForbidden, CodeForbidden,
				"the agent cannot read this connection's peer credentials")
			return
		}
		s.refuse(log, w, r, http.StatusForbidden, CodeForbidden, fmt.Sprintf(
			"uid %d (gid %d) is not allowed: add it to socket.allowed_uids or its group to socket.allowed_gids",
			p.uid, p.gid))
	})
}

// tokenCheck refuses TCP requests without exactly the token with 401. The
// comparison hashes both sides first so that it takes the same time whatever
// the length of the guess.
func (s *Server) tokenCheck(log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("Authorization")
		if len(vals) == 1 {
			got := sha256.Sum256([]byte(vals[0]))
			if subtle.ConstantTimeCompare(got[:], s.tokenSum[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}

		msg := "missing Authorization header: send the token from tcp.token_file"
		if len(vals) > 0 {
			msg = "wrong Authorization header: send exactly the token from tcp.token_file"
		}
		s.refuse(log, w, r, http.StatusUnauthorized, CodeUnauthorized, msg)
	})
}
