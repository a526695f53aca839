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

// nobody is the owner the tests give identities to.
var nobody = Owner{UID: 65534, GID: 65534}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
}

// ownerOf returns the owner of path itself (not of a link's target).
func ownerOf(t *testing.T, path string) Owner {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return Owner{UID: int(sys.Uid), GID: int(sys.Gid)}
}

// installedPaths lists dir, .current, the set it names with its files, and
// the public names.
func installedPaths(t *testing.T, dir string) []string {
	t.Helper()
	paths := append([]string{dir}, currentSetPaths(t, dir)...)
	for _, pf := range publicFiles {
		paths = append(paths, filepath.Join(dir, pf.name))
	}
	return paths
}

// currentSetPaths lists .current, the set it names and the set's files.
func currentSetPaths(t *testing.T, dir string) []string {
	t.Helper()
	link := filepath.Join(dir, currentLink)
	set, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{link, filepath.Join(dir, set)}
	for _, pf := range publicFiles {
		paths = append(paths, filepath.Join(dir, set, pf.name))
	}
	return paths
}

func assertOwned(t *testing.T, want Owner, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if got := ownerOf(t, p); got != want {
			t.Errorf("%s: got owner %d:%d, want %d:%d", p, got.UID, got.GID, want.UID, want.GID)
		}
	}
}

func TestInstallAsOwnsEverything(t *testing.T) {
	needRoot(t)
	old, next := newFixture(t, certtest.ECP256), newFixture(t, certtest.RSA2048)
	layouts := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"into empty folder", func(*testing.T, string) {}},
		{"over root-owned set", func(t *testing.T, dir string) { mustInstall(t, dir, old.files()) }},
		{"over hand-made folder", func(t *testing.T, dir string) { handMade(t, dir, old.files()) }},
	}
	for _, lt := range layouts {
		t.Run(lt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "identity")
			lt.setup(t, dir)

			if err := InstallAs(dir, next.files(), testNow, nobody); err != nil {
				t.Fatal(err)
			}

			assertOwned(t, nobody, installedPaths(t, dir)...)
			checkModes(t, dir)
			assertLoads(t, dir, fingerprintOf(t, next.files()))
			if got := sets(t, dir); len(got) != 1 {
				t.Errorf("got sets %v, want one", got)
			}
		})
	}
}

func TestInstallKeepsOwnerOfInstaller(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	dir := filepath.Join(t.TempDir(), "identity")

	mustInstall(t, dir, fx.files())

	me := Owner{UID: os.Geteuid(), GID: os.Getegid()}
	assertOwned(t, me, installedPaths(t, dir)...)
}

// TestInstallAsCrashNeverShowsInstallerOwnedNewSet stops InstallAs after
// each step and checks that whenever .current names the new identity, that
// set, its files and .current already belong to the owner.
func TestInstallAsCrashNeverShowsInstallerOwnedNewSet(t *testing.T) {
	needRoot(t)
	old, next := newFixture(t, certtest.ECP256), newFixture(t, certtest.RSA2048)
	nextFP := fingerprintOf(t, next.files())
	setup := func(t *testing.T, dir string) { mustInstall(t, dir, old.files()) }
	total := countSteps(t, setup, next.files(), &nobody)

	for n := 0; n <= total; n++ {
		dir := filepath.Join(t.TempDir(), "identity")
		setup(t, dir)

		err := install(&crashOps{n: n}, dir, next.files(), testNow, &nobody)
		if err != nil && !errors.Is(err, errCrash) {
			t.Fatalf("crash after step %d: got %v, want the simulated crash or nil", n, err)
		}

		checkAfterCrash(t, dir, n, []string{fingerprintOf(t, old.files()), nextFP}, nextFP)
		if id, err := Load(dir, testNow); err == nil && id.Fingerprint == nextFP {
			assertOwned(t, nobody, currentSetPaths(t, dir)...)
		}
	}
}

// chownFailOps fails every chown with EPERM, as for an installer that is
// not root.
type chownFailOps struct{ osOps }

func (chownFailOps) Chown(p string, _, _ int) error {
	return &fs.PathError{Op: "chown", Path: p, Err: syscall.EPERM}
}
func (chownFailOps) Lchown(p string, _, _ int) error {
	return &fs.PathError{Op: "lchown", Path: p, Err: syscall.EPERM}
}

func TestInstallAsChownFailsKeepsOld(t *testing.T) {
	old, next := newFixture(t, certtest.ECP256), newFixture(t, certtest.ECP256)
	dir := t.TempDir()
	mustInstall(t, dir, old.files())

	err := install(chownFailOps{}, dir, next.files(), testNow, &nobody)

	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "install identity "+dir) {
		t.Fatalf("got %v, want EPERM naming the folder", err)
	}
	assertLoads(t, dir, fingerprintOf(t, old.files()))
	if got := sets(t, dir); len(got) != 1 {
		t.Errorf("got sets %v, want only the old one (the new set removed)", got)
	}
}

func TestChown(t *testing.T) {
	needRoot(t)
	fx := newFixture(t, certtest.ECP256)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		paths func(t *testing.T, dir string) []string
	}{
		{"installed set", func(t *testing.T, dir string) { mustInstall(t, dir, fx.files()) }, installedPaths},
		{"hand-made folder", func(t *testing.T, dir string) { handMade(t, dir, fx.files()) },
			func(_ *testing.T, dir string) []string {
				return []string{dir, filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), filepath.Join(dir, CAFile)}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "identity")
			tt.setup(t, dir)

			if err := Chown(dir, nobody); err != nil {
				t.Fatal(err)
			}

			assertOwned(t, nobody, tt.paths(t, dir)...)
			assertLoads(t, dir, fingerprintOf(t, fx.files()))
		})
	}
}

func TestChownErrors(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		want   string
		wantIs error
	}{
		{"missing folder", func(*testing.T, string) {}, "give identity", fs.ErrNotExist},
		{"current points outside", func(t *testing.T, dir string) {
			mustInstall(t, dir, fx.files())
			link := filepath.Join(dir, currentLink)
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc", link); err != nil {
				t.Fatal(err)
			}
		}, `points at "/etc", not at a set`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "identity")
			tt.setup(t, dir)

			err := Chown(dir, nobody)

			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, dir, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}
