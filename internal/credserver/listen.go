package credserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// SocketMode is the mode of the unix socket file.
const SocketMode = 0o660

// DefaultLoopbackAddrs are the addresses the TCP listener binds when none are
// configured, so that "localhost" works whichever way it resolves.
var DefaultLoopbackAddrs = []string{"127.0.0.1", "::1"}

// ListenUnix listens on a unix socket at path, mode [SocketMode], owned by
// group when group (a name or a numeric gid) is not empty. [Server.ServeUnix]
// on the listener returned then allows the members of group.
//
// The parent folder is created 0755 when missing. A socket file left by a
// crash (nothing accepts on it) is replaced; a socket something still serves
// on is refused, and so is any other kind of file at path.
//
// Between bind and chmod the socket briefly has the mode the umask gives it;
// the peer check in [Server.ServeUnix] still applies to any such connection.
func ListenUnix(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket folder: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}

	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}

	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod socket %s: %w", path, err)
	}
	if group == "" {
		return ln, nil
	}
	gid, err := lookupGID(path, group)
	if err == nil {
		err = chownGID(path, group, gid)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &groupListener{Listener: ln, gid: gid}, nil
}

// groupListener is a unix listener whose socket file belongs to gid.
type groupListener struct {
	net.Listener
	gid int
}

// removeStaleSocket removes a socket at path that nothing serves on, and
// refuses a live socket or a file of another kind.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket path: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket path %s is %s, not a socket: remove it or choose another socket.path",
			path, describeType(fi.Mode()))
	}

	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another edge-agent is serving on %s: stop it first (systemctl stop edge-agent)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check whether %s is live: %w", path, err)
	}

	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// describeType names the kind of file m belongs to, with an article.
func describeType(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a folder"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// ChownGroup gives path to group, a group name or a numeric gid. An empty
// group leaves path as it is.
func ChownGroup(path, group string) error {
	if group == "" {
		return nil
	}

	gid, err := lookupGID(path, group)
	if err != nil {
		return err
	}
	return chownGID(path, group, gid)
}

// lookupGID resolves group, a name or a numeric gid, for path.
func lookupGID(path, group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil {
		return gid, nil
	}

	g, err := user.LookupGroup(group)
	var unknown user.UnknownGroupError
	if errors.As(err, &unknown) {
		return 0, fmt.Errorf("give %s to group %s: no such group: create it (groupadd --system %s) or change socket.group",
			path, group, group)
	}
	if err != nil {
		return 0, fmt.Errorf("look up group %q for %s: %w", group, path, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("look up group %q for %s: gid %q is not a number", group, path, g.Gid)
	}
	return gid, nil
}

// chownGID gives path to gid, the group named group.
func chownGID(path, group string, gid int) error {
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("chown %s to group %s: %w", path, group, err)
	}
	return nil
}

// ListenLoopback listens on port at each of addrs (default
// [DefaultLoopbackAddrs]), which must be loopback IP addresses. With port 0
// the first address picks a free port and the others reuse it.
//
// An address that this machine does not have (for example ::1 with IPv6
// disabled) is skipped with a warning on log, which may be nil; any other
// failure, such as the port held by another program, closes what was opened
// and fails, so that clients never send the token to a stranger. It fails as
// well when no address binds.
func ListenLoopback(addrs []string, port int, log *zap.Logger) ([]net.Listener, error) {
	if len(addrs) == 0 {
		addrs = DefaultLoopbackAddrs
	}
	if log == nil {
		log = zap.NewNop()
	}

	var lns []net.Listener
	for _, a := range addrs {
		ln, err := listenOne(a, port)
		if isUnavailableAddr(err) {
			log.Warn("loopback address not available on this machine; skipping it",
				zap.String("address", a), zap.Error(err))
			continue
		}
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		if port == 0 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
		lns = append(lns, ln)
	}

	if len(lns) == 0 {
		return nil, fmt.Errorf("listen on loopback port %d: none of %v is available", port, addrs)
	}
	return lns, nil
}

func listenOne(addr string, port int) (net.Listener, error) {
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen on %q: not a loopback IP address", addr)
	}

	network := "tcp4"
	if ip.To4() == nil {
		network = "tcp6"
	}
	hostPort := net.JoinHostPort(addr, strconv.Itoa(port))
	ln, err := net.Listen(network, hostPort)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: %w: another program holds port %d (find it with: ss -ltnp 'sport = :%d'); stop it or choose another port (tcp.port, or imds.port for the IMDS door)",
			hostPort, syscall.EADDRINUSE, port, port)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return ln, nil
}

// isUnavailableAddr reports whether err means the address family or address
// does not exist on this machine.
func isUnavailableAddr(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		errors.Is(err, syscall.EPROTONOSUPPORT)
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
