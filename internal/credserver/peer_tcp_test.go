package credserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nobodyUID is the uid tests connect as; the kernel reports it as the owner.
const nobodyUID = 65534

// tcp line tails after the uid: timeout, inode and the rest.
const procTail = "        0 12345 1 0000000000000000 20 4 30 10 -1"

func TestParseProcNetLine(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the lines below are as a little-endian kernel prints them")
	}
	ap := netip.MustParseAddrPort

	tests := []struct {
		name    string
		line    string
		want    procNetLine
		wantErr bool
	}{
		{"ipv4 established",
			"   1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000" + procTail,
			procNetLine{ap("127.0.0.1:41668"), ap("127.0.0.1:8080"), 0x01, 1000}, false},
		{"ipv4 other address, listen",
			"   0: 0A01A8C0:0016 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0" + procTail,
			procNetLine{ap("192.168.1.10:22"), ap("0.0.0.0:0"), 0x0A, 0}, false},
		{"ipv6 loopback",
			"   2: 00000000000000000000000001000000:BC54 00000000000000000000000001000000:AA6B 01 00000000:00000000 00:00000000 00000000 65534" + procTail,
			procNetLine{ap("[::1]:48212"), ap("[::1]:43627"), 0x01, 65534}, false},
		{"ipv6 global",
			"   3: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   998" + procTail,
			procNetLine{ap("[2001:db8::1]:443"), ap("[::]:0"), 0x0A, 998}, false},
		{"ipv4-mapped in tcp6",
			"   4: 0000000000000000FFFF00000100007F:ECFE 0000000000000000FFFF00000100007F:AEAF 01 00000000:00000000 00:00000000 00000000  4294967294" + procTail,
			procNetLine{ap("[::ffff:127.0.0.1]:60670"), ap("[::ffff:127.0.0.1]:44719"), 0x01, 4294967294}, false},
		{"lower-case hex, time wait",
			"5: 0100007f:a2c4 0100007f:1f90 06 00000000:00000000 03:00001770 00000000 0 0 0 3 0000000000000000",
			procNetLine{ap("127.0.0.1:41668"), ap("127.0.0.1:8080"), tcpTimeWait, 0}, false},
		{"header", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", procNetLine{}, true},
		{"short line", "   1: 0100007F:A2C4 0100007F:1F90 01", procNetLine{}, true},
		{"empty", "\n", procNetLine{}, true},
		{"address not hex", "1: 0100007G:A2C4 0100007F:1F90 01 0:0 0:0 0 1000", procNetLine{}, true},
		{"address 7 digits", "1: 100007F:A2C4 0100007F:1F90 01 0:0 0:0 0 1000", procNetLine{}, true},
		{"no colon", "1: 0100007F-A2C4 0100007F:1F90 01 0:0 0:0 0 1000", procNetLine{}, true},
		{"port not hex", "1: 0100007F:A2CZ 0100007F:1F90 01 0:0 0:0 0 1000", procNetLine{}, true},
		{"state one digit", "1: 0100007F:A2C4 0100007F:1F90 1 0:0 0:0 0 1000", procNetLine{}, true},
		{"uid negative", "1: 0100007F:A2C4 0100007F:1F90 01 0:0 0:0 0 -1", procNetLine{}, true},
		{"uid over 32 bits", "1: 0100007F:A2C4 0100007F:1F90 01 0:0 0:0 0 4294967296", procNetLine{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcNetLine([]byte(tt.line))

			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcNetLine() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseProcNetLine() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFindInProcNetSkipsTimeWait(t *testing.T) {
	table := "  sl  local_address rem_address   st ...\n" +
		"   0: 0100007F:A2C4 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n" +
		"   1: 0100007F:A2C4 0100007F:1F91 01 00000000:00000000 00:00000000 00000000     0" + procTail + "\n" +
		"   2: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000" + procTail + "\n"
	client, server := netip.MustParseAddrPort("127.0.0.1:41668"), netip.MustParseAddrPort("127.0.0.1:8080")

	got, err := findInProcNet(bufio.NewReader(strings.NewReader(table)), client, server)

	if err != nil || got != 1000 {
		t.Errorf("findInProcNet() = %d, %v, want 1000 (the live socket, not TIME_WAIT's uid 0)", got, err)
	}
}

// dialFunc opens a client connection to a listener's address.
type dialFunc func(addr netip.AddrPort) (net.Conn, error)

// dialMapped connects with an IPv6 socket to the IPv4-mapped form of an
// IPv4 address, which net.Dial does not do, so that the client's socket is
// listed in tcp6 while the server's is in tcp.
func dialMapped(addr netip.AddrPort) (net.Conn, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "mapped")
	defer f.Close()

	sa := &unix.SockaddrInet6{Port: int(addr.Port()), Addr: netip.AddrFrom16(addr.Addr().As16()).As16()}
	if err := unix.Connect(fd, sa); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}

func dialTCP(addr netip.AddrPort) (net.Conn, error) {
	return net.Dial("tcp", addr.String())
}

// acceptOne listens on addr, connects with dial and returns the server's end.
func acceptOne(t testing.TB, network, addr string, dial dialFunc) net.Conn {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	defer ln.Close()

	c, err := dial(ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatalf("dial %s: %v", ln.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })

	s, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ends returns the client and server addresses of an accepted connection.
func ends(c net.Conn) (client, server netip.AddrPort) {
	return c.RemoteAddr().(*net.TCPAddr).AddrPort(), c.LocalAddr().(*net.TCPAddr).AddrPort()
}

func TestPeerUIDLoopback(t *testing.T) {
	files := [2]string{procNetTCP, procNetTCP6}
	tests := []struct {
		name, network, addr string
		dial                dialFunc
	}{
		{"ipv4", "tcp4", "127.0.0.1:0", dialTCP},
		{"ipv6", "tcp6", "[::1]:0", dialTCP},
		{"ipv4-mapped client", "tcp4", "127.0.0.1:0", dialMapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := ends(acceptOne(t, tt.network, tt.addr, tt.dial))

			got, err := peerUID(files, client, server)

			if err != nil || got != os.Getuid() {
				t.Errorf("peerUID(%s -> %s) = %d, %v, want %d", client, server, got, err, os.Getuid())
			}
		})
	}
}

func TestPeerUIDNotFound(t *testing.T) {
	client, server := ends(acceptOne(t, "tcp4", "127.0.0.1:0", dialTCP))
	empty := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(empty, []byte("  sl  local_address rem_address   st\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		files          [2]string
		client, server netip.AddrPort
		want           string
	}{
		{"empty tables", [2]string{empty, empty}, client, server, "no socket"},
		{"missing table", [2]string{empty + ".missing", empty}, client, server, "no such file"},
		{"no addresses", [2]string{procNetTCP, procNetTCP6}, netip.AddrPort{}, server, "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := peerUID(tt.files, tt.client, tt.server)

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("peerUID() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// asUser runs fn on a locked OS thread whose uid and gid are changed with
// raw syscalls (which, unlike syscall.Setuid, touch only that thread), so
// that sockets fn creates belong to uid. The thread is never unlocked, so
// the runtime discards it. Like dialAs in listen_test.go, for any dial.
func asUser[T any](uid, gid int, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var zero T
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
			ch <- result{zero, fmt.Errorf("setresgid %d: %w", gid, e)}
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			ch <- result{zero, fmt.Errorf("setresuid %d: %w", uid, e)}
			return
		}
		v, err := fn()
		ch <- result{v, err}
	}()

	r := <-ch
	return r.v, r.err
}

// clientAs returns an HTTP client whose every connection is opened as uid
// and gid.
func clientAs(t *testing.T, uid, gid int) *http.Client {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("switching a thread's uid needs root")
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return asUser(uid, gid, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// primaryGIDOf returns uid's primary gid from the user database, or skips.
func primaryGIDOf(t *testing.T, uid int) int {
	t.Helper()
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		t.Skipf("uid %d has no passwd entry: %v", uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return gid
}

// TestIMDSPeerOtherUID connects to the IMDS door as another uid, so that
// the kernel's table names a real non-root owner.
func TestIMDSPeerOtherUID(t *testing.T) {
	const threadGID = 65533 // the thread's gid, not nobody's primary gid
	c := clientAs(t, nobodyUID, threadGID)
	nobodyGID := primaryGIDOf(t, nobodyUID)

	tests := []struct {
		name       string
		uids, gids []int
		wantStatus int
		wantMsg    string
	}{
		{"uid listed", []int{nobodyUID}, nil, 200, ""},
		{"primary gid listed", []int{0}, []int{nobodyGID}, 200, ""},
		{"neither listed", []int{0}, nil, 403, "uid 65534 is not allowed on the IMDS door: add it to socket.allowed_uids"},
		{"only the thread's gid listed", []int{0}, []int{threadGID}, 403,
			fmt.Sprintf("its primary group (gid %d) to socket.allowed_gids", nobodyGID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{AllowedUIDs: tt.uids, AllowedGIDs: tt.gids, RoleName: "fleet-a"})
			base := h.startTCP(t, h.srv.ServeIMDS)

			put := do(t, c, newRequest(t, "PUT", base+imdsTokenPath, nil, map[string]string{imdsTTLHeader: "60"}))
			if put.status != tt.wantStatus {
				t.Fatalf("token PUT = %d %s, want %d", put.status, put.body, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				if put.apiErr.Code != CodeForbidden || !strings.Contains(put.apiErr.Message, tt.wantMsg) {
					t.Errorf("refusal = %+v, want Forbidden containing %q", put.apiErr, tt.wantMsg)
				}
				return
			}

			got := do(t, c, newRequest(t, "GET", base+imdsCredsPath+"fleet-a", nil, map[string]string{imdsTokHeader: put.body}))
			if got.status != 200 || !strings.Contains(got.body, testKeyID) {
				t.Errorf("credentials = %d %s, want 200 with the key", got.status, got.body)
			}
		})
	}
}

// TestIMDSRefusesUnlistedRoot checks that the agent's own uid counts only
// when it is not root: root must be listed, as on the unix socket.
func TestIMDSRefusesUnlistedRoot(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{4242}, RoleName: "fleet-a"})
	h.srv.ownUID = 0 // the test runs as root; say so even when it does not
	base := h.startTCP(t, h.srv.ServeIMDS)

	got := do(t, http.DefaultClient, newRequest(t, "PUT", base+imdsTokenPath, nil, map[string]string{imdsTTLHeader: "60"}))

	want := "uid " + strconv.Itoa(os.Getuid()) + " is not allowed"
	if got.status != 403 || !strings.Contains(got.apiErr.Message, want) {
		t.Errorf("got %d %+v, want 403 containing %q", got.status, got.apiErr, want)
	}
	if logs := h.logs.String(); !strings.Contains(logs, `"uid":`+strconv.Itoa(os.Getuid())) {
		t.Errorf("refusal log lacks the uid:\n%s", logs)
	}
}

func TestIMDSPeerNotFound(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, RoleName: "fleet-a"})
	empty := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.srv.procNet = [2]string{empty, empty}
	base := h.startTCP(t, h.srv.ServeIMDS)

	got := do(t, http.DefaultClient, newRequest(t, "PUT", base+imdsTokenPath, nil, map[string]string{imdsTTLHeader: "60"}))

	if got.status != 403 || got.apiErr.Code != CodeForbidden {
		t.Fatalf("got %d %+v, want 403 Forbidden", got.status, got.apiErr)
	}
	for _, want := range []string{"network namespace", "socket.path"} {
		if !strings.Contains(got.apiErr.Message, want) {
			t.Errorf("message = %q, want it to contain %q", got.apiErr.Message, want)
		}
	}
}

// TestTCPCheckPeers checks the token door's optional owner check, which
// must hold even with the right token.
func TestTCPCheckPeers(t *testing.T) {
	c := clientAs(t, nobodyUID, nobodyUID)
	auth := map[string]string{"Authorization": testToken}

	tests := []struct {
		name       string
		check      bool
		uids       []int
		hdr        map[string]string
		wantStatus int
	}{
		{"off: token is enough", false, []int{0}, auth, 200},
		{"on: unlisted uid with the token", true, []int{0}, auth, 403},
		{"on: listed uid with the token", true, []int{nobodyUID}, auth, 200},
		{"on: listed uid without the token", true, []int{nobodyUID}, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{AllowedUIDs: tt.uids, Token: []byte(testToken), CheckTCPPeers: tt.check})
			base := h.startTCP(t, h.srv.ServeTCP)

			got := do(t, c, newRequest(t, "GET", base+"/v1/credentials", nil, tt.hdr))

			if got.status != tt.wantStatus {
				t.Errorf("status = %d (%s), want %d", got.status, got.body, tt.wantStatus)
			}
			if got.status == 403 && !strings.Contains(got.apiErr.Message, "TCP door") {
				t.Errorf("message = %q, want it to name the TCP door", got.apiErr.Message)
			}
		})
	}
}

// BenchmarkPeerUID measures one lookup of a live connection's owner, with
// the kernel's table holding only the test's sockets and with a thousand
// more connections (two thousand sockets) open.
func BenchmarkPeerUID(b *testing.B) {
	for _, extra := range []int{0, 1000} {
		b.Run(fmt.Sprintf("extra_conns=%d", extra), func(b *testing.B) {
			for range extra {
				acceptOne(b, "tcp4", "127.0.0.1:0", dialTCP)
			}
			client, server := ends(acceptOne(b, "tcp4", "127.0.0.1:0", dialTCP))
			files := [2]string{procNetTCP, procNetTCP6}
			b.ReportAllocs()

			for b.Loop() {
				if _, err := peerUID(files, client, server); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
