// Package e2e runs the device side end to end in one process: the sandbox
// stands in for S3 and the IoT credentials provider, bootstrap installs the
// identity with the real S3 client, and the agent serves credentials over its
// real unix socket and loopback doors. A manual clock drives both the agent's
// cache and the sandbox, so hours of refreshes pass without a sleep.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edge-agent/edge-agent/internal/agent"
	"github.com/edge-agent/edge-agent/internal/bootstrap"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/sandbox"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

const (
	thing  = "e2e-sensor-0001"
	alias  = "e2e-fleet-alias"
	bucket = "e2e-authorization-files"
	prefix = "authorization-files/" + thing + "/"
)

// harness is a sandbox with one provisioned device whose identity has been
// bootstrapped from S3 into a temporary folder.
type harness struct {
	t     *testing.T
	clock *testenv.Clock
	sb    *sandbox.Sandbox
	dir   string
	cfg   config.Config
	logs  *testenv.Buffer
	log   *zap.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	testenv.ClearAWS(t)
	ctx := context.Background()

	h := &harness{t: t, clock: testenv.NewClock(time.Now().UTC().Truncate(time.Second))}
	h.logs = &testenv.Buffer{}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(h.logs), zapcore.DebugLevel)
	h.log = zap.New(core)

	sb, err := sandbox.Start(ctx, sandbox.Options{Now: h.clock.Now, Logger: h.log.Named("sandbox")})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	h.sb = sb
	sb.AddRoleAlias(alias, "arn:aws:iam::"+sandbox.Account+":role/e2e", time.Hour)

	files, err := sb.NewDevice(ctx, thing, alias)
	if err != nil {
		t.Fatalf("new device: %v", err)
	}
	if err := sb.CreateBucket(ctx, bucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if err := sb.SeedAuthorizationFiles(ctx, bucket, prefix, files, sb.AgentConfig(thing, alias)); err != nil {
		t.Fatalf("seed authorization files: %v", err)
	}

	h.dir = t.TempDir()
	h.bootstrap(ctx)
	return h
}

// bootstrap installs the identity from the sandbox's S3 with the real SDK
// client and the default credential chain, as a device being imaged would.
func (h *harness) bootstrap(ctx context.Context) {
	h.t.Helper()
	h.t.Setenv("AWS_ACCESS_KEY_ID", sandbox.AdminAccessKeyID)
	h.t.Setenv("AWS_SECRET_ACCESS_KEY", sandbox.AdminSecretAccessKey)
	src, err := bootstrap.NewS3Source(ctx, bootstrap.S3Options{
		Bucket: bucket, Prefix: prefix, Region: h.sb.Region, EndpointURL: h.sb.S3URL,
	})
	if err != nil {
		h.t.Fatalf("s3 source: %v", err)
	}
	cfgPath := filepath.Join(h.dir, "config.yaml")
	res, err := bootstrap.Run(ctx, bootstrap.Options{
		Source: src, IdentityDir: filepath.Join(h.dir, "identity"), ConfigPath: cfgPath,
		Now: h.clock.Now, Logger: h.log.Named("bootstrap"),
	})
	if err != nil {
		h.t.Fatalf("bootstrap: %v", err)
	}
	if res.AlreadyInstalled {
		h.t.Fatalf("bootstrap kept an identity in an empty folder")
	}

	h.cfg, err = config.Load(config.LoadOptions{
		Path:      cfgPath,
		LookupEnv: func(string) (string, bool) { return "", false },
		Overrides: map[string]string{
			"cache_file":          filepath.Join(h.dir, "cache.json"),
			"socket.path":         filepath.Join(h.dir, "run", "agent.sock"),
			"socket.allowed_uids": strconv.Itoa(os.Getuid()),
			"tcp.port":            strconv.Itoa(freePort(h.t)),
			"tcp.token_file":      filepath.Join(h.dir, "run", "token"),
			"tcp.addresses":       "127.0.0.1",
		},
	})
	if err != nil {
		h.t.Fatalf("load config written by bootstrap: %v", err)
	}
}

// start runs an agent on the harness's config until the test ends, and
// returns it with a function that stops it and waits for it to exit.
func (h *harness) start() (*agent.Agent, func()) {
	h.t.Helper()
	a, err := agent.New(agent.Options{
		Config: h.cfg, Logger: h.log.Named("agent"), Clock: h.clock,
		Rand: func() float64 { return 0.5 },
	})
	if err != nil {
		h.t.Fatalf("new agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("agent run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return a, stop
}

// unixClient returns an HTTP client that talks to the agent's socket.
func (h *harness) unixClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 100,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.cfg.Socket.Path)
		},
	}}
}

// get fetches path from the agent and returns the status and body.
func get(t *testing.T, c *http.Client, url string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// containerCreds is the container-credentials body.
type containerCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      time.Time
}

func decodeCreds(t *testing.T, body []byte) containerCreds {
	t.Helper()
	var c containerCreds
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("decode credentials: %v", err)
	}
	return c
}

// apiError is the local API's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func decodeError(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode error body %q: %v", body, err)
	}
	return e
}

// assertNoSecrets fails when any credentials the sandbox issued, or the
// loopback token, appear in the captured logs.
func (h *harness) assertNoSecrets(extra ...string) {
	h.t.Helper()
	logs := h.logs.String()
	if logs == "" {
		h.t.Fatalf("no logs were captured")
	}
	secrets := append([]string{}, extra...)
	for _, c := range h.sb.Issued.All() {
		secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
	}
	if tok, err := os.ReadFile(h.cfg.TCP.TokenFile); err == nil {
		secrets = append(secrets, string(tok))
	}
	// Each base64 line of the private key, so that a key logged in any
	// form of PEM is found.
	if key, err := os.ReadFile(filepath.Join(h.dir, "identity", "private.pem.key")); err == nil {
		for _, line := range strings.Split(string(key), "\n") {
			if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line)
			}
		}
	} else {
		h.t.Fatalf("read the private key to search the logs for it: %v", err)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains([]byte(logs), []byte(s)) {
			h.t.Errorf("a secret of %d bytes appears in the logs", len(s))
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
