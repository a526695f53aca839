//go:build integration

// Package clients holds the integration tests that prove edge-agent works
// with the AWS SDKs and CLIs as they are: each test starts the sandbox in
// process and the real edge-agent binary, then runs a client program that
// must list the sandbox bucket through an S3 endpoint that checks SigV4
// against the credentials the sandbox issued.
package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// Names every test uses.
const (
	region    = "eu-west-1"
	bucket    = "fleet-models"
	objectKey = "models/model-v1.bin"
	roleAlias = "SageMakerEdge-fleet-a"
	roleARN   = "arn:aws:iam::123456789012:role/fleet-a"
)

// bins are the programs TestMain builds or finds.
var bins struct {
	agent, goclient string
	pyenvPython     string // python3 of pyenv (current botocore), "" if absent
	pyenvAWS        string // the AWS CLI v1 beside it
	node            string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edge-agent-clients-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(1)
	}
	code := 1
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, "test/clients setup:", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// setup builds edge-agent and goclient into dir and finds the other clients.
func setup(dir string) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	bins.agent = filepath.Join(dir, "edge-agent")
	bins.goclient = filepath.Join(dir, "goclient")
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/edge-agent", "./test/clients/goclient")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}

	// pyenv's python3 is a shim that needs HOME; the clients get a temporary
	// HOME, so find the interpreter the shim runs.
	if out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output(); err == nil {
		bins.pyenvPython = strings.TrimSpace(string(out))
		bins.pyenvAWS = filepath.Join(filepath.Dir(bins.pyenvPython), "aws")
	}
	bins.node, _ = exec.LookPath("node")
	return nil
}

// world is one sandbox and one agent serving its credentials.
type world struct {
	sb        *sandbox.Sandbox
	dir       string
	config    string
	socket    string
	tokenFile string
	token     string
	tcpPort   int
	imdsPort  int
	agentLog  *syncBuffer
	agent     *os.Process
	stopped   chan struct{} // closed when the agent has exited
	exitErr   error         // its exit status, once stopped is closed
}

// worldOptions chooses what differs between worlds.
type worldOptions struct {
	// CredentialDuration is the lifetime of the credentials the sandbox
	// issues; default one hour.
	CredentialDuration time.Duration
}

// startWorld starts a sandbox whose S3 checks SigV4, issues a device, and
// runs the edge-agent binary for it until the test ends.
func startWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Region: region, RequireSigV4: true})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	sb.AddRoleAlias(roleAlias, roleARN, o.CredentialDuration)
	files, err := sb.NewDevice(ctx, "sensor-0042", roleAlias)
	if err != nil {
		t.Fatalf("new device: %v", err)
	}
	if err := sb.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if err := sb.PutObject(ctx, bucket, objectKey, []byte("weights")); err != nil {
		t.Fatal(err)
	}

	w := &world{sb: sb, dir: t.TempDir(), agentLog: &syncBuffer{}}
	w.writeIdentity(t, files)
	w.writeConfig(t)
	w.startAgent(t)
	return w
}

func (w *world) writeIdentity(t *testing.T, f sandbox.DeviceFiles) {
	t.Helper()
	id := filepath.Join(w.dir, "identity")
	mustWrite(t, id, "", nil, 0o700)
	mustWrite(t, id, sandbox.CertFile, f.Cert, 0o644)
	mustWrite(t, id, sandbox.KeyFile, f.Key, 0o600)
	mustWrite(t, id, sandbox.CAFile, f.CA, 0o644)
}

func (w *world) writeConfig(t *testing.T) {
	t.Helper()
	run := filepath.Join(w.dir, "run")
	mustWrite(t, run, "", nil, 0o755)
	w.socket = filepath.Join(run, "agent.sock")
	w.tokenFile = filepath.Join(run, "token")
	w.tcpPort, w.imdsPort = freePort(t), freePort(t)

	cfg := fmt.Sprintf(`%s
identity_dir: %q
cache_file: %q
socket:
  path: %q
  allowed_uids: [%d]
tcp:
  port: %d
  token_file: %q
imds:
  port: %d
log:
  level: debug
`, w.sb.AgentConfig("sensor-0042", roleAlias), filepath.Join(w.dir, "identity"),
		filepath.Join(w.dir, "cache.json"), w.socket, os.Getuid(), w.tcpPort, w.tokenFile, w.imdsPort)
	w.config = filepath.Join(w.dir, "config.yaml")
	mustWrite(t, w.dir, "config.yaml", []byte(cfg), 0o640)
}

// startAgent runs `edge-agent run` and waits until /healthz on its socket
// answers 200, or the agent exits, or 30 seconds pass.
func (w *world) startAgent(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bins.agent, "run", "--config", w.config)
	cmd.Env = baseEnv(w.dir)
	cmd.Stdout, cmd.Stderr = w.agentLog, w.agentLog
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start edge-agent: %v", err)
	}
	w.agent = cmd.Process
	exited := make(chan error, 1)
	w.stopped = make(chan struct{})
	go func() {
		w.exitErr = cmd.Wait()
		close(w.stopped)
		exited <- w.exitErr
	}()
	t.Cleanup(func() {
		cancel()
		<-w.stopped
		if t.Failed() {
			t.Logf("edge-agent log:\n%s", w.redact(w.agentLog.String()))
		}
	})

	if err := w.waitHealthy(exited, 30*time.Second); err != nil {
		t.Fatalf("edge-agent not ready: %v\n%s", err, w.redact(w.agentLog.String()))
	}
	tok, err := os.ReadFile(w.tokenFile)
	if err != nil {
		t.Fatalf("read token: %v", err)
	}
	w.token = string(tok)
}

func (w *world) waitHealthy(exited <-chan error, limit time.Duration) error {
	c := unixClient(w.socket)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := c.Get("http://agent/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		select {
		case e := <-exited:
			return fmt.Errorf("edge-agent exited: %v", e)
		case <-deadline.C:
			return fmt.Errorf("after %s: %w", limit, err)
		case <-tick.C:
		}
	}
}

// s3URL is the sandbox S3 endpoint the clients list.
func (w *world) s3URL() string { return w.sb.S3URL }

func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// baseEnv is the whole environment of a child process: nothing of the
// machine's AWS settings (this machine sets AWS_CA_BUNDLE), HOME in a
// temporary folder so that no ~/.aws is read, and the region.
func baseEnv(home string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"PYTHONDONTWRITEBYTECODE=1",
	}
}

// freePort returns a TCP port free on both 127.0.0.1 and ::1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", port))
		_ = ln.Close()
		if err == nil {
			_ = ln6.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and ::1")
	return 0
}

func mustWrite(t *testing.T, dir, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if name == "" {
		if err := os.MkdirAll(dir, mode); err != nil {
			t.Fatal(err)
		}
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// longSecret matches the shape of secret keys, session tokens and the
// agent's token (base64 or hex, 32 characters or more), and of file paths,
// which [redact] keeps.
var longSecret = regexp.MustCompile(`[A-Za-z0-9/+=_.-]{32,}`)

// redact removes the agent token and anything shaped like a secret from s,
// so that no failure message prints one.
func redact(s string, known ...string) string {
	for _, k := range known {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[token]")
		}
	}
	return longSecret.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, ".") || strings.HasPrefix(m, "/tmp/") {
			return m // a path or host name, never base64
		}
		return "[redacted]"
	})
}

// redact removes the agent token, every credential the sandbox issued,
// and anything else shaped like a secret from s.
func (w *world) redact(s string) string {
	for _, c := range w.sb.Issued.All() {
		s = strings.ReplaceAll(s, c.SecretAccessKey, "[secret]")
		s = strings.ReplaceAll(s, c.SessionToken, "[session-token]")
	}
	return redact(s, w.token)
}

// syncBuffer is a bytes.Buffer safe for a process's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs argv with env and a timeout, and returns its stdout and stderr.
func run(ctx context.Context, limit time.Duration, dir string, env, argv []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", limit, err)
	}
	return stdout.String(), stderr.String(), err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
