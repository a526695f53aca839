package credserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

var t0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

const (
	testKeyID  = "ASIATESTKEYID0000001"
	testSecret = "s3cr3t-Access-Key-do-not-log-1234567890"
	testSess   = "SeSsIoN-ToKeN-do-not-log-abcdefghijklmnop"
	testToken  = "tcp-token-do-not-log-0123456789abcdef"
)

// fakeSource is a Source whose answer tests can change.
type fakeSource struct {
	mu    sync.Mutex
	creds Credentials
	err   error
	calls atomic.Int64
}

func goodCreds() Credentials {
	return Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSess, Expiration: t0.Add(time.Hour)}
}

func (f *fakeSource) set(c Credentials, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creds, f.err = c, err
}

func (f *fakeSource) Get(context.Context) (Credentials, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creds, f.err
}

func (f *fakeSource) Status() any {
	return map[string]any{"state": "serving", "thing_name": "sensor-0042",
		"role_alias": "fleet-a", "expiration": rfc3339(t0.Add(time.Hour))}
}

// newLogger returns a zap logger that writes JSON lines to b, at debug
// level, for secret searches.
func newLogger(b *testenv.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, b, zap.DebugLevel))
}

// harness is a server with a fake source and a fake clock.
type harness struct {
	src   *fakeSource
	clock *testenv.Clock
	logs  *testenv.Buffer
	srv   *Server
}

func newHarness(t testing.TB, o Options) *harness {
	t.Helper()
	h := &harness{src: &fakeSource{}, clock: testenv.NewClock(t0), logs: &testenv.Buffer{}}
	h.src.set(goodCreds(), nil)
	o.Source, o.Now, o.Logger = h.src, h.clock.Now, newLogger(h.logs)
	h.srv = New(o)
	return h
}

// serve runs serveFn on ln and checks at cleanup that it returns nil once
// the server is shut down.
func (h *harness) serve(t testing.TB, serveFn func(net.Listener) error, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- serveFn(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}

		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve() did not return after Shutdown")
		}
	})
}

// startUnix serves h on a fresh socket and returns its path.
func (h *harness) startUnix(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	ln, err := ListenUnix(path, "")
	if err != nil {
		t.Fatalf("ListenUnix() = %v", err)
	}
	h.serve(t, h.srv.ServeUnix, ln)
	return path
}

// startTCP serves h on 127.0.0.1 and returns the base URL.
func (h *harness) startTCP(t testing.TB, serveFn func(net.Listener) error) string {
	t.Helper()
	lns, err := ListenLoopback([]string{"127.0.0.1"}, 0, nil)
	if err != nil {
		t.Fatalf("ListenLoopback() = %v", err)
	}
	h.serve(t, serveFn, lns[0])
	return "http://" + lns[0].Addr().String()
}

func unixHTTPClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// response is what tests check of an answer.
type response struct {
	status int
	header http.Header
	body   string
	apiErr apiError
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode != http.StatusOK && len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &r.apiErr); err != nil {
			t.Fatalf("error body %q is not JSON: %v", body, err)
		}
	}
	return r
}

func newRequest(t *testing.T, method, url string, body io.Reader, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func errorsAsAPI(err error) (*APIError, bool) {
	var e *APIError
	return e, errors.As(err, &e)
}

// doOnConn sends GET path on an open connection and reads the answer.
func doOnConn(t *testing.T, conn net.Conn, path string) response {
	t.Helper()
	req := newRequest(t, "GET", "http://agent"+path, nil, nil)
	if err := req.Write(conn); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()

	body, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode != http.StatusOK {
		json.Unmarshal(body, &r.apiErr)
	}
	return r
}
