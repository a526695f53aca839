package certstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	currentLink = ".current"
	setPrefix   = ".set-"
	tmpSuffix   = ".tmp"
)

// publicFiles are the names readable at dir/<name>, with their modes.
var publicFiles = []struct {
	name string
	mode fs.FileMode
}{{CertFile, CertMode}, {KeyFile, KeyMode}, {CAFile, CertMode}}

// Install checks f with [Parse] and, only if it passes, installs it into
// dir as one set: the files go into a new .set-<id> folder (each written,
// fsynced and given its mode), then the .current symlink is swapped to it
// with rename(2) and dir is fsynced. Older sets are removed afterwards. A
// failure or crash at any step leaves the previous set loadable. A folder
// installed by hand (regular files at the public names) is first adopted as
// the old set, so that it too is replaced atomically.
func Install(dir string, f Files, now time.Time) error {
	return install(osOps{}, dir, f, now, nil)
}

// InstallAs is [Install] that also gives the identity to owner, for a
// service that runs as another user than the installer (which must then be
// root). The new set's folder and files, and the .current link, get their
// owner before .current is swapped to them, so a reader never sees the new
// set owned by the installer. The public names are given to owner as well,
// and dir itself last. Older sets keep their owner until they are removed.
func InstallAs(dir string, f Files, now time.Time, owner Owner) error {
	return install(osOps{}, dir, f, now, &owner)
}

// install does [Install], and with a non-nil owner [InstallAs].
func install(ops fileOps, dir string, f Files, now time.Time, owner *Owner) error {
	if _, err := Parse(f, now); err != nil {
		return err
	}
	f = Files{Cert: normalize(f.Cert), Key: normalize(f.Key), CA: normalize(f.CA)}

	if err := prepareDir(ops, dir); err != nil {
		return installError(dir, err, true)
	}
	if err := adoptHandMade(ops, dir, owner); err != nil {
		return installError(dir, fmt.Errorf("adopt existing files: %w", err), true)
	}

	set, err := writeSet(ops, dir, f, owner)
	if err != nil {
		ops.RemoveAll(filepath.Join(dir, set))
		return installError(dir, err, true)
	}
	if err := swapCurrent(ops, dir, set, owner); err != nil {
		return installError(dir, err, true)
	}
	if err := ensureLinks(ops, dir, owner); err != nil {
		return installError(dir, err, false)
	}
	if err := chownDir(ops, dir, owner); err != nil {
		return installError(dir, err, false)
	}

	cleanup(ops, dir, set)
	return nil
}

// installError says which install of dir failed and, when the file system
// is full, what to do. unchanged tells whether the failure came before the
// new set replaced the old one.
func installError(dir string, err error, unchanged bool) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("install identity %s: %w", dir, err)
	}
	state := "the previous identity is unchanged"
	if !unchanged {
		state = "the new identity is in place but its links may be incomplete"
	}
	return fmt.Errorf("install identity %s: %w; free some space on the file system of %s and run again; %s", dir, err, dir, state)
}

// writeError describes a failed write of path without repeating the path
// when err, as an *fs.PathError, already names it.
func writeError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return fmt.Errorf("write %s: %w", path, err)
}

func prepareDir(ops fileOps, dir string) error {
	if err := ops.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	return ops.Chmod(dir, DirMode)
}

// writeSet writes the three files into a new set folder, gives them to
// owner when not nil, and returns the set's name (relative to dir).
func writeSet(ops fileOps, dir string, f Files, owner *Owner) (string, error) {
	set := newSetName()
	setDir := filepath.Join(dir, set)
	if err := ops.Mkdir(setDir, DirMode); err != nil {
		return set, err
	}

	data := map[string][]byte{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA}
	for _, pf := range publicFiles {
		p := filepath.Join(setDir, pf.name)
		if err := ops.WriteFile(p, data[pf.name], pf.mode); err != nil {
			return set, writeError(p, err)
		}
	}
	if err := chownSet(ops, dir, set, owner); err != nil {
		return set, err
	}
	return set, ops.SyncDir(setDir)
}

func newSetName() string {
	var b [4]byte
	rand.Read(b[:])
	return setPrefix + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + hex.EncodeToString(b[:])
}

// swapCurrent points dir/.current at set with an atomic rename. The new
// link gets its owner before the rename.
func swapCurrent(ops fileOps, dir, set string, owner *Owner) error {
	tmp := filepath.Join(dir, currentLink+tmpSuffix)
	if err := ops.RemoveAll(tmp); err != nil {
		return err
	}
	if err := ops.Symlink(set, tmp); err != nil {
		return err
	}
	if err := lchown(ops, tmp, owner); err != nil {
		return err
	}
	if err := ops.Rename(tmp, filepath.Join(dir, currentLink)); err != nil {
		return fmt.Errorf("switch to the new set: %w", err)
	}
	return ops.SyncDir(dir)
}

// ensureLinks makes each public name a symlink through .current, owned by
// owner when not nil. Once made, the links never change, so later installs
// only swap .current.
func ensureLinks(ops fileOps, dir string, owner *Owner) error {
	changed := false
	for _, pf := range publicFiles {
		p := filepath.Join(dir, pf.name)
		if isCurrentLink(p, pf.name) {
			if err := lchown(ops, p, owner); err != nil {
				return err
			}
			continue
		}
		tmp := filepath.Join(dir, "."+pf.name+tmpSuffix)
		if err := ops.RemoveAll(tmp); err != nil {
			return err
		}
		if err := ops.Symlink(filepath.Join(currentLink, pf.name), tmp); err != nil {
			return err
		}
		if err := lchown(ops, tmp, owner); err != nil {
			return err
		}
		if err := ops.Rename(tmp, p); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return ops.SyncDir(dir)
}

// isCurrentLink reports whether p is a symlink to .current/<name>.
func isCurrentLink(p, name string) bool {
	t, err := os.Readlink(p)
	return err == nil && t == filepath.Join(currentLink, name)
}

// adoptHandMade turns a folder with regular files at the public names and
// no .current into a set, so that replacing it is atomic too: the files
// are hard-linked into a set, .current points at it, and the public names
// become links that show the same old content throughout.
func adoptHandMade(ops fileOps, dir string, owner *Owner) error {
	if _, err := os.Lstat(filepath.Join(dir, currentLink)); err == nil {
		return nil
	}
	var regular []string
	for _, pf := range publicFiles {
		st, err := os.Lstat(filepath.Join(dir, pf.name))
		if err == nil && st.Mode().IsRegular() {
			regular = append(regular, pf.name)
		}
	}
	if len(regular) == 0 {
		return nil
	}

	set := newSetName()
	if err := ops.Mkdir(filepath.Join(dir, set), DirMode); err != nil {
		return err
	}
	for _, name := range regular {
		if err := ops.Link(filepath.Join(dir, name), filepath.Join(dir, set, name)); err != nil {
			return err
		}
	}
	if err := chownSet(ops, dir, set, owner); err != nil {
		return err
	}
	if err := ops.SyncDir(filepath.Join(dir, set)); err != nil {
		return err
	}
	if err := swapCurrent(ops, dir, set, owner); err != nil {
		return err
	}
	return ensureLinks(ops, dir, owner)
}

// cleanup removes every set but keep, and leftover temporary links. It is
// best effort: leftovers are harmless and retried at the next install.
func cleanup(ops fileOps, dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		stale := strings.HasPrefix(n, setPrefix) && n != keep ||
			strings.HasPrefix(n, ".") && strings.HasSuffix(n, tmpSuffix)
		if stale {
			ops.RemoveAll(filepath.Join(dir, n))
		}
	}
	ops.SyncDir(dir)
}
