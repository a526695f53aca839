package credserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// The kernel's tables of TCP sockets, as seen from the agent's own network
// namespace. They are read through /proc/self rather than /proc/net because
// systemd's ProcSubset=pid (set in the packaged unit) hides /proc/net but
// keeps /proc/self/net.
const (
	procNetTCP  = "/proc/self/net/tcp"
	procNetTCP6 = "/proc/self/net/tcp6"
)

// tcpTimeWait is the st column of a socket in TIME_WAIT. The kernel prints
// uid 0 for those, so they must never count as the client's socket.
const tcpTimeWait = 0x06

// errPeerNotFound means no socket in the tables has the client's end of the
// connection.
var errPeerNotFound = errors.New("no socket with this address in the kernel's tcp tables")

// tcpPeerKey is the context key of a TCP connection's *tcpPeer.
type tcpPeerKey struct{}

// tcpPeer is the client end of one loopback TCP connection. Its owner is
// looked up once, by the first request on the connection: in the
// connection's own goroutine rather than in http.Server's accept loop, so
// that a slow read of a large table delays nobody else.
type tcpPeer struct {
	client, server netip.AddrPort
	err            error // the addresses could not be read

	once sync.Once
	p    peer
	done atomic.Bool // p is set
}

// tcpPeerConnContext records the connection's addresses in its context, for
// [Server.tcpPeerOf].
func tcpPeerConnContext(ctx context.Context, c net.Conn) context.Context {
	tp := &tcpPeer{}
	client, okC := c.RemoteAddr().(*net.TCPAddr)
	server, okS := c.LocalAddr().(*net.TCPAddr)
	if okC && okS {
		tp.client, tp.server = client.AddrPort(), server.AddrPort()
	} else {
		tp.err = fmt.Errorf("find tcp peer: %T is not a tcp connection", c)
	}
	return context.WithValue(ctx, tcpPeerKey{}, tp)
}

// tcpPeerOf returns the owner of the connection r came on, looking it up on
// the connection's first request.
func (s *Server) tcpPeerOf(r *http.Request) peer {
	tp, ok := r.Context().Value(tcpPeerKey{}).(*tcpPeer)
	if !ok {
		return peer{err: errors.New("find tcp peer: the connection was not recorded")}
	}

	tp.once.Do(func() {
		tp.p = peer{err: tp.err}
		if tp.err == nil {
			tp.p = s.lookupTCPPeer(tp.client, tp.server)
		}
		tp.done.Store(true)
	})
	return tp.p
}

// resolved reports whether the owner has been found, for log lines.
func (tp *tcpPeer) resolved() bool {
	return tp.done.Load() && tp.p.err == nil
}

// lookupTCPPeer finds the uid that owns the client's socket and, when the
// uid alone does not decide, that uid's primary gid. The pid is unknown (-1),
// and so is the gid when it is not needed or has no passwd entry.
func (s *Server) lookupTCPPeer(client, server netip.AddrPort) peer {
	uid, err := peerUID(s.procNet, client, server)
	if err != nil {
		return peer{err: err}
	}

	p := peer{uid: uid, gid: -1, pid: -1}
	if len(s.gids) > 0 && !s.allowed(p) {
		p.gid = primaryGID(uid)
	}
	return p
}

// primaryGID returns the primary gid of uid from the user database, or -1.
func primaryGID(uid int) int {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return -1
	}
	return gid
}

// peerUID returns the uid owning the socket whose local end is client and
// whose remote end is server: the process that connected to us. It reads
// files[0] (tcp) for an IPv4 client, then files[1] (tcp6), where a client
// that used an IPv6 socket appears with IPv4-mapped addresses.
//
// A live connection's address pair is unique in a network namespace, and
// the accepted end we hold keeps it from being reused, so the first socket
// that matches (TIME_WAIT aside) is the client's.
func peerUID(files [2]string, client, server netip.AddrPort) (int, error) {
	client = unmapAddrPort(client)
	server = unmapAddrPort(server)
	if !client.IsValid() || !server.IsValid() {
		return 0, fmt.Errorf("find tcp peer: invalid address %s -> %s", client, server)
	}

	paths := files[1:]
	if client.Addr().Is4() {
		paths = files[:]
	}
	for _, path := range paths {
		uid, err := scanProcNet(path, client, server)
		if !errors.Is(err, errPeerNotFound) {
			return uid, err
		}
	}
	return 0, fmt.Errorf("find tcp peer %s -> %s: %w", client, server, errPeerNotFound)
}

// scanProcNet looks for the socket local=client, remote=server in one table.
func scanProcNet(path string, client, server netip.AddrPort) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("find tcp peer: %w", err)
	}
	defer f.Close()

	uid, err := findInProcNet(bufio.NewReaderSize(f, 32<<10), client, server)
	if err != nil && !errors.Is(err, errPeerNotFound) {
		return 0, fmt.Errorf("find tcp peer: read %s: %w", path, err)
	}
	return uid, err
}

// findInProcNet scans the lines of a /proc/net/tcp{,6} table. The header
// line and lines that do not parse are skipped.
func findInProcNet(r *bufio.Reader, client, server netip.AddrPort) (int, error) {
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			e, perr := parseProcNetLine(line)
			if perr == nil && e.state != tcpTimeWait &&
				unmapAddrPort(e.local) == client && unmapAddrPort(e.remote) == server {
				return e.uid, nil
			}
		}

		if err == io.EOF {
			return 0, errPeerNotFound
		}
		if err != nil {
			return 0, err // a line over the buffer's 32 KiB included
		}
	}
}

// procNetLine is what the peer lookup needs of one line of /proc/net/tcp or
// /proc/net/tcp6.
type procNetLine struct {
	local, remote netip.AddrPort
	state         uint8
	uid           int
}

// parseProcNetLine parses a line such as
//
//	0: 0100007F:1F90 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000  1000 0 12345 ...
//
// Fields: sl, local_address, rem_address, st, tx_queue:rx_queue,
// tr:tm->when, retrnsmt, uid, and more that are not needed.
func parseProcNetLine(line []byte) (procNetLine, error) {
	var f [8][]byte
	if n := splitFields(line, f[:]); n < len(f) {
		return procNetLine{}, fmt.Errorf("parse tcp table line: %d fields, want at least %d", n, len(f))
	}

	var e procNetLine
	var err error
	if e.local, err = parseProcAddr(f[1]); err != nil {
		return procNetLine{}, fmt.Errorf("parse local_address: %w", err)
	}
	if e.remote, err = parseProcAddr(f[2]); err != nil {
		return procNetLine{}, fmt.Errorf("parse rem_address: %w", err)
	}
	st, ok := parseHex(f[3])
	if !ok || len(f[3]) != 2 {
		return procNetLine{}, fmt.Errorf("parse st %q: want 2 hex digits", f[3])
	}
	uid, ok := parseDec(f[7])
	if !ok {
		return procNetLine{}, fmt.Errorf("parse uid %q: want a decimal number", f[7])
	}
	e.state, e.uid = uint8(st), int(uid)
	return e, nil
}

// splitFields fills out with the space-separated fields of line and returns
// how many it found, at most len(out). It does not allocate.
func splitFields(line []byte, out [][]byte) int {
	n := 0
	for i := 0; i < len(line) && n < len(out); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		start := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		if i > start {
			out[n] = line[start:i]
			n++
		}
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// parseProcAddr parses "ADDR:PORT" as the kernel prints it: the port in
// hex, the address as 1 (IPv4) or 4 (IPv6) 32-bit words, each printed with
// %08X from its in-memory value, so that the bytes of each word come out in
// the machine's byte order (reversed on little-endian machines).
func parseProcAddr(s []byte) (netip.AddrPort, error) {
	if len(s) != 8+1+4 && len(s) != 32+1+4 {
		return netip.AddrPort{}, fmt.Errorf("%q: want 8 or 32 hex digits, a colon and 4", s)
	}
	hexAddr, hexPort := s[:len(s)-5], s[len(s)-4:]
	if s[len(s)-5] != ':' {
		return netip.AddrPort{}, fmt.Errorf("%q: want a colon before the port", s)
	}

	port, ok := parseHex(hexPort)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q: port is not hex", s)
	}
	var b [16]byte
	for w := 0; w < len(hexAddr)/8; w++ {
		v, ok := parseHex(hexAddr[w*8 : w*8+8])
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("%q: address is not hex", s)
		}
		binary.NativeEndian.PutUint32(b[w*4:], uint32(v))
	}

	if len(hexAddr) == 8 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(port)), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(port)), nil
}

// parseHex parses up to 8 hex digits.
func parseHex(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// parseDec parses up to 10 decimal digits (a uid is 32 bits).
func parseDec(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v <= 1<<32-1
}

// unmapAddrPort turns an IPv4-mapped IPv6 address into plain IPv4 and drops
// any zone, so that both forms compare equal.
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// tcpPeerCheck refuses requests whose connection's owner is not in the
// allow-list, or cannot be found, with 403. door names the listener in the
// message ("IMDS", "TCP").
func (s *Server) tcpPeerCheck(log *zap.Logger, door string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.tcpPeerOf(r)
		if s.allowed(p) {
			next.ServeHTTP(w, r)
			return
		}

		if p.err != nil {
			log.Warn("cannot find the process behind a tcp connection", zap.Error(p.err))
			s.refuse(log, w, r, http.StatusForbidden, CodeForbidden,
				"the agent cannot find which user owns this connection in /proc/self/net/tcp "+
					"(a client in another network namespace, such as a container with its own network, is not seen): "+
					"connect from the agent's network namespace, or use credential_process over socket.path")
			return
		}
		group := "its primary group"
		if p.gid >= 0 {
			group += fmt.Sprintf(" (gid %d)", p.gid)
		}
		s.refuse(log, w, r, http.StatusForbidden, CodeForbidden, fmt.Sprintf(
			"uid %d is not allowed on the %s door: add it to socket.allowed_uids or %s to socket.allowed_gids",
			p.uid, door, group))
	})
}
