//go:build integration

package clients

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// TestDaemonSignals drives the real binary with the signals systemd sends:
// SIGHUP reloads the configuration without dropping clients, a broken file
// is refused and shown in the status, and SIGTERM stops the daemon cleanly.
func TestDaemonSignals(t *testing.T) {
	w := startWorld(t, worldOptions{})
	first := w.credentials(t).AccessKeyID
	good, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reload", func(t *testing.T) {
		w.hup(t)
		w.waitLog(t, "configuration reloaded", 1)
		if got := w.credentials(t).AccessKeyID; got != first {
			t.Errorf("after reload: served %s, want the cached %s", got, first)
		}
	})

	t.Run("broken file refused", func(t *testing.T) {
		mustWrite(t, w.dir, "config.yaml", append(good, []byte("colour: blue\n")...), 0o640)
		w.hup(t)
		w.waitLog(t, "reload refused", 1)
		status := w.status(t)
		if !strings.Contains(status, `"reload_error"`) || !strings.Contains(status, "colour") {
			t.Errorf("status after a refused reload: %s, want reload_error naming the key", status)
		}
		if got := w.credentials(t).AccessKeyID; got != first {
			t.Errorf("after a refused reload: served %s, want %s", got, first)
		}
	})

	t.Run("fixed file accepted", func(t *testing.T) {
		mustWrite(t, w.dir, "config.yaml", good, 0o640)
		w.hup(t)
		w.waitLog(t, "configuration reloaded", 2)
		if status := w.status(t); strings.Contains(status, `"reload_error"`) {
			t.Errorf("status after a good reload still has reload_error: %s", status)
		}
	})

	t.Run("sigterm", func(t *testing.T) {
		if err := w.agent.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("signal: %v", err)
		}
		select {
		case <-w.stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("edge-agent still running 10s after SIGTERM")
		}
		if w.exitErr != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", w.exitErr)
		}
		if _, err := os.Stat(w.socket); err == nil {
			t.Errorf("socket %s left behind after a clean stop", w.socket)
		}
	})
}

func (w *world) hup(t *testing.T) {
	t.Helper()
	if err := w.agent.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("signal: %v", err)
	}
}

// waitLog waits until msg has appeared n times in the agent's log.
func (w *world) waitLog(t *testing.T, msg string, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "log line "+msg, func() bool {
		return strings.Count(w.agentLog.String(), msg) >= n
	})
}

// status returns the body of GET /v1/status on the socket.
func (w *world) status(t *testing.T) string {
	t.Helper()
	resp, err := unixClient(w.socket).Get("http://agent/v1/status")
	if err != nil {
		t.Fatalf("GET /v1/status: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
