package credserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestListenUnix(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{"fresh, parent missing", func(*testing.T, string) {}, ""},
		{"stale socket replaced", makeStaleSocket, ""},
		{"live socket refused", makeLiveSocket, "another edge-agent is serving on"},
		{"regular file refused", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is a regular file, not a socket: remove it or choose another socket.path"},
		{"folder refused", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a folder, not a socket: remove it or choose another socket.path"},
		{"named pipe refused", func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is a named pipe, not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run", "edge-agent", "agent.sock")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil && tt.name != "fresh, parent missing" {
				t.Fatal(err)
			}
			if tt.name == "fresh, parent missing" {
				os.RemoveAll(filepath.Dir(path))
			}
			tt.prepare(t, path)

			ln, err := ListenUnix(path, "")

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ListenUnix() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ListenUnix() = %v", err)
			}
			defer ln.Close()
			checkMode(t, path, fs.ModeSocket|SocketMode)
			checkMode(t, filepath.Dir(path), fs.ModeDir|0o755)
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

// makeStaleSocket leaves a socket file that nothing listens on, as a crash
// would.
func makeStaleSocket(t *testing.T, path string) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func makeLiveSocket(t *testing.T, path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func TestListenUnixGroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown to another group needs root")
	}
	tests := []struct {
		name, group string
		wantGID     int
		wantErr     bool
	}{
		{"numeric", "4321", 4321, false},
		{"by name", "root", 0, false},
		{"unknown name", "no-such-group-edge-agent", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.sock")

			ln, err := ListenUnix(path, tt.group)

			if tt.wantErr {
				if err == nil {
					ln.Close()
					t.Fatalf("ListenUnix(%q) = nil, want an error", tt.group)
				}
				if _, serr := os.Lstat(path); serr == nil {
					t.Errorf("socket left behind after a failed ListenUnix")
				}
				return
			}
			if err != nil {
				t.Fatalf("ListenUnix() = %v", err)
			}
			defer ln.Close()
			fi, _ := os.Stat(path)
			if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != tt.wantGID {
				t.Errorf("socket gid = %d, want %d", got, tt.wantGID)
			}
		})
	}
}

// TestPeerOtherUID connects from a thread running as another uid and gid,
// so the kernel reports a real non-root peer.
func TestPeerOtherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching a thread's uid needs root")
	}
	const uid, gid = 65534, 65533

	tests := []struct {
		name       string
		uids, gids []int
		wantStatus int
	}{
		{"uid listed", []int{uid}, nil, 200},
		{"gid listed", []int{0}, []int{gid}, 200},
		{"neither listed", []int{0}, []int{0}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{AllowedUIDs: tt.uids, AllowedGIDs: tt.gids})
			path := h.startUnix(t)
			openPath(t, path)

			conn := dialAs(t, path, uid, gid)
			got := doOnConn(t, conn, "/v1/credentials")

			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.wantStatus, got.body)
			}
			if tt.wantStatus == 403 && !strings.Contains(got.apiErr.Message, "uid "+strconv.Itoa(uid)) {
				t.Errorf("message = %q, want it to name uid %d", got.apiErr.Message, uid)
			}
		})
	}
}

// openPath makes the socket and its folders reachable by any uid, for
// TestPeerOtherUID only.
func openPath(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(path); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// dialAs connects to path from a locked OS thread whose uid and gid are
// changed with raw syscalls (which, unlike syscall.Setuid, touch only that
// thread), with no supplementary groups. The thread is never unlocked, so the
// runtime discards it.
func dialAs(t *testing.T, path string, uid, gid int) net.Conn {
	t.Helper()
	return dialAsGroups(t, path, uid, gid, nil)
}

// dialAsGroups is dialAs with the supplementary groups set to groups, with
// a raw setgroups that, unlike syscall.Setgroups, touches only the thread.
func dialAsGroups(t *testing.T, path string, uid, gid int, groups []uint32) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var list uintptr
		if len(groups) > 0 {
			list = uintptr(unsafe.Pointer(&groups[0]))
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), list, 0); e != 0 {
			ch <- result{err: e}
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
			ch <- result{err: e}
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			ch <- result{err: e}
			return
		}
		c, err := net.Dial("unix", path)
		ch <- result{c, err}
	}()

	r := <-ch
	if r.err != nil {
		t.Fatalf("dial %s as uid %d: %v", path, uid, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// TestPeerSupplementaryGroups connects as a non-root uid whose only link to
// the allow-list is a supplementary group, as a systemd unit with
// SupplementaryGroups= has (packaging/systemd/examples/consumer.service).
func TestPeerSupplementaryGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching a thread's uid and groups needs root")
	}
	const uid, gid = 65534, 65533
	const listed, clients, other = 4243, 4244, 4245

	tests := []struct {
		name       string
		sockGroup  string // socket.group
		gids       []int  // socket.allowed_gids
		mode       os.FileMode
		groups     []uint32
		wantStatus int
	}{
		{"supplementary gid listed", "", []int{listed}, 0o666, []uint32{other, listed}, 200},
		{"member of the socket group", strconv.Itoa(clients), nil, SocketMode, []uint32{clients}, 200},
		{"socket group also listed", strconv.Itoa(clients), []int{clients}, SocketMode, []uint32{clients}, 200},
		{"supplementary gid not listed", "", []int{listed}, 0o666, []uint32{other}, 403},
		// Membership comes from the kernel's peer credentials, not from
		// having been able to connect.
		{"socket opened to all, not a member", strconv.Itoa(clients), []int{listed}, 0o666, nil, 403},
		{"gid of the socket without socket.group", "", nil, 0o666, []uint32{uint32(os.Getgid())}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{AllowedUIDs: []int{0}, AllowedGIDs: tt.gids})
			path := filepath.Join(t.TempDir(), "run", "agent.sock")
			ln, err := ListenUnix(path, tt.sockGroup)
			if err != nil {
				t.Fatalf("ListenUnix() = %v", err)
			}
			h.serve(t, h.srv.ServeUnix, ln)
			openPath(t, path)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}

			conn := dialAsGroups(t, path, uid, gid, tt.groups)
			got := doOnConn(t, conn, "/v1/credentials")

			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.wantStatus, got.body)
			}
			if tt.wantStatus == 403 && !strings.Contains(got.apiErr.Message, "uid "+strconv.Itoa(uid)) {
				t.Errorf("message = %q, want it to name uid %d", got.apiErr.Message, uid)
			}
		})
	}
}

func TestProcGroups(t *testing.T) {
	root := t.TempDir()
	status := func(uid, gid int, groups string) string {
		return fmt.Sprintf("Name:\tconsumer\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nGroups:\t%s\nVmRSS:\t1 kB\n",
			uid, uid, uid, uid, gid, gid, gid, gid, groups)
	}
	write := func(pid int, text string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(10, status(1000, 1000, "4 24 4244 "))
	write(11, status(1000, 1000, ""))
	write(12, status(1001, 1000, "4244"))
	write(13, status(1000, 1000, "x"))

	tests := []struct {
		name    string
		p       peer
		want    []int
		wantErr string
	}{
		{"groups", peer{uid: 1000, gid: 1000, pid: 10}, []int{4, 24, 4244}, ""},
		{"none", peer{uid: 1000, gid: 1000, pid: 11}, []int{}, ""},
		{"pid reused by another uid", peer{uid: 1000, gid: 1000, pid: 12}, nil, "no longer has uid 1000"},
		{"other gid", peer{uid: 1000, gid: 1001, pid: 10}, nil, "no longer has uid 1000 and gid 1001"},
		{"bad line", peer{uid: 1000, gid: 1000, pid: 13}, nil, `bad group "x"`},
		{"gone", peer{uid: 1000, gid: 1000, pid: 14}, nil, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := procGroups(root, tt.p)

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("procGroups() = %v, %v, want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("procGroups() = %v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

func TestAllowedBySupplementaryGroup(t *testing.T) {
	h := newHarness(t, Options{AllowedGIDs: []int{4243}})
	h.srv.ownUID = 1000

	tests := []struct {
		name string
		p    peer
		want bool
	}{
		{"listed supplementary gid", peer{uid: 1001, gid: 1001, groups: []int{7, 4243}}, true},
		{"unlisted groups", peer{uid: 1001, gid: 1001, groups: []int{7}}, false},
		{"socket group member", peer{uid: 1001, gid: 1001, inSocketGroup: true}, true},
		{"unreadable peer", peer{uid: 1001, groups: []int{4243}, err: errTest}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.srv.allowed(tt.p); got != tt.want {
				t.Errorf("allowed(%+v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestListenLoopback(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		addrs   []string
		port    int
		wantN   int // listeners, when no error
		wantErr string
	}{
		{"one address", []string{"127.0.0.1"}, 0, 1, ""},
		{"defaults share one port", nil, 0, -1, ""},
		{"not loopback", []string{"0.0.0.0"}, 0, 0, "not a loopback IP address"},
		{"a name", []string{"localhost"}, 0, 0, "not a loopback IP address"},
		{"port held by another program", []string{"127.0.0.1"}, busyPort, 0, fmt.Sprintf(
			"address already in use: another program holds port %d (find it with: ss -ltnp 'sport = :%d'); stop it or choose another port (tcp.port", busyPort, busyPort)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lns, err := ListenLoopback(tt.addrs, tt.port, nil)

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					closeAll(lns)
					t.Fatalf("ListenLoopback() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ListenLoopback() = %v", err)
			}
			defer closeAll(lns)
			if tt.wantN > 0 && len(lns) != tt.wantN {
				t.Errorf("got %d listeners, want %d", len(lns), tt.wantN)
			}
			port := lns[0].Addr().(*net.TCPAddr).Port
			for _, ln := range lns {
				a := ln.Addr().(*net.TCPAddr)
				if !a.IP.IsLoopback() || a.Port != port {
					t.Errorf("listener on %v, want loopback port %d", a, port)
				}
			}
		})
	}
}

func TestListenLoopbackInUseIsErrno(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	lns, err := ListenLoopback([]string{"127.0.0.1"}, busy.Addr().(*net.TCPAddr).Port, nil)

	if !errors.Is(err, syscall.EADDRINUSE) {
		closeAll(lns)
		t.Fatalf("got %v, want errors.Is EADDRINUSE", err)
	}
}

func TestChownGroupUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}

	err := ChownGroup(path, "no-such-group-edge-agent")

	want := "no such group: create it (groupadd --system no-such-group-edge-agent) or change socket.group"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
}

func TestIsUnavailableAddr(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}, true},
		{&net.OpError{Op: "listen", Err: os.NewSyscallError("socket", syscall.EAFNOSUPPORT)}, true},
		{&net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}, false},
		{errors.New("other"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := isUnavailableAddr(tt.err); got != tt.want {
			t.Errorf("isUnavailableAddr(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
