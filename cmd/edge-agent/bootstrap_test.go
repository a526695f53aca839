package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

func runCLI(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), err
}

func authDir(t *testing.T) string {
	t.Helper()
	now := time.Now()
	ca := certtest.NewCA("device CA")
	leaf := ca.Issue("sensor-0042", certtest.ECP256, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		certstore.CertFile: leaf.CertPEM, certstore.KeyFile: leaf.KeyPEM, certstore.CAFile: certstore.DefaultRootsPEM(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBootstrapCommandFromDir(t *testing.T) {
	src := authDir(t)
	base := t.TempDir()
	identity, cfgPath := filepath.Join(base, "identity"), filepath.Join(base, "config.yaml")
	args := []string{"bootstrap", "--from-dir", src, "--identity-dir", identity, "--config", cfgPath,
		"--thing", "sensor-0042", "--role-alias", "fleet-a", "--endpoint", "abc.credentials.iot.eu-west-1.amazonaws.com"}

	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "installed identity into "+identity) {
		t.Errorf("first run: got %q", out)
	}
	cfg, err := config.ParseFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil || cfg.Region != "eu-west-1" {
		t.Errorf("config: got region %q and %v, want a complete config in eu-west-1", cfg.Region, err)
	}

	out, err = runCLI(t, args...)
	if err != nil || !strings.Contains(out, "already installed and valid") || !strings.Contains(out, "updated config "+cfgPath) {
		t.Errorf("second run: got (%q, %v), want already installed and valid, config updated", out, err)
	}
}

func TestBootstrapCommandOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	tests := []struct {
		owner    string
		wantOut  string
		uid, gid uint32
	}{
		{"nobody", "; owner nobody:nogroup", 65534, 65534},
		{"nobody:root", "; owner nobody:root", 65534, 0},
		{"root", "; owner root:root", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.owner, func(t *testing.T) {
			base := t.TempDir()
			identity, cfgPath := filepath.Join(base, "identity"), filepath.Join(base, "config.yaml")

			out, err := runCLI(t, "bootstrap", "--from-dir", authDir(t), "--identity-dir", identity,
				"--config", cfgPath, "--thing", "sensor-0042", "--owner", tt.owner)

			if err != nil || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("got (%q, %v), want output containing %q", out, err, tt.wantOut)
			}
			for path, want := range map[string][2]uint32{
				filepath.Join(identity, certstore.KeyFile): {tt.uid, tt.gid},
				identity: {tt.uid, tt.gid},
				cfgPath:  {0, tt.gid},
			} {
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				sys := st.Sys().(*syscall.Stat_t)
				if got := [2]uint32{sys.Uid, sys.Gid}; got != want {
					t.Errorf("%s: got owner %v, want %v", path, got, want)
				}
			}
		})
	}
}

func TestBootstrapCommandErrors(t *testing.T) {
	src := authDir(t)
	identity := filepath.Join(t.TempDir(), "identity")
	withRegion := authDir(t) // --endpoint host:port names no region
	if err := os.WriteFile(filepath.Join(withRegion, "edge-agent.yaml"), []byte("region: eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{}, "give exactly one source"},
		{"two sources", []string{"--from-dir", src, "--bucket", "b"}, "give exactly one source"},
		{"prefix without bucket", []string{"--from-dir", src, "--prefix", "p"}, "go with --bucket"},
		{"verify refused", []string{"--from-dir", withRegion, "--verify", "--thing", "t", "--role-alias", "a",
			"--allow-custom-endpoint", "--endpoint", "127.0.0.1:1"}, "verify identity (nothing installed)"},
		{"unknown owner", []string{"--from-dir", src, "--owner", "no-such-user-x"}, `--owner: no user "no-such-user-x"`},
		{"bad owner", []string{"--from-dir", src, "--owner", "nobody:"}, "--owner \"nobody:\": want USER or USER:GROUP"},
		{"bad endpoint", []string{"--from-dir", src, "--endpoint", "abc-ats.iot.eu-west-1.amazonaws.com"}, "data endpoint"},
		{"missing folder", []string{"--from-dir", filepath.Join(src, "nope")}, "not found"},
		{"s3 uri as bucket", []string{"--bucket", "s3://b1"}, "give the bucket name only (b1), or use --bucket b1 --prefix P"},
		{"bad bucket", []string{"--bucket", "B_1"}, `bucket name "B_1": character 'B' at position 1 is not allowed`},
		{"bad region", []string{"--bucket", "bk1", "--region", "mars-1"}, `region "mars-1": must be an AWS region such as eu-west-1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bootstrap", "--identity-dir", identity, "--config", filepath.Join(t.TempDir(), "c.yaml")}, tt.args...)

			_, err := runCLI(t, args...)

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has several lines: %q", err)
			}
			if got := exitCode(err); got != 1 {
				t.Errorf("exit code: got %d, want 1", got)
			}
		})
	}
}

func TestParseFromURLs(t *testing.T) {
	const sig = "?X-Amz-Signature=s3cr3t"
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"all three", []string{"cert=https://h/c" + sig, "key=https://h/k" + sig, "ca=https://h/a" + sig}, 3, ""},
		{"with config", []string{"cert=https://h/c", "key=https://h/k", "ca=https://h/a", "config=https://h/y"}, 4, ""},
		{"missing ca and key", []string{"cert=https://h/c" + sig}, 0, "missing ca=, key="},
		{"unknown kind", []string{"https://h/c" + sig}, 0, `got one starting "https"`},
		{"twice", []string{"cert=https://a", "cert=https://b"}, 0, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFromURLs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error shows the signature: %q", err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Errorf("got (%v, %v), want %d URLs", got, err, tt.want)
			}
		})
	}
}

func TestBootstrapCommandTimeout(t *testing.T) {
	testenv.ClearAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-access-key")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	endpoint := "http://" + ln.Addr().String()

	_, err = runCLI(t, "bootstrap", "--bucket", "bk1", "--endpoint-url", endpoint, "--timeout", "300ms",
		"--identity-dir", filepath.Join(t.TempDir(), "identity"), "--config", filepath.Join(t.TempDir(), "c.yaml"))

	want := "gave up after 300ms (--timeout)"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "cannot reach "+endpoint) {
		t.Fatalf("got %v, want %q and cannot reach %s", err, want, endpoint)
	}
}
