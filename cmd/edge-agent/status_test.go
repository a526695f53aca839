package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/credserver"
)

// cmdSource is a credserver.Source for the command tests.
type cmdSource struct {
	creds  credserver.Credentials
	err    error
	status map[string]any
}

func (s cmdSource) Get(context.Context) (credserver.Credentials, error) { return s.creds, s.err }
func (s cmdSource) Status() any                                         { return s.status }

// startAgent serves src on a socket and returns its path.
func startAgent(t *testing.T, src cmdSource, uids []int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := credserver.ListenUnix(path, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := credserver.New(credserver.Options{Source: src, AllowedUIDs: uids})
	done := make(chan error, 1)
	go func() { done <- srv.ServeUnix(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	return path
}

func runCmd(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	err = execute(root)
	return out.String(), err
}

func TestCredentialProcessCmd(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	good := cmdSource{creds: credserver.Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "sk", SessionToken: "st", Expiration: exp}}
	down := cmdSource{err: credserver.NewUnavailableError("configuration error: role alias does not exist", nil)}

	tests := []struct {
		name       string
		socket     string
		wantOut    string
		wantErrSub string
	}{
		{"served", startAgent(t, good, []int{0}), `"Version":1,"AccessKeyId":"ASIAX","SecretAccessKey":"sk","SessionToken":"st","Expiration":"` + exp.Format(time.RFC3339) + `"`, ""},
		{"unavailable", startAgent(t, down, []int{0}), "", "configuration error: role alias does not exist"},
		{"not allowed", startAgent(t, good, []int{4242}), "", "uid 0 is not allowed: add it to socket.allowed_uids"},
		{"no agent", filepath.Join(t.TempDir(), "none.sock"), "", "is edge-agent running? (systemctl status edge-agent)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "not allowed" && os.Getuid() != 0 {
				t.Skip("the agent allows its own non-root uid")
			}

			out, err := runCmd(t, "credential-process", "--socket", tt.socket)

			checkCmd(t, out, err, tt.wantOut, tt.wantErrSub)
		})
	}
}

func TestStatusCmd(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	st := func(state, exp string) cmdSource {
		return cmdSource{status: map[string]any{"state": state, "thing_name": "sensor-0042", "role_alias": "fleet-a",
			"expiration": exp, "clock_skew_seconds": 2, "last_error": map[string]string{"class": "transient", "message": "timeout"}}}
	}

	tests := []struct {
		name       string
		src        cmdSource
		json       bool
		wantOut    string
		wantErrSub string
	}{
		{"serving", st("serving", future), false, "thing                  sensor-0042", ""},
		{"degraded", st("degraded", future), false, "last error             transient: timeout", ""},
		{"json", st("serving", future), true, `"state":"serving"`, ""},
		{"unavailable", st("unavailable", ""), false, "credentials expire     -", "not serving valid credentials (state unavailable)"},
		{"serving but expired", st("serving", past), true, `"state":"serving"`, "not serving"},
		{"starting", st("starting", ""), false, "state                  starting", "state starting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"status", "--socket", startAgent(t, tt.src, []int{0})}
			if tt.json {
				args = append(args, "--json")
			}

			out, err := runCmd(t, args...)

			checkCmd(t, out, err, tt.wantOut, tt.wantErrSub)
		})
	}
}

func checkCmd(t *testing.T, out string, err error, wantOut, wantErrSub string) {
	t.Helper()
	if !strings.Contains(out, wantOut) {
		t.Errorf("stdout = %q, want it to contain %q", out, wantOut)
	}
	if wantErrSub == "" {
		if err != nil {
			t.Errorf("err = %v, want nil", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), wantErrSub) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line containing %q", err, wantErrSub)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code = %d, want 1", exitCode(err))
	}
}

func TestStatusWhen(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }

	tests := []struct {
		name string
		in   string
		want string
	}{
		{"a year ahead", at(8758*time.Hour + 59*time.Minute + 44*time.Second), "(in 364d 23h)"},
		{"whole days", at(48 * time.Hour), "(in 2d)"},
		{"hours and minutes", at(5*time.Hour + 2*time.Minute + 10*time.Second), "(in 5h 2m)"},
		{"minutes", at(31*time.Minute + 12*time.Second), "(in 31m)"},
		{"rounds up to the next unit", at(59*time.Minute + 50*time.Second), "(in 1h)"},
		{"seconds", at(42 * time.Second), "(in 42s)"},
		{"just past", at(-3 * time.Second), "(3s ago)"},
		{"past minutes", at(-31 * time.Minute), "(31m ago)"},
		{"past days", at(-50 * time.Hour), "(2d 2h ago)"},
		{"this second", at(0), "(now)"},
		{"not a time", "soon", "soon"},
		{"unknown", "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := when(tt.in, now)
			if !strings.HasSuffix(got, tt.want) {
				t.Errorf("when(%q) = %q, want it to end with %q", tt.in, got, tt.want)
			}
			if strings.Contains(got, "in 0s") {
				t.Errorf("when(%q) = %q, want no \"in 0s\"", tt.in, got)
			}
		})
	}
}
