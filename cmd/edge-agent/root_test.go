package main

import "testing"

func TestRootUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"--version", []string{"--version"}, versionLine() + "\n", ""},
		{"version command", []string{"version"}, versionLine() + "\n", ""},
		{"unknown flag", []string{"status", "--jsn"}, "", "unknown flag: --jsn; run 'edge-agent status --help'"},
		{"unknown root flag", []string{"--verbose"}, "", "unknown flag: --verbose; run 'edge-agent --help'"},
		{"unknown command with a suggestion", []string{"stauts"}, "",
			`unknown command "stauts" for "edge-agent" (did you mean status?); run 'edge-agent --help'`},
		{"unknown command", []string{"frobnicate"}, "", `unknown command "frobnicate" for "edge-agent"; run 'edge-agent --help'`},
		{"argument to a command without any", []string{"status", "now"}, "", `unknown command "now" for "edge-agent status"; run 'edge-agent status --help'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCmd(t, tt.args...)

			if tt.wantErr == "" {
				if err != nil || out != tt.wantOut {
					t.Fatalf("got %q, %v, want %q and no error", out, err, tt.wantOut)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
