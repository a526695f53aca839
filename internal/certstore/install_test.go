package certstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
)

// crashOps passes the first n steps to the real file system and fails
// every later one without effect, as if the process died after step n.
type crashOps struct {
	osOps
	n, steps int
}

var errCrash = errors.New("simulated crash")

func (c *crashOps) step() error {
	c.steps++
	if c.steps > c.n {
		return errCrash
	}
	return nil
}

func (c *crashOps) MkdirAll(p string, m fs.FileMode) error {
	return c.do(func() error { return c.osOps.MkdirAll(p, m) })
}
func (c *crashOps) Mkdir(p string, m fs.FileMode) error {
	return c.do(func() error { return c.osOps.Mkdir(p, m) })
}
func (c *crashOps) Chmod(p string, m fs.FileMode) error {
	return c.do(func() error { return c.osOps.Chmod(p, m) })
}
func (c *crashOps) Chown(p string, u, g int) error {
	return c.do(func() error { return c.osOps.Chown(p, u, g) })
}
func (c *crashOps) Lchown(p string, u, g int) error {
	return c.do(func() error { return c.osOps.Lchown(p, u, g) })
}
func (c *crashOps) WriteFile(p string, d []byte, m fs.FileMode) error {
	return c.do(func() error { return c.osOps.WriteFile(p, d, m) })
}
func (c *crashOps) Symlink(t, l string) error {
	return c.do(func() error { return c.osOps.Symlink(t, l) })
}
func (c *crashOps) Link(o, n string) error { return c.do(func() error { return c.osOps.Link(o, n) }) }
func (c *crashOps) Rename(o, n string) error {
	return c.do(func() error { return c.osOps.Rename(o, n) })
}
func (c *crashOps) RemoveAll(p string) error {
	return c.do(func() error { return c.osOps.RemoveAll(p) })
}
func (c *crashOps) SyncDir(p string) error { return c.do(func() error { return c.osOps.SyncDir(p) }) }

func (c *crashOps) do(op func() error) error {
	if err := c.step(); err != nil {
		return err
	}
	return op()
}

// fullDiskOps fails the write of one file half-way with ENOSPC.
type fullDiskOps struct {
	osOps
	failName string
}

func (f fullDiskOps) WriteFile(p string, d []byte, m fs.FileMode) error {
	if filepath.Base(p) != f.failName {
		return f.osOps.WriteFile(p, d, m)
	}
	if err := f.osOps.WriteFile(p, d[:len(d)/2], m); err != nil {
		return err
	}
	return &fs.PathError{Op: "write", Path: p, Err: syscall.ENOSPC}
}

func mustInstall(t *testing.T, dir string, f Files) {
	t.Helper()
	if err := Install(dir, f, testNow); err != nil {
		t.Fatal(err)
	}
}

func fingerprintOf(t *testing.T, f Files) string {
	t.Helper()
	id, err := Parse(f, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return id.Fingerprint
}

func TestInstallAndLoad(t *testing.T) {
	for _, kt := range []certtest.KeyType{certtest.RSA2048, certtest.ECP256} {
		t.Run(string(kt), func(t *testing.T) {
			fx := newFixture(t, kt)
			dir := filepath.Join(t.TempDir(), "identity")

			mustInstall(t, dir, fx.files())
			id, err := Load(dir, testNow)
			if err != nil {
				t.Fatal(err)
			}

			if got, want := id.Fingerprint, fingerprintOf(t, fx.files()); got != want {
				t.Errorf("fingerprint: got %s, want %s", got, want)
			}
			checkModes(t, dir)
		})
	}
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	want := map[string]fs.FileMode{"": DirMode, CertFile: CertMode, KeyFile: KeyMode, CAFile: CertMode}
	for name, mode := range want {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: got mode %04o, want %04o", name, got, mode)
		}
	}
}

func TestInstallReplacesAndCleansUp(t *testing.T) {
	a, b := newFixture(t, certtest.ECP256), newFixture(t, certtest.RSA2048)
	dir := t.TempDir()

	mustInstall(t, dir, a.files())
	mustInstall(t, dir, b.files())

	id, err := Load(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.Fingerprint, fingerprintOf(t, b.files()); got != want {
		t.Errorf("got %s, want the second identity %s", got, want)
	}
	if got := sets(t, dir); len(got) != 1 {
		t.Errorf("got sets %v, want exactly one after cleanup", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil || string(data) != string(b.leaf.KeyPEM) {
		t.Errorf("public name %s: got %d bytes (%v), want the new key", KeyFile, len(data), err)
	}
}

func sets(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), setPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestInstallRefusesInvalidAndKeepsOld(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	other := newFixture(t, certtest.ECP256)
	dir := t.TempDir()
	mustInstall(t, dir, fx.files())

	bad := fx.files()
	bad.Key = other.leaf.KeyPEM
	err := Install(dir, bad, testNow)

	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("got %v, want ErrKeyMismatch", err)
	}
	assertLoads(t, dir, fingerprintOf(t, fx.files()))
}

func assertLoads(t *testing.T, dir string, want ...string) {
	t.Helper()
	id, err := Load(dir, testNow)
	if err != nil {
		t.Fatalf("load after failure: %v", err)
	}
	for _, w := range want {
		if id.Fingerprint == w {
			return
		}
	}
	t.Errorf("got fingerprint %s, want one of %v", id.Fingerprint, want)
}

func TestInstallFullDiskKeepsOld(t *testing.T) {
	for _, name := range []string{CertFile, KeyFile, CAFile} {
		t.Run(name, func(t *testing.T) {
			old, next := newFixture(t, certtest.ECP256), newFixture(t, certtest.ECP256)
			dir := t.TempDir()
			mustInstall(t, dir, old.files())

			err := install(fullDiskOps{failName: name}, dir, next.files(), testNow, nil)

			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want ENOSPC", err)
			}
			if got := strings.Count(err.Error(), "/"+name); got != 1 {
				t.Errorf("got %q, want it to name %s once (got %d)", err, name, got)
			}
			wantHint := "no space left on device; free some space on the file system of " + dir + " and run again; the previous identity is unchanged"
			if !strings.HasSuffix(err.Error(), wantHint) {
				t.Errorf("got %q, want it to end with %q", err, wantHint)
			}
			assertLoads(t, dir, fingerprintOf(t, old.files()))
			if got := sets(t, dir); len(got) != 1 {
				t.Errorf("got sets %v, want only the old one (the partial set removed)", got)
			}
		})
	}
}

// TestInstallCrashAtEveryStep stops an install after each possible step and
// checks that the folder loads as the whole old or the whole new identity,
// and that a later install succeeds and cleans up.
func TestInstallCrashAtEveryStep(t *testing.T) {
	old, next := newFixture(t, certtest.ECP256), newFixture(t, certtest.RSA2048)
	oldFP, nextFP := fingerprintOf(t, old.files()), fingerprintOf(t, next.files())

	layouts := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string // acceptable fingerprints after a crash
	}{
		{"over installed set", func(t *testing.T, dir string) { mustInstall(t, dir, old.files()) }, []string{oldFP, nextFP}},
		{"over hand-made folder", func(t *testing.T, dir string) { handMade(t, dir, old.files()) }, []string{oldFP, nextFP}},
		{"into empty folder", func(*testing.T, string) {}, nil},
	}
	for _, lt := range layouts {
		t.Run(lt.name, func(t *testing.T) {
			total := countSteps(t, lt.setup, next.files(), nil)
			for n := 0; n <= total; n++ {
				dir := filepath.Join(t.TempDir(), "identity")
				lt.setup(t, dir)

				err := install(&crashOps{n: n}, dir, next.files(), testNow, nil)
				if err != nil && !errors.Is(err, errCrash) {
					t.Fatalf("crash after step %d: got %v, want the simulated crash or nil (crash during cleanup)", n, err)
				}

				checkAfterCrash(t, dir, n, lt.want, nextFP)
				mustInstall(t, dir, next.files())
				if got := sets(t, dir); len(got) != 1 {
					t.Errorf("crash after step %d, then install: got sets %v, want one", n, got)
				}
			}
		})
	}
}

func countSteps(t *testing.T, setup func(*testing.T, string), f Files, owner *Owner) int {
	dir := filepath.Join(t.TempDir(), "identity")
	setup(t, dir)
	c := &crashOps{n: 1 << 30}
	if err := install(c, dir, f, testNow, owner); err != nil {
		t.Fatal(err)
	}
	return c.steps
}

// checkAfterCrash accepts one of want; with no old identity (want nil) it
// accepts "not installed" or the new identity.
func checkAfterCrash(t *testing.T, dir string, n int, want []string, nextFP string) {
	t.Helper()
	id, err := Load(dir, testNow)
	switch {
	case want == nil && errors.Is(err, fs.ErrNotExist):
	case want == nil && err == nil && id.Fingerprint == nextFP:
	case want != nil && err == nil && (id.Fingerprint == want[0] || id.Fingerprint == want[1]):
	default:
		t.Errorf("crash after step %d: got (%v, %v), want old or new identity", n, id, err)
	}
}

func handMade(t *testing.T, dir string, f Files) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		data []byte
		mode fs.FileMode
	}{CertFile: {f.Cert, 0o644}, KeyFile: {f.Key, 0o600}, CAFile: {f.CA, 0o644}} {
		if err := os.WriteFile(filepath.Join(dir, name), c.data, c.mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadHandMadeFolder(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	dir := t.TempDir()
	handMade(t, dir, fx.files())

	assertLoads(t, dir, fingerprintOf(t, fx.files()))
}

func TestLoadPermissions(t *testing.T) {
	tests := []struct {
		name string
		path string
		mode fs.FileMode
		want string
	}{
		{"key readable by group", KeyFile, 0o640, "chmod 600"},
		{"key readable by all", KeyFile, 0o644, "mode 0644 is broader than 0600"},
		{"cert writable by all", CertFile, 0o666, "chmod 644"},
		{"CA writable by group", CAFile, 0o664, "chmod 644"},
		{"folder open to all", "", 0o755, "chmod 700"},
		{"key stricter is fine", KeyFile, 0o400, ""},
		{"cert stricter is fine", CertFile, 0o600, ""},
		{"folder stricter is fine", "", 0o500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, certtest.ECP256)
			dir := filepath.Join(t.TempDir(), "identity")
			mustInstall(t, dir, fx.files())
			p := filepath.Join(dir, tt.path)
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o700) })

			_, err := Load(dir, testNow)

			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got %v, want an error naming %s and containing %q", err, p, tt.want)
			}
		})
	}
}

func TestLoadErrorsNamePaths(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	dir := t.TempDir()
	mustInstall(t, dir, fx.files())

	_, err := Load(dir, testNow.AddDate(3, 0, 0))
	if !errors.Is(err, ErrExpired) || !strings.HasPrefix(err.Error(), filepath.Join(dir, CertFile)+":") {
		t.Errorf("got %v, want ErrExpired naming %s", err, filepath.Join(dir, CertFile))
	}

	_, err = Load(filepath.Join(dir, "missing"), testNow)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "edge-agent bootstrap") {
		t.Errorf("got %v, want fs.ErrNotExist with the bootstrap hint", err)
	}
}
