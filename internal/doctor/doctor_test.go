package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

const goodToken = "s3cr3t-token-value"

var now = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

// fixture is a complete, healthy installation in temporary folders: config,
// identity, a fake agent on a unix socket and on loopback TCP, and a clean
// environment. Cases break one part of it.
type fixture struct {
	t          *testing.T
	cfg        config.Config
	loadErr    error
	env        map[string]string
	home       string
	fetch      FetchFunc
	status     string // JSON the fake agent answers GET /v1/status with
	statusCode int
	tcpToken   string // token the fake TCP door accepts
	ca         *certtest.CA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t: t, home: filepath.Join(dir, "home"), env: map[string]string{},
		status: `{"state":"serving"}`, statusCode: 200, tcpToken: goodToken,
		ca: certtest.NewCAWithValidity("doctor test CA", now.Add(-time.Hour), now.Add(5*365*24*time.Hour)),
	}
	f.fetch = func(context.Context, config.Config, *certstore.Identity) (credprovider.Result, error) {
		return credprovider.Result{ServerDate: now}, nil
	}

	f.cfg = config.Default()
	f.cfg.ThingName, f.cfg.RoleAlias, f.cfg.Region = "sensor-1", "fleet-a", "eu-west-1"
	f.cfg.CredentialEndpoint = "c1a2b3.credentials.iot.eu-west-1.amazonaws.com"
	f.cfg.IdentityDir = filepath.Join(dir, "identity")
	f.cfg.CacheFile = filepath.Join(dir, "cache.json")
	f.cfg.Socket.Path = filepath.Join(dir, "agent.sock")
	f.cfg.TCP.TokenFile = filepath.Join(dir, "token")
	f.cfg.TCP.Addresses = []string{"127.0.0.1"}

	leaf := f.ca.Issue("sensor-1", certtest.ECP256, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	f.writeIdentity(leaf.CertPEM, leaf.KeyPEM)
	write(t, f.cfg.TCP.TokenFile, goodToken, 0o640)
	f.serveSocket()
	f.serveTCP()
	if err := os.MkdirAll(f.home, 0o700); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) writeIdentity(cert, key []byte) {
	dir := f.cfg.IdentityDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	write(f.t, filepath.Join(dir, certstore.CertFile), string(cert), 0o644)
	write(f.t, filepath.Join(dir, certstore.KeyFile), string(key), 0o600)
	write(f.t, filepath.Join(dir, certstore.CAFile), string(f.ca.CertPEM), 0o644)
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// serveSocket runs a fake agent status endpoint on the socket path.
func (f *fixture) serveSocket() {
	ln, err := net.Listen("unix", f.cfg.Socket.Path)
	if err != nil {
		f.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.statusCode)
		fmt.Fprint(w, f.status)
	})}
	if err := os.Chmod(f.cfg.Socket.Path, 0o660); err != nil {
		f.t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	f.t.Cleanup(func() { _ = srv.Close() })
}

// serveTCP runs a fake TCP door that wants f.tcpToken.
func (f *fixture) serveTCP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != f.tcpToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"Unauthorized","message":"wrong token"}`)
			return
		}
		fmt.Fprint(w, `{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"do-not-print"}`)
	}))
	f.t.Cleanup(srv.Close)
	f.cfg.TCP.Port = srv.Listener.Addr().(*net.TCPAddr).Port
}

func (f *fixture) run() []Result {
	return Run(context.Background(), Options{
		LoadConfig: func() (config.Config, error) { return f.cfg, f.loadErr },
		LookupEnv: func(k string) (string, bool) {
			v, ok := f.env[k]
			return v, ok
		},
		Home:    f.home,
		Now:     func() time.Time { return now },
		Fetch:   f.fetch,
		Timeout: 5 * time.Second,
	})
}

func find(rs []Result, check string) Result {
	for _, r := range rs {
		if r.Check == check {
			return r
		}
	}
	return Result{}
}

func TestHealthyInstallation(t *testing.T) {
	rs := newFixture(t).run()
	for _, r := range rs {
		if r.Level != OK {
			t.Errorf("%s: got %s %q, want ok", r.Check, r.Level, r.Message)
		}
		if strings.Contains(r.Message+r.Fix, "do-not-print") || strings.Contains(r.Message+r.Fix, goodToken) {
			t.Errorf("%s: a secret is in %q", r.Check, r.Message)
		}
	}
	if Failed(rs) {
		t.Errorf("got Failed true, want false")
	}
}

func TestEachCheckExplainsItsFailure(t *testing.T) {
	tests := []struct {
		name      string
		breakIt   func(f *fixture)
		check     string
		wantLevel Level
		wantMsg   string // in the message
		wantFix   string // in the fix
	}{
		{"config does not load", func(f *fixture) { f.loadErr = errors.New("config: line 3: unknown key \"thng_name\"") },
			"config", Fail, "does not load: config: line 3", "edge-agent env"},
		{"config invalid", func(f *fixture) { f.cfg.RoleAlias = "" },
			"config", Fail, "role_alias", "set each key"},
		{"key missing", func(f *fixture) { _ = os.Remove(filepath.Join(f.cfg.IdentityDir, certstore.KeyFile)) },
			"identity-files", Fail, "private.pem.key is missing", "edge-agent bootstrap"},
		{"key readable by others", func(f *fixture) { _ = os.Chmod(filepath.Join(f.cfg.IdentityDir, certstore.KeyFile), 0o644) },
			"identity-files", Fail, "has mode 0644, broader than 0600", "chmod 0600"},
		{"identity folder open", func(f *fixture) { _ = os.Chmod(f.cfg.IdentityDir, 0o755) },
			"identity-files", Fail, "has mode 0755, broader than 0700", "chmod 0700"},
		{"certificate expired", func(f *fixture) {
			l := f.ca.Issue("sensor-1", certtest.ECP256, now.Add(-48*time.Hour), now.Add(-time.Hour))
			f.writeIdentity(l.CertPEM, l.KeyPEM)
		}, "certificate", Fail, "expired", "device clock"},
		{"certificate not yet valid", func(f *fixture) {
			l := f.ca.Issue("sensor-1", certtest.ECP256, now.Add(time.Hour), now.Add(48*time.Hour))
			f.writeIdentity(l.CertPEM, l.KeyPEM)
		}, "certificate", Fail, "not valid yet", "NTP"},
		{"key of another certificate", func(f *fixture) {
			a := f.ca.Issue("sensor-1", certtest.ECP256, now.Add(-time.Hour), now.Add(48*time.Hour))
			b := f.ca.Issue("sensor-2", certtest.ECP256, now.Add(-time.Hour), now.Add(48*time.Hour))
			f.writeIdentity(a.CertPEM, b.KeyPEM)
		}, "certificate", Fail, "does not match", "matching pair"},
		{"certificate ends soon", func(f *fixture) {
			l := f.ca.Issue("sensor-1", certtest.ECP256, now.Add(-time.Hour), now.Add(10*24*time.Hour))
			f.writeIdentity(l.CertPEM, l.KeyPEM)
		}, "certificate", Warn, "(10 days left)", "rotate"},
		{"data endpoint", func(f *fixture) { f.cfg.CredentialEndpoint = "a1b2c3-ats.iot.eu-west-1.amazonaws.com" },
			"endpoint-form", Fail, "IoT data endpoint", "describe-endpoint"},
		{"custom endpoint", func(f *fixture) { f.cfg.CredentialEndpoint, f.cfg.AllowCustomEndpoint = "127.0.0.1:8443", true },
			"endpoint-form", Warn, "custom endpoint", "allow_custom_endpoint: false"},
		{"endpoint refuses the device", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassConfiguration, StatusCode: 403, Message: "Access Denied"})
		}, "endpoint", Fail, "refused the device", "iot:AssumeRoleWithCertificate"},
		{"endpoint unreachable", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassTransient, Err: errors.New("dial tcp: connection refused")})
		}, "endpoint", Fail, "could not be reached over mutual TLS", "HTTPS_PROXY"},
		{"endpoint answers a captive portal page", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassTransient, StatusCode: 200, NotJSON: true, MediaType: "text/html",
				Message: "endpoint answered text/html, not JSON"})
		}, "endpoint", Fail, "was reached but answered HTTP 200 with text/html instead of the credentials provider's JSON", "captive portal"},
		{"a proxy's refusal page", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassConfiguration, StatusCode: 403, NotJSON: true, MediaType: "text/html"})
		}, "endpoint", Fail, "was reached but answered HTTP 403 with text/html", "proxy"},
		{"endpoint redirects", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassConfiguration, StatusCode: 302, Message: "Found"})
		}, "endpoint", Fail, "was reached but answered HTTP 302 (a redirect)", "describe-endpoint"},
		{"endpoint fails", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassTransient, StatusCode: 503, Message: "Service Unavailable"})
		}, "endpoint", Fail, "was reached and answered HTTP 503", "run doctor again"},
		{"endpoint throttles", func(f *fixture) {
			f.fetch = fetchErr(&credprovider.Error{Class: credprovider.ClassThrottled, StatusCode: 429})
		}, "endpoint", Warn, "throttled", "wait"},
		{"clock 20 minutes ahead", func(f *fixture) { f.fetch = fetchAt(now.Add(-20 * time.Minute)) },
			"endpoint", Fail, "is 20m0s ahead of the endpoint's Date", "timedatectl"},
		{"clock 6 minutes behind", func(f *fixture) { f.fetch = fetchAt(now.Add(6 * time.Minute)) },
			"endpoint", Warn, "is 6m0s behind the endpoint's Date", "timedatectl"},
		{"no socket", func(f *fixture) { f.cfg.Socket.Path = filepath.Join(f.home, "none.sock") },
			"socket", Fail, "no socket at", "systemctl start edge-agent"},
		{"stale socket", func(f *fixture) {
			p := filepath.Join(f.home, "stale.sock")
			ln, _ := net.Listen("unix", p)
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			_ = ln.Close()
			f.cfg.Socket.Path = p
		}, "socket", Fail, "stale socket", "systemctl start"},
		{"socket refuses this user", func(f *fixture) {
			f.statusCode, f.status = 403, `{"code":"Forbidden","message":"uid 1000 is not allowed"}`
		}, "socket", Fail, "refused this user", "socket.allowed_uids"},
		{"agent without credentials", func(f *fixture) {
			f.status = `{"state":"unavailable","last_error":{"class":"configuration","message":"Role alias does not exist"}}`
		}, "socket", Fail, "no valid credentials (state \"unavailable\") (last error, configuration: Role alias does not exist)", "journalctl"},
		{"agent degraded", func(f *fixture) {
			f.status = `{"state":"degraded","last_error":{"class":"transient","message":"timeout"}}`
		}, "socket", Warn, "last refresh failed", "keep working"},
		{"token with newline", func(f *fixture) { write(f.t, f.cfg.TCP.TokenFile, goodToken+"\n", 0o640) },
			"token-file", Fail, "ends with a newline", "without the newline"},
		{"token missing", func(f *fixture) { _ = os.Remove(f.cfg.TCP.TokenFile) },
			"token-file", Fail, "is missing", "creates the token file"},
		{"token file open to all", func(f *fixture) { _ = os.Chmod(f.cfg.TCP.TokenFile, 0o644) },
			"token-file", Warn, "broader than 0640", "chmod 0640"},
		{"tcp refuses the token", func(f *fixture) { f.tcpToken = "another" },
			"tcp", Fail, "refused the token", "restart edge-agent"},
		{"tcp not listening", func(f *fixture) { f.cfg.TCP.Port = closedPort(f.t) },
			"tcp", Fail, "nothing answers", "tcp.port"},
		{"keys in the environment", func(f *fixture) { f.env["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE" },
			"credential-chain", Warn, "AWS_ACCESS_KEY_ID is set", "unset AWS_ACCESS_KEY_ID"},
		{"web identity", func(f *fixture) { f.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/token" },
			"credential-chain", Warn, "web identity", "unset AWS_WEB_IDENTITY_TOKEN_FILE"},
		{"default profile with keys", func(f *fixture) {
			mkfile(f.t, filepath.Join(f.home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n")
		}, "credential-chain", Warn, "profile \"default\" in " + "", "remove the keys of [default]"},
		{"AWS_PROFILE without a profile", func(f *fixture) { f.env["AWS_PROFILE"] = "ops" },
			"credential-chain", Warn, "AWS_PROFILE names profile \"ops\", which neither", "unset AWS_PROFILE"},
		{"profile with another credential_process", func(f *fixture) {
			f.env["AWS_PROFILE"] = "ops"
			mkfile(f.t, filepath.Join(f.home, ".aws", "config"), "[profile ops]\ncredential_process = /opt/vault-creds\n")
		}, "credential-chain", Warn, "runs credential_process \"/opt/vault-creds\"", "edge-agent credential-process"},
		{"relative container URI", func(f *fixture) { f.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/creds" },
			"credential-chain", Warn, "RELATIVE_URI is set", "unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"},
		{"full URI elsewhere", func(f *fixture) { f.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:1/creds" },
			"credential-chain", Warn, "not the agent's port", "edge-agent env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.breakIt(f)
			r := find(f.run(), tt.check)
			if r.Level != tt.wantLevel || !strings.Contains(r.Message, tt.wantMsg) || !strings.Contains(r.Fix, tt.wantFix) {
				t.Fatalf("%s: got %s %q (fix %q), want %s with %q (fix with %q)",
					tt.check, r.Level, r.Message, r.Fix, tt.wantLevel, tt.wantMsg, tt.wantFix)
			}
		})
	}
}

func TestProfileRunningTheAgentIsNotAShadow(t *testing.T) {
	f := newFixture(t)
	f.env["AWS_PROFILE"] = "edge"
	mkfile(t, filepath.Join(f.home, ".aws", "config"),
		"[profile edge]\ncredential_process = /usr/bin/edge-agent credential-process\nregion = eu-west-1\n")
	if r := find(f.run(), "credential-chain"); r.Level != OK {
		t.Fatalf("got %s %q, want ok", r.Level, r.Message)
	}
}

func TestLaterChecksSkipWithoutConfig(t *testing.T) {
	f := newFixture(t)
	f.loadErr = errors.New("config: no such file")
	rs := f.run()
	for _, name := range []string{"identity-files", "certificate", "endpoint-form", "endpoint", "socket", "token-file", "tcp"} {
		if got := find(rs, name).Level; got != Skip {
			t.Errorf("%s: got %s, want skip", name, got)
		}
	}
	if !Failed(rs) {
		t.Errorf("got Failed false, want true")
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	rs := []Result{
		{Check: "config", Level: OK, Message: "fine"},
		{Check: "socket", Level: Fail, Message: "no socket", Fix: "start it"},
	}
	if err := WriteText(&b, rs); err != nil {
		t.Fatal(err)
	}
	want := "ok    config            fine\n" +
		"FAIL  socket            no socket\n" +
		"                        fix: start it\n"
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func fetchErr(err error) FetchFunc {
	return func(context.Context, config.Config, *certstore.Identity) (credprovider.Result, error) {
		return credprovider.Result{}, err
	}
}

func fetchAt(date time.Time) FetchFunc {
	return func(context.Context, config.Config, *certstore.Identity) (credprovider.Result, error) {
		return credprovider.Result{ServerDate: date}, nil
	}
}

func mkfile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, path, data, 0o600)
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}
