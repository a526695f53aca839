package credserver

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureTokenCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "token")

	tok, err := EnsureToken(path)
	if err != nil {
		t.Fatalf("EnsureToken() = %v", err)
	}

	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, tok) {
		t.Errorf("file holds %d bytes, returned %d; want the same token", len(onDisk), len(tok))
	}
	if len(tok) != 43 || bytes.ContainsAny(tok, "\r\n \t=") {
		t.Errorf("token is %d bytes with whitespace or padding: want 43 base64url bytes, no trailing newline", len(tok))
	}
	checkMode(t, path, TokenMode)

	again, err := EnsureToken(path)
	if err != nil || !bytes.Equal(again, tok) {
		t.Errorf("second EnsureToken() = (same %v, %v), want the same token and nil", bytes.Equal(again, tok), err)
	}
	other, _ := EnsureToken(filepath.Join(t.TempDir(), "token"))
	if bytes.Equal(other, tok) {
		t.Errorf("two fresh tokens are equal")
	}
}

func TestEnsureTokenExisting(t *testing.T) {
	good := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"0640", good, 0o640, ""},
		{"0600", good, 0o600, ""},
		{"0400", good, 0o400, ""},
		{"world readable", good, 0o644, "broader than 0640"},
		{"group writable", good, 0o660, "broader than 0640"},
		{"trailing newline", good + "\n", 0o640, "trailing newline"},
		{"inner space", "0123456789 abcdef0123", 0o640, "offset 10"},
		{"too short", "abc", 0o640, "want 16 to 1024"},
		{"empty", "", 0o640, "want 16 to 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)

			tok, err := EnsureToken(path)

			if tt.wantErr == "" {
				if err != nil || string(tok) != tt.content {
					t.Fatalf("EnsureToken() = %v, want the file's token", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("EnsureToken() = %v, want error containing %q", err, tt.wantErr)
			}
			if tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Errorf("error %q reveals the token", err)
			}
		})
	}
}

func TestEnsureTokenSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	os.WriteFile(target, []byte("0123456789abcdef0123"), 0o640)
	link := filepath.Join(dir, "token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}

	if _, err := EnsureToken(link); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("EnsureToken(symlink) = %v, want a not-a-regular-file error", err)
	}
}
