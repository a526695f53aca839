package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenNotify points NOTIFY_SOCKET at a fresh unixgram socket and returns it.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	addr := &net.UnixAddr{Name: filepath.Join(t.TempDir(), "notify.sock"), Net: "unixgram"}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr.Name, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", addr.Name)
	return conn
}

// readNotify returns the next datagram, failing the test after a deadline.
func readNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

// unsetEnv unsets key for the test and restores it afterwards.
func unsetEnv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	os.Unsetenv(key)
}

func TestNotifyMessages(t *testing.T) {
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"status", func() error { return Status("serving, expires 12:00") }, "STATUS=serving, expires 12:00"},
		{"status with line breaks", func() error { return Status("a\nREADY=1\r") }, "STATUS=a READY=1 "},
		{"stopping", Stopping, "STOPPING=1"},
		{"reloading", Reloading, "RELOADING=1\nMONOTONIC_USEC="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listenNotify(t)

			if err := tt.send(); err != nil {
				t.Fatalf("send: %v", err)
			}

			got := readNotify(t, conn)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	unsetEnv(t, "NOTIFY_SOCKET")

	for name, send := range map[string]func() error{
		"ready": Ready, "stopping": Stopping, "reloading": Reloading,
		"status": func() error { return Status("x") },
	} {
		t.Run(name, func(t *testing.T) {
			if err := send(); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestNotifyUnreachableSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))

	err := Ready()
	if err == nil || !strings.Contains(err.Error(), "notify systemd READY") {
		t.Errorf("got %v, want an error naming READY", err)
	}
}

func TestWatchdogLoopPingsOnlyWhileHealthy(t *testing.T) {
	health := []bool{false, true, false, true, true}
	calls := 0
	healthy := func() bool { calls++; return health[calls-1] }

	var sent []string
	send := func(s string) error { sent = append(sent, s); return nil }

	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time) // unbuffered: each send waits for the loop
	done := make(chan error, 1)
	go func() { done <- watchdog(ctx, ticks, healthy, send) }()

	for range health {
		ticks <- time.Time{}
	}
	cancel()

	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if got, want := len(sent), 3; got != want {
		t.Errorf("got %d pings, want %d", got, want)
	}
	for _, s := range sent {
		if s != "WATCHDOG=1" {
			t.Errorf("got %q, want WATCHDOG=1", s)
		}
	}
}

func TestWatchdogLoopStopsOnSendError(t *testing.T) {
	ticks := make(chan time.Time, 1)
	ticks <- time.Time{}
	boom := errors.New("boom")

	err := watchdog(context.Background(), ticks, func() bool { return true },
		func(string) error { return boom })

	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}

func TestWatchdogSendsToSocket(t *testing.T) {
	conn := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "2000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watchdog(ctx, func() bool { return true }) }()

	if got, want := readNotify(t, conn), "WATCHDOG=1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestWatchdogDisabled(t *testing.T) {
	tests := []struct {
		name, usec, pid string
	}{
		{"no WATCHDOG_USEC", "", ""},
		{"another process is watched", "2000", strconv.Itoa(os.Getpid() + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listenNotify(t)
			unsetEnv(t, "WATCHDOG_USEC")
			unsetEnv(t, "WATCHDOG_PID")
			if tt.usec != "" {
				t.Setenv("WATCHDOG_USEC", tt.usec)
				t.Setenv("WATCHDOG_PID", tt.pid)
			}

			if err := Watchdog(context.Background(), func() bool { return true }); err != nil {
				t.Errorf("got %v, want nil at once", err)
			}
		})
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "60000000")
	unsetEnv(t, "WATCHDOG_PID")

	got, err := WatchdogInterval()
	if err != nil {
		t.Fatal(err)
	}
	if want := 30 * time.Second; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
