package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var errInjected = errors.New("injected failure")

// failAt is an option that fails the named step of a write.
func failAt(step string) Option {
	return func(o *options) {
		o.fault = func(s string) error {
			if s == step {
				return errInjected
			}
			return nil
		}
	}
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		existing bool
		opts     []Option
		wantMode fs.FileMode
	}{
		{name: "new file default mode", wantMode: 0o600},
		{name: "new file 0640", opts: []Option{Mode(0o640)}, wantMode: 0o640},
		{name: "replace keeps no old mode", existing: true, opts: []Option{Mode(0o644)}, wantMode: 0o644},
		{name: "mode not narrowed by umask", opts: []Option{Mode(0o666)}, wantMode: 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.existing {
				if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			if err := Write(path, []byte("new"), tt.opts...); err != nil {
				t.Fatalf("Write() = %v, want nil", err)
			}

			got, _ := os.ReadFile(path)
			if string(got) != "new" {
				t.Errorf("content: got %q, want %q", got, "new")
			}
			if got := modeOf(t, path); got != tt.wantMode {
				t.Errorf("mode: got %04o, want %04o", got, tt.wantMode)
			}
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("folder holds %v, want only f", got)
			}
		})
	}
}

// TestWriteFailureKeepsOld fails each step in turn: before the rename the
// old file must be untouched, and no temporary file may stay behind.
func TestWriteFailureKeepsOld(t *testing.T) {
	tests := []struct {
		step     string
		wantData string
	}{
		{"chown", "old"},
		{"chmod", "old"},
		{"write", "old"},
		{"sync", "old"},
		{"rename", "old"},
		{"sync folder", "new"}, // the rename is done; only its durability is in doubt
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}

			err := Write(path, []byte("new"), Owner(os.Getuid(), -1), failAt(tt.step))

			if !errors.Is(err, errInjected) {
				t.Fatalf("Write() = %v, want the injected failure", err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.wantData {
				t.Errorf("content: got %q, want %q", got, tt.wantData)
			}
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("folder holds %v, want only f", got)
			}
		})
	}
}

func TestWriteRealFailures(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		err := Write(filepath.Join(t.TempDir(), "no", "f"), []byte("x"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Write() = %v, want not-exist", err)
		}
	})
	t.Run("target is a folder", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sub")
		if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
			t.Fatal(err)
		}

		err := Write(path, []byte("x"))

		if err == nil || !strings.Contains(err.Error(), "rename") {
			t.Errorf("Write() = %v, want a rename error", err)
		}
		if got := entries(t, dir); len(got) != 1 {
			t.Errorf("folder holds %v, want only sub", got)
		}
	})
}

func TestWriteOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	uid, gid := os.Getuid(), os.Getgid()

	if err := Write(path, []byte("x"), Owner(-1, gid)); err != nil {
		t.Fatalf("Write() = %v, want nil", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("owner: got %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
	}
}

func TestWriteNew(t *testing.T) {
	tests := []struct {
		name     string
		existing bool
		opts     []Option
		wantErr  error
		wantData string
		wantMode fs.FileMode
	}{
		{name: "creates", opts: []Option{Mode(0o644)}, wantData: "new", wantMode: 0o644},
		{name: "refuses an existing file", existing: true, wantErr: fs.ErrExist, wantData: "old", wantMode: 0o600},
		{name: "failed write leaves nothing", opts: []Option{failAt("write")}, wantErr: errInjected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if tt.existing {
				if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			err := WriteNew(path, []byte("new"), tt.opts...)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WriteNew() = %v, want %v", err, tt.wantErr)
			}
			got, rerr := os.ReadFile(path)
			if tt.wantData == "" {
				if !errors.Is(rerr, fs.ErrNotExist) {
					t.Errorf("file after failure: got %v, want it removed", rerr)
				}
				return
			}
			if string(got) != tt.wantData {
				t.Errorf("content: got %q, want %q", got, tt.wantData)
			}
			if got := modeOf(t, path); got != tt.wantMode {
				t.Errorf("mode: got %04o, want %04o", got, tt.wantMode)
			}
		})
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir(existing) = %v, want nil", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing) = %v, want not-exist", err)
	}
}
