package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
	"github.com/edge-agent/edge-agent/internal/config"
)

const agentYAML = `thing_name: sensor-0042
role_alias: fleet-a
credential_endpoint: c1a2b3.credentials.iot.eu-west-1.amazonaws.com
region: eu-west-1
log:
  level: debug
`

func TestRunFromS3(t *testing.T) {
	cleanAWSEnv(t)
	s3 := newFakeS3(t)
	dev := newDevice(t)
	s3.putFiles(t, "devices/sensor-0042/", dev.files())
	s3.put(t, "devices/sensor-0042/"+ConfigFile, []byte(agentYAML))
	tg := newTarget(t)
	core, logs := observer.New(zap.DebugLevel)
	opts := tg.options(s3.source(t, "devices/sensor-0042"))
	opts.Logger = zap.New(core)

	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	if got, want := tg.fingerprint(t), dev.fingerprint(t); got != want {
		t.Errorf("installed fingerprint: got %s, want %s", got, want)
	}
	if res.AlreadyInstalled || res.ConfigPath != tg.config {
		t.Errorf("got %+v, want a fresh install that wrote %s", res, tg.config)
	}
	if !strings.Contains(res.String(), "installed identity into "+tg.identity+" (certificate ") {
		t.Errorf("summary: got %q", res.String())
	}
	cfg, err := config.ParseFile(tg.config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RoleAlias != "fleet-a" || cfg.Log.Level != "debug" || cfg.IdentityDir != tg.identity {
		t.Errorf("config: got %+v, want edge-agent.yaml with identity_dir %s", cfg, tg.identity)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("written config does not validate: %v", err)
	}
	assertNoSecretsLogged(t, logs, dev)
}

func assertNoSecretsLogged(t *testing.T, logs *observer.ObservedLogs, dev device) {
	t.Helper()
	keyLine := strings.Split(string(dev.leaf.KeyPEM), "\n")[1]
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " "))
		}
		for _, secret := range []string{keyLine, "test-secret-access-key", "X-Amz-Signature", "sig=s3cr3t"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line contains a secret: %q", line)
			}
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestRunFromDir(t *testing.T) {
	dev := newDevice(t)
	tg := newTarget(t)
	opts := tg.options(DirSource{Dir: writeDir(t, dev.files())})
	opts.Settings = Settings{ThingName: "sensor-0042", RoleAlias: "fleet-a",
		CredentialEndpoint: "127.0.0.1:8443", AllowCustomEndpoint: true, Region: "eu-west-1"}

	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	if got, want := tg.fingerprint(t), dev.fingerprint(t); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	cfg, err := config.ParseFile(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("config from settings does not validate: %v", err)
	}
	st, _ := os.Stat(res.ConfigPath)
	if got, want := st.Mode().Perm(), os.FileMode(0o640); got != want {
		t.Errorf("config mode: got %04o, want %04o", got, want)
	}
}

func TestRunFromDirWithoutSettingsWritesNoConfig(t *testing.T) {
	dev := newDevice(t)
	tg := newTarget(t)

	res, err := Run(context.Background(), tg.options(DirSource{Dir: writeDir(t, dev.files())}))
	if err != nil {
		t.Fatal(err)
	}

	if res.ConfigPath != "" {
		t.Errorf("got config path %q, want none written", res.ConfigPath)
	}
	if _, err := os.Stat(tg.config); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want no config file", err)
	}
	want := "; no edge-agent.yaml found and no --thing/--role-alias/--endpoint given: config not written; edge-agent run needs one at " + tg.config
	if got := res.String(); !strings.HasSuffix(got, want) {
		t.Errorf("summary: got %q, want it to end with %q", got, want)
	}
}

func TestRunSaysWhenNoConfigExists(t *testing.T) {
	dev := newDevice(t)
	tests := []struct {
		name     string
		existing string // config file content before the run; "" for none
		force    bool
		want     string // "" means no remark
	}{
		{"fresh install", "", true, "; no edge-agent.yaml found and no --thing/--role-alias/--endpoint given: config not written; edge-agent run needs one at "},
		{"kept identity", "", false, "; no config at "},
		{"existing config", agentYAML, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			if _, err := Run(context.Background(), tg.options(DirSource{Dir: writeDir(t, dev.files())})); err != nil {
				t.Fatal(err)
			}
			if tt.existing != "" {
				if err := os.MkdirAll(filepath.Dir(tg.config), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(tg.config, []byte(tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			opts := tg.options(DirSource{Dir: writeDir(t, dev.files())})
			opts.Force = tt.force

			res, err := Run(context.Background(), opts)

			if err != nil {
				t.Fatal(err)
			}
			got := res.String()
			if tt.want == "" && strings.Contains(got, "needs one") {
				t.Errorf("got %q, want no remark about a missing config", got)
			}
			if tt.want != "" && (!strings.Contains(got, tt.want) || !strings.Contains(got, tg.config)) {
				t.Errorf("got %q, want it to contain %q and %s", got, tt.want, tg.config)
			}
		})
	}
}

func TestRunFromURLs(t *testing.T) {
	dev := newDevice(t)
	files := dev.files()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/bucket/")
		if r.URL.Query().Get("X-Amz-Signature") != "s3cr3t" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if data, ok := files[name]; ok {
			w.Write(data)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	urls := map[string]string{}
	for name := range files {
		urls[name] = srv.URL + "/bucket/" + name + "?X-Amz-Signature=s3cr3t"
	}
	tg := newTarget(t)

	_, err := Run(context.Background(), tg.options(URLSource{URLs: urls, Client: srv.Client()}))
	if err != nil {
		t.Fatal(err)
	}

	if got, want := tg.fingerprint(t), dev.fingerprint(t); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestRunRejectsBadInput installs a good identity, then tries each bad
// input with --force and checks its message and that the old identity and
// config are intact.
func TestRunRejectsBadInput(t *testing.T) {
	cleanAWSEnv(t)
	good := newDevice(t)
	other := newDevice(t)
	expired := good.ca.Issue("old", certtest.ECP256, testNow.AddDate(-2, 0, 0), testNow.AddDate(0, 0, -1))
	huge := bytes.Repeat([]byte("A"), 2<<20)

	tests := []struct {
		name   string
		mod    func(files map[string][]byte)
		want   []string
		wantIs error
	}{
		{"corrupt PEM", func(f map[string][]byte) {
			f[certstore.CertFile] = []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
		},
			[]string{"check files from s3://authorization-files/dev/", "device.pem.crt"}, nil},
		{"mismatched key", func(f map[string][]byte) { f[certstore.KeyFile] = good.leaf.KeyPEM },
			[]string{"private.pem.key", "public keys differ"}, certstore.ErrKeyMismatch},
		{"expired certificate", func(f map[string][]byte) {
			f[certstore.CertFile], f[certstore.KeyFile] = expired.CertPEM, expired.KeyPEM
		},
			[]string{"device.pem.crt", "expired", "device clock is 2026-08-01T12:00:00Z"}, certstore.ErrExpired},
		{"missing object", func(f map[string][]byte) { delete(f, certstore.KeyFile) },
			[]string{"s3://authorization-files/dev/private.pem.key", `no object "dev/private.pem.key" in bucket "authorization-files"`, "NoSuchKey"}, ErrNotFound},
		{"wrong CA", func(f map[string][]byte) { f[certstore.CAFile] = other.leaf.CertPEM },
			[]string{"AmazonRootCA1.pem", "not a CA certificate"}, nil},
		{"huge object", func(f map[string][]byte) { f[certstore.CAFile] = huge },
			[]string{"s3://authorization-files/dev/AmazonRootCA1.pem", "2097152 bytes", "1048576-byte limit"}, ErrTooLarge},
		{"unknown config key", func(f map[string][]byte) { f[ConfigFile] = []byte("thing: x\n") },
			[]string{"edge-agent.yaml from s3://authorization-files/dev/", `unknown key "thing"`}, nil},
		{"bad config value", func(f map[string][]byte) {
			f[ConfigFile] = []byte("credential_endpoint: abc-ats.iot.eu-west-1.amazonaws.com\n")
		},
			[]string{"credential_endpoint", "data endpoint"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			if _, err := Run(context.Background(), withSettings(tg.options(DirSource{Dir: writeDir(t, good.files())}))); err != nil {
				t.Fatal(err)
			}
			cfgBefore, _ := os.ReadFile(tg.config)
			s3 := newFakeS3(t)
			files := other.files()
			tt.mod(files)
			s3.putFiles(t, "dev/", files)
			opts := tg.options(s3.source(t, "dev"))
			opts.Force = true

			_, err := Run(context.Background(), opts)

			if err == nil {
				t.Fatal("got no error, want one")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if got, want := tg.fingerprint(t), good.fingerprint(t); got != want {
				t.Errorf("identity after failure: got %s, want the previous %s", got, want)
			}
			if cfgAfter, _ := os.ReadFile(tg.config); !bytes.Equal(cfgAfter, cfgBefore) {
				t.Errorf("config changed after a failed bootstrap")
			}
		})
	}
}

func withSettings(o Options) Options {
	o.Settings = Settings{ThingName: "sensor-0042", RoleAlias: "fleet-a",
		CredentialEndpoint: "c1.credentials.iot.eu-west-1.amazonaws.com"}
	return o
}

func TestRunKeepsValidIdentityUnlessForced(t *testing.T) {
	first, second := newDevice(t), newDevice(t)
	tg := newTarget(t)
	if _, err := Run(context.Background(), tg.options(DirSource{Dir: writeDir(t, first.files())})); err != nil {
		t.Fatal(err)
	}

	res, err := Run(context.Background(), tg.options(failSource{t}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyInstalled || !strings.Contains(res.String(), "already installed and valid") {
		t.Errorf("got %q, want already installed and valid", res)
	}
	if got, want := tg.fingerprint(t), first.fingerprint(t); got != want {
		t.Errorf("got %s, want the first identity %s", got, want)
	}

	opts := tg.options(DirSource{Dir: writeDir(t, second.files())})
	opts.Force = true
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got, want := tg.fingerprint(t), second.fingerprint(t); got != want {
		t.Errorf("after --force: got %s, want the second identity %s", got, want)
	}
}

func TestRunReplacesExpiredIdentity(t *testing.T) {
	old, next := newDevice(t), newDevice(t)
	tg := newTarget(t)
	if _, err := Run(context.Background(), tg.options(DirSource{Dir: writeDir(t, old.files())})); err != nil {
		t.Fatal(err)
	}
	later := testNow.AddDate(1, 1, 0)
	next.leaf = next.ca.Issue("renewed", certtest.ECP256, later.Add(-time.Hour), later.AddDate(1, 0, 0))
	opts := tg.options(DirSource{Dir: writeDir(t, next.files())})
	opts.Now = func() time.Time { return later }

	res, err := Run(context.Background(), opts)

	if err != nil || res.AlreadyInstalled {
		t.Fatalf("got (%v, %v), want the expired identity replaced", res, err)
	}
}

func TestRunConfigSettings(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		fetched  string
		settings Settings
		check    func(t *testing.T, c config.Config)
	}{
		{"settings override edge-agent.yaml", "", agentYAML,
			Settings{ThingName: "sensor-0099", CredentialEndpoint: "zz.credentials.iot.us-east-1.amazonaws.com"},
			func(t *testing.T, c config.Config) {
				if c.ThingName != "sensor-0099" || c.RoleAlias != "fleet-a" || c.Region != "us-east-1" {
					t.Errorf("got thing %q alias %q region %q, want sensor-0099, fleet-a, us-east-1 (from the endpoint)", c.ThingName, c.RoleAlias, c.Region)
				}
			}},
		{"settings merge into the existing config", "socket:\n  group: apps\n", "",
			Settings{RoleAlias: "fleet-b"},
			func(t *testing.T, c config.Config) {
				if c.RoleAlias != "fleet-b" || c.Socket.Group != "apps" {
					t.Errorf("got alias %q group %q, want fleet-b and the existing group", c.RoleAlias, c.Socket.Group)
				}
			}},
		{"edge-agent.yaml replaces the existing config", "socket:\n  group: apps\n", agentYAML, Settings{},
			func(t *testing.T, c config.Config) {
				if c.Socket.Group != "" || c.ThingName != "sensor-0042" {
					t.Errorf("got group %q thing %q, want the fetched file only", c.Socket.Group, c.ThingName)
				}
			}},
		{"custom endpoint", "", "", Settings{CredentialEndpoint: "localhost:8443", AllowCustomEndpoint: true},
			func(t *testing.T, c config.Config) {
				if !c.AllowCustomEndpoint || c.CredentialEndpoint != "localhost:8443" || c.Region != "" {
					t.Errorf("got %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newDevice(t)
			files := dev.files()
			if tt.fetched != "" {
				files[ConfigFile] = []byte(tt.fetched)
			}
			tg := newTarget(t)
			if tt.existing != "" {
				os.MkdirAll(strings.TrimSuffix(tg.config, "/config.yaml"), 0o755)
				os.WriteFile(tg.config, []byte(tt.existing), 0o640)
			}
			opts := tg.options(DirSource{Dir: writeDir(t, files)})
			opts.Settings = tt.settings

			if _, err := Run(context.Background(), opts); err != nil {
				t.Fatal(err)
			}

			c, err := config.ParseFile(tg.config)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRunVerify(t *testing.T) {
	dev := newDevice(t)
	tests := []struct {
		name      string
		settings  Settings
		verifyErr error
		wantErr   string
	}{
		{"passes", Settings{ThingName: "t", RoleAlias: "a", CredentialEndpoint: "c.credentials.iot.eu-west-1.amazonaws.com"}, nil, ""},
		{"fails", Settings{ThingName: "t", RoleAlias: "a", CredentialEndpoint: "c.credentials.iot.eu-west-1.amazonaws.com"},
			errors.New("credentials provider said 403 Forbidden"), "verify identity (nothing installed): credentials provider said 403"},
		{"incomplete config", Settings{ThingName: "t"}, nil, "verify needs a complete configuration: config: role_alias: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			opts := tg.options(DirSource{Dir: writeDir(t, dev.files())})
			opts.Settings = tt.settings
			called := false
			opts.Verify = func(_ context.Context, id *certstore.Identity, cfg config.Config) error {
				called = true
				if id.Fingerprint != dev.fingerprint(t) || cfg.ThingName != "t" {
					t.Errorf("verify got fingerprint %s thing %q", id.Fingerprint, cfg.ThingName)
				}
				return tt.verifyErr
			}

			res, err := Run(context.Background(), opts)

			if tt.wantErr == "" {
				if err != nil || !res.Verified || !called {
					t.Fatalf("got (%+v, %v), want verified", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if _, err := certstore.Load(tg.identity, testNow); err == nil {
				t.Errorf("identity installed although verify failed")
			}
		})
	}
}
