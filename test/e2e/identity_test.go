package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// TestIdentityArrivesLater starts the agent before the device has a usable
// identity: none installed yet, or a certificate that is not valid yet on a
// device whose clock is behind. The agent must keep running, answer 503 with
// the reason, and serve as soon as the identity becomes usable.
func TestIdentityArrivesLater(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(h *harness, dir string) (fix func())
		reason  string
	}{
		{
			name: "installed after start",
			prepare: func(h *harness, dir string) func() {
				files := readIdentity(t, filepath.Join(h.dir, "identity"))
				return func() {
					if err := certstore.Install(dir, files, h.clock.Now()); err != nil {
						t.Fatalf("install identity: %v", err)
					}
				}
			},
			reason: "no device identity",
		},
		{
			name: "clock behind the certificate",
			prepare: func(h *harness, dir string) func() {
				notBefore := h.clock.Now().Add(10 * time.Minute)
				files, err := h.sb.NewDeviceWith(context.Background(), sandbox.DeviceOptions{
					Thing: thing, RoleAlias: alias,
					NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
				})
				if err != nil {
					t.Fatalf("new device: %v", err)
				}
				installUnchecked(t, dir, certstore.Files(files))
				return func() { h.clock.Advance(11 * time.Minute) }
			},
			reason: "not valid yet",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			dir := filepath.Join(t.TempDir(), "identity")
			h.cfg.IdentityDir = dir
			fix := tc.prepare(h, dir)
			a, _ := h.start()

			code, body := get(t, h.unixClient(), "http://agent/v1/credentials", nil)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("before: got %d %s, want 503", code, body)
			}
			if e := decodeError(t, body); !strings.Contains(e.Message, tc.reason) {
				t.Errorf("before: message %q, want it to say %q", e.Message, tc.reason)
			}

			fix()
			h.advanceUntil(t, 30*time.Minute, func() bool {
				select {
				case <-a.Ready():
					return true
				default:
					return false
				}
			})
			h.currentKey(t)
		})
	}
}

// advanceUntil moves the clock a minute at a time, each time after the
// agent's refresh loop has parked on it, until cond holds or max has passed.
func (h *harness) advanceUntil(t *testing.T, max time.Duration, cond func() bool) {
	t.Helper()
	for passed := time.Duration(0); !cond(); passed += time.Minute {
		if passed > max {
			t.Fatalf("condition not met after %v of clock time", max)
		}
		waitTimers(t, h.clock)
		h.clock.Advance(time.Minute)
	}
}

// readIdentity returns the identity files installed in dir.
func readIdentity(t *testing.T, dir string) certstore.Files {
	t.Helper()
	var f certstore.Files
	for name, dst := range map[string]*[]byte{
		certstore.CertFile: &f.Cert, certstore.KeyFile: &f.Key, certstore.CAFile: &f.CA,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("read identity: %v", err)
		}
		*dst = b
	}
	return f
}

// installUnchecked writes an identity as plain files, the way an image built
// on a machine with the right clock holds one that this device's clock does
// not accept yet.
func installUnchecked(t *testing.T, dir string, f certstore.Files) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		certstore.CertFile: f.Cert, certstore.KeyFile: f.Key, certstore.CAFile: f.CA,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusedReloadShowsInStatus reloads with an identity folder that holds
// nothing: the agent keeps serving on its previous configuration and says so
// in GET /v1/status until a reload succeeds.
func TestRefusedReloadShowsInStatus(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start()
	waitReady(t, a.Ready())

	bad := h.cfg.Clone()
	bad.IdentityDir = filepath.Join(t.TempDir(), "empty")
	if err := a.Reload(bad); err == nil {
		t.Fatal("reload with no identity: got nil error")
	}
	h.currentKey(t)
	_, body := get(t, h.unixClient(), "http://agent/v1/status", nil)
	if !strings.Contains(string(body), `"reload_error"`) || !strings.Contains(string(body), "no device identity") {
		t.Errorf("status after a refused reload: %s, want reload_error naming the missing identity", body)
	}

	if err := a.Reload(h.cfg); err != nil {
		t.Fatalf("reload with the good config: %v", err)
	}
	_, body = get(t, h.unixClient(), "http://agent/v1/status", nil)
	if strings.Contains(string(body), `"reload_error"`) {
		t.Errorf("status after a good reload still has reload_error: %s", body)
	}
}
