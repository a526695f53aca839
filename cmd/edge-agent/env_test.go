package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/config"
)

func TestEnvFormats(t *testing.T) {
	cfg := config.Default()
	cfg.Region = "eu-west-1"
	cfg.TCP.Port = 51080
	cfg.IMDS.Port = 51081
	off := cfg
	off.TCP.Port = 0

	tests := []struct {
		name, format, profile string
		cfg                   config.Config
		want                  []string
		wantErr               string
	}{
		{"sh", "sh", "", cfg, []string{
			"export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:51080/v1/credentials\n",
			"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/edge-agent/token\n",
			"# export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat /run/edge-agent/token)\"\n",
			"# export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:51081/\n",
		}, ""},
		{"sh without tcp", "sh", "", off, nil, "the TCP door is off: set tcp.port in the config (then restart the agent) or use --format profile for credential_process"},
		{"named profile", "profile", "edge", cfg, []string{
			"[profile edge]\n",
			"credential_process = /usr/bin/edge-agent credential-process --socket /run/edge-agent/agent.sock\n",
			"region = eu-west-1\n",
		}, ""},
		{"default profile", "profile", "default", cfg, []string{"\n[default]\n"}, ""},
		{"systemd", "systemd", "", cfg, []string{
			"[Service]\nEnvironment=AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:51080/v1/credentials\n",
		}, ""},
		{"systemd without tcp", "systemd", "", off, nil, "the TCP door is off: set tcp.port in the config"},
		{"profile without tcp", "profile", "edge", off, []string{"credential_process = "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			err := envFormats[tt.format](&b, envInput{cfg: tt.cfg, exe: "/usr/bin/edge-agent", profile: tt.profile})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one with %q", err, tt.wantErr)
				}
				if b.Len() != 0 {
					t.Errorf("got stdout %q, want nothing for eval to run", b.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("got\n%s\nwant it to contain %q", b.String(), w)
				}
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/run/edge-agent/token", "/run/edge-agent/token"},
		{"/tmp/a b", "'/tmp/a b'"},
		{"it's", `'it'\''s'`},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEnvCmdTCPOffFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("tcp:\n  port: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ format string }{{"sh"}, {"systemd"}}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, err := runCmd(t, "env", "--config", path, "--format", tt.format)

			checkCmd(t, out, err, "", "the TCP door is off: set tcp.port in the config (then restart the agent) or use --format profile for credential_process")
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}
