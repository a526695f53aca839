package e2e

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/sandbox"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

// TestServeOverEveryDoor bootstraps from S3, starts the agent and reads the
// credentials over the unix socket and over loopback TCP with the token.
func TestServeOverEveryDoor(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start()
	waitReady(t, a.Ready())

	c := h.unixClient()
	code, body := get(t, c, "http://agent/v1/credentials", nil)
	if code != http.StatusOK {
		t.Fatalf("unix GET /v1/credentials: got %d %s, want 200", code, body)
	}
	creds := decodeCreds(t, body)
	issued, ok := h.sb.Issued.Lookup(creds.AccessKeyID)
	if !ok || issued.SecretAccessKey != creds.SecretAccessKey || issued.SessionToken != creds.Token {
		t.Fatalf("served credentials %s are not the ones the sandbox issued", creds.AccessKeyID)
	}
	if !creds.Expiration.Equal(issued.Expiration) {
		t.Errorf("expiration: got %v, want %v", creds.Expiration, issued.Expiration)
	}

	token := readToken(t, h.cfg.TCP.TokenFile)
	url := "http://" + a.Addrs()["tcp"][0].String() + "/v1/credentials"
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"right token", http.Header{"Authorization": {token}}, http.StatusOK},
		{"missing token", nil, http.StatusUnauthorized},
		{"wrong token", http.Header{"Authorization": {token + "x"}}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, http.DefaultClient, url, tc.header)
			if code != tc.want {
				t.Fatalf("TCP GET: got %d %s, want %d", code, body, tc.want)
			}
			if code == http.StatusUnauthorized {
				if e := decodeError(t, body); e.Code != "Unauthorized" {
					t.Errorf("code: got %q, want Unauthorized", e.Code)
				}
			}
		})
	}
	if got := h.sb.CredentialCalls(); got != 1 {
		t.Errorf("upstream calls: got %d, want 1", got)
	}
	h.assertNoSecrets()
}

// TestColdCacheOneUpstreamCall sends 1,000 concurrent requests to an agent
// that has no credentials yet, while the credentials provider is slow to
// answer: they must all be served by exactly one upstream call.
func TestColdCacheOneUpstreamCall(t *testing.T) {
	h := newHarness(t)
	if err := h.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultSlow, Delay: 300 * time.Millisecond, Count: 1}); err != nil {
		t.Fatalf("set faults: %v", err)
	}
	a, _ := h.start()

	const clients = 1000
	c := h.unixClient()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			code, _ := get(t, c, "http://agent/v1/credentials", nil)
			if code == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	c.CloseIdleConnections()
	waitReady(t, a.Ready())

	if got := ok.Load(); got != clients {
		t.Errorf("served: got %d of %d", got, clients)
	}
	if got := h.sb.CredentialCalls(); got != 1 {
		t.Errorf("upstream calls: got %d, want 1", got)
	}
}

// TestRefreshAtHalfLife advances the clock to just before and just after
// half of the credentials' lifetime: the agent must refresh once, then.
func TestRefreshAtHalfLife(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start()
	waitReady(t, a.Ready())
	first := h.currentKey(t)

	waitTimers(t, h.clock)
	h.clock.Advance(29 * time.Minute)
	waitTimers(t, h.clock)
	if got := h.sb.CredentialCalls(); got != 1 {
		t.Fatalf("upstream calls before half-life: got %d, want 1", got)
	}
	h.clock.Advance(2 * time.Minute)
	testenv.Eventually(t, 10*time.Second, "no refresh after half-life", func() bool {
		return h.sb.CredentialCalls() == 2 && h.currentKey(t) != first
	})
	if st := a.Cache().Status(); st.State != "serving" {
		t.Errorf("state after refresh: got %q, want serving", st.State)
	}
	h.assertNoSecrets()
}

// TestOutageServesCachedUntilExpiry takes the credentials provider down
// after the first fetch: the agent keeps serving the cached credentials while
// they are valid, then answers 503 CredentialsUnavailable.
func TestOutageServesCachedUntilExpiry(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start()
	waitReady(t, a.Ready())
	first := h.currentKey(t)

	if err := h.sb.SetFaults(sandbox.Faults{Mode: "500"}); err != nil {
		t.Fatalf("set faults: %v", err)
	}
	for range 8 { // to 56 minutes, in steps, so every backoff timer fires
		h.clock.Advance(7 * time.Minute)
		waitTimers(t, h.clock)
	}
	testenv.Eventually(t, 10*time.Second, "no refresh was tried during the outage", func() bool {
		return h.sb.CredentialCallsByStatus(500) > 0
	})
	if got := h.currentKey(t); got != first {
		t.Fatalf("during the outage: served %s, want the cached %s", got, first)
	}
	if st := a.Cache().Status(); st.State != "degraded" || st.LastError == nil {
		t.Errorf("status during outage: got %+v, want degraded with last_error", st)
	}

	h.clock.Advance(5 * time.Minute) // past expiry
	code, body := get(t, h.unixClient(), "http://agent/v1/credentials", nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("after expiry: got %d %s, want 503", code, body)
	}
	if e := decodeError(t, body); e.Code != "CredentialsUnavailable" || e.Message == "" {
		t.Errorf("after expiry: got %+v, want code CredentialsUnavailable with a reason", e)
	}
	code, _ = get(t, h.unixClient(), "http://agent/healthz", nil)
	if code != http.StatusServiceUnavailable {
		t.Errorf("healthz after expiry: got %d, want 503", code)
	}
	h.assertNoSecrets()
}

// TestForbiddenOutageBoundedCalls has the credentials provider answer 403
// (a policy that does not allow the role alias) for an hour of clock time
// while 100 clients poll every minute: the agent backs off, so the number of
// upstream calls depends on the backoff schedule alone, not on the clients.
//
// The bound: after the n-th failure in a row the agent waits a random time
// in [c/2, c), c = min(30m, 1m*2^(n-1)). The earliest calls are then at 0,
// 0.5, 1.5, 3.5, 7.5, 15.5, 30.5 and 45.5 minutes: at most 8 in the first
// hour, whatever the jitter draws, against 6,000 requests.
func TestForbiddenOutageBoundedCalls(t *testing.T) {
	h := newHarness(t)
	if err := h.sb.SetFaults(sandbox.Faults{Mode: "403"}); err != nil {
		t.Fatalf("set faults: %v", err)
	}
	h.start()

	const clients, minutes, bound = 100, 60, 8
	c := h.unixClient()
	var unavailable atomic.Int64
	for range minutes {
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				if code, _ := get(t, c, "http://agent/v1/credentials", nil); code == http.StatusServiceUnavailable {
					unavailable.Add(1)
				}
			})
		}
		wg.Wait()
		waitTimers(t, h.clock)
		h.clock.Advance(time.Minute)
	}

	calls := h.sb.CredentialCalls()
	t.Logf("%d requests in %d minutes made %d upstream calls", clients*minutes, minutes, calls)
	if calls < 2 || calls > bound {
		t.Errorf("upstream calls: got %d, want 2 to %d", calls, bound)
	}
	if got := unavailable.Load(); got != clients*minutes {
		t.Errorf("503 answers: got %d, want %d", got, clients*minutes)
	}
	code, body := get(t, c, "http://agent/v1/status", nil)
	if code != http.StatusOK {
		t.Fatalf("status: got %d", code)
	}
	if !strings.Contains(string(body), `"class":"configuration"`) {
		t.Errorf("status %s: want last_error of class configuration", body)
	}
	h.assertNoSecrets()
}

// TestRestartServesPersistedCache stops the agent and starts a new one on
// the same cache file: it serves the same credentials without calling
// upstream.
func TestRestartServesPersistedCache(t *testing.T) {
	h := newHarness(t)
	a, stop := h.start()
	waitReady(t, a.Ready())
	first := h.currentKey(t)
	stop()

	if err := h.sb.SetFaults(sandbox.Faults{Mode: "500"}); err != nil {
		t.Fatalf("set faults: %v", err)
	}
	a2, _ := h.start()
	waitReady(t, a2.Ready())
	if got := h.currentKey(t); got != first {
		t.Errorf("after restart: served %s, want the persisted %s", got, first)
	}
	if got := h.sb.CredentialCalls(); got != 1 {
		t.Errorf("upstream calls: got %d, want 1 (none after the restart)", got)
	}
}

// currentKey returns the access key id the agent serves on its socket.
func (h *harness) currentKey(t *testing.T) string {
	t.Helper()
	code, body := get(t, h.unixClient(), "http://agent/v1/credentials", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/credentials: got %d %s, want 200", code, body)
	}
	return decodeCreds(t, body).AccessKeyID
}

func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not serve credentials within 20s")
	}
}

// waitTimers waits until the agent's refresh loop is parked on the clock
// again, so that the next Advance is seen by it.
func waitTimers(t *testing.T, c *testenv.Clock) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "refresh loop did not wait on the clock", func() bool {
		return c.Waiters() > 0
	})
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read token: %v", err)
	}
	return string(b)
}
