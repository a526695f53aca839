package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credserver"
)

// unsetenv unsets name for the test and restores it afterwards.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// writeConfig writes a config file with text in a fresh folder.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClientCmdsFindSocket checks that credential-process and status find
// a socket at a non-default path through the configuration, which need not
// be complete enough for run.
func TestClientCmdsFindSocket(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	src := cmdSource{
		creds:  credserver.Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "sk", SessionToken: "st", Expiration: exp},
		status: map[string]any{"state": "serving", "expiration": exp.Format(time.RFC3339)},
	}
	sock := startAgent(t, src, []int{0})
	nowhere := filepath.Join(t.TempDir(), "none.sock")
	inFile := writeConfig(t, "socket:\n  path: "+sock+"\n")
	elsewhere := writeConfig(t, "socket:\n  path: "+nowhere+"\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErrSub string
	}{
		{"--config", []string{"--config", inFile}, nil, ""},
		{config.PathEnv, nil, map[string]string{config.PathEnv: inFile}, ""},
		{socketEnv + " over the file", nil, map[string]string{config.PathEnv: elsewhere, socketEnv: sock}, ""},
		{"--socket over the config", []string{"--config", elsewhere, "--socket", sock}, nil, ""},
		{"the file's path is used", []string{"--config", elsewhere}, nil, "no agent answers on " + nowhere},
		{"--config missing", []string{"--config", missing}, nil, "find the agent's socket: read config"},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"credential-process", "status"} {
			t.Run(tt.name+" "+cmd, func(t *testing.T) {
				for _, name := range []string{config.PathEnv, socketEnv} {
					unsetenv(t, name)
				}
				for k, v := range tt.env {
					t.Setenv(k, v)
				}

				out, err := runCmd(t, append([]string{cmd}, tt.args...)...)

				wantOut := `"AccessKeyId":"ASIAX"`
				if cmd == "status" {
					wantOut = "serving"
				}
				if tt.wantErrSub != "" {
					wantOut = ""
				}
				checkCmd(t, out, err, wantOut, tt.wantErrSub)
			})
		}
	}
}
