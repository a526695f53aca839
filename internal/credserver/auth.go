package credserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

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

	// groups are the peer's supplementary groups, read only when uid and
	// primary gid did not already allow it; nil when unread or unreadable.
	groups []int

	// inSocketGroup is true when the peer's primary or a supplementary gid
	// is the group [ListenUnix] gave the socket.
	inSocketGroup bool
}

// unixConnContext returns the ConnContext of a unix listener whose socket
// belongs to sockGID (-1: no socket group). It reads SO_PEERCRED, and the
// peer's groups only when uid and primary gid do not already allow it.
func (s *Server) unixConnContext(sockGID int) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		p := readPeer(c)
		if p.err != nil {
			return context.WithValue(ctx, peerKey{}, p)
		}

		p.inSocketGroup = sockGID >= 0 && p.gid == sockGID
		if !s.allowed(p) {
			p.groups = s.peerGroups(c, p)
			p.inSocketGroup = sockGID >= 0 && slices.Contains(p.groups, sockGID)
		}
		return context.WithValue(ctx, peerKey{}, p)
	}
}

// readPeer reads SO_PEERCRED from a unix connection.
func readPeer(c net.Conn) peer {
	var cred *unix.Ucred
	err := control(c, func(fd int) (err error) {
		cred, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return err
	})
	if err != nil {
		return peer{err: fmt.Errorf("read peer credentials: %w", err)}
	}
	return peer{uid: int(cred.Uid), gid: int(cred.Gid), pid: int(cred.Pid)}
}

// control runs f on the file descriptor of c, a unix connection.
func control(c net.Conn, f func(fd int) error) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%T is not a unix connection", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}

	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// peerGroups returns the supplementary groups of p, the peer on c: those
// the kernel recorded at connect (SO_PEERGROUPS, Linux 4.13), else, on
// older kernels, those of /proc/<pid>/status when that process still has
// the uid and gid of SO_PEERCRED. It returns nil when neither can be read,
// so that only the primary gid counts.
func (s *Server) peerGroups(c net.Conn, p peer) []int {
	groups, err := readPeerGroups(c)
	if err == nil {
		return groups
	}
	if !errors.Is(err, unix.ENOPROTOOPT) {
		s.log.Debug("cannot read peer groups", zap.Int("pid", p.pid), zap.Error(err))
		return nil
	}

	groups, err = procGroups(s.procRoot, p)
	if err != nil {
		s.log.Debug("cannot read peer groups; only the primary gid counts",
			zap.Int("pid", p.pid), zap.Error(err))
		return nil
	}
	return groups
}

// readPeerGroups reads SO_PEERGROUPS from a unix connection.
func readPeerGroups(c net.Conn) ([]int, error) {
	var raw []uint32
	err := control(c, func(fd int) error {
		buf := make([]uint32, 64)
		for {
			n := uint32(len(buf) * 4)
			_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
				uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
			if e == unix.ERANGE && int(n/4) > len(buf) {
				buf = make([]uint32, n/4)
				continue
			}
			if e != 0 {
				return e
			}
			raw = buf[:n/4]
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read peer groups: %w", err)
	}

	groups := make([]int, len(raw))
	for i, g := range raw {
		groups[i] = int(g)
	}
	return groups, nil
}

// procGroups reads the Groups line of <procRoot>/<pid>/status, after
// checking that the process has p's effective uid and gid, as a guard
// against a pid reused since the connect.
func procGroups(procRoot string, p peer) ([]int, error) {
	path := filepath.Join(procRoot, strconv.Itoa(p.pid), "status")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read peer groups: %w", err)
	}

	fields := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			fields[k] = strings.Fields(v)
		}
	}
	if !sameID(fields["Uid"], p.uid) || !sameID(fields["Gid"], p.gid) {
		return nil, fmt.Errorf("read peer groups from %s: the process no longer has uid %d and gid %d", path, p.uid, p.gid)
	}

	groups := make([]int, 0, len(fields["Groups"]))
	for _, f := range fields["Groups"] {
		g, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("read peer groups from %s: bad group %q", path, f)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// sameID reports whether the effective id (the second of real, effective,
// saved, filesystem) in a status line is id.
func sameID(f []string, id int) bool {
	return len(f) >= 2 && f[1] == strconv.Itoa(id)
}

// allowed reports whether the peer may use the local API.
func (s *Server) allowed(p peer) bool {
	switch {
	case p.err != nil:
		return false
	case s.uids[p.uid], s.gids[p.gid], p.inSocketGroup:
		return true
	case p.uid == s.ownUID && p.uid != 0:
		return true
	}
	for _, g := range p.groups {
		if s.gids[g] {
			return true
		}
	}
	return false
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
			"uid %d (gid %d, groups %v) is not allowed: add it to socket.allowed_uids, one of its groups to socket.allowed_gids, or it to socket.group",
			p.uid, p.gid, p.groups))
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
