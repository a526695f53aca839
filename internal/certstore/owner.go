package certstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Owner is the numeric user and group that an identity is given to, such
// as the service user of the agent.
type Owner struct {
	UID, GID int
}

// Chown gives the identity installed in dir to owner: the files and folder
// of the set that .current names, .current itself, the public names (links
// or, in a folder made by hand, files) and, last, dir. It repairs an
// identity that was installed by root for a service that runs as another
// user. Older sets are left alone; the next [Install] removes them. Unlike
// [InstallAs], it is not atomic: a reader in the middle of it may find
// some files still owned by the previous owner, and should retry.
func Chown(dir string, owner Owner) error {
	if err := chownInstalled(osOps{}, dir, owner); err != nil {
		return fmt.Errorf("give identity %s to uid %d, gid %d: %w", dir, owner.UID, owner.GID, err)
	}
	return nil
}

func chownInstalled(ops fileOps, dir string, o Owner) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}

	set, err := os.Readlink(filepath.Join(dir, currentLink))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !isSetName(set):
		return fmt.Errorf("%s points at %q, not at a set; reinstall the identity with edge-agent bootstrap --force",
			filepath.Join(dir, currentLink), set)
	default:
		if err := chownSet(ops, dir, set, &o); err != nil {
			return err
		}
		if err := lchown(ops, filepath.Join(dir, currentLink), &o); err != nil {
			return err
		}
	}

	for _, pf := range publicFiles {
		err := lchown(ops, filepath.Join(dir, pf.name), &o)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return chownDir(ops, dir, &o)
}

// isSetName reports whether name is the plain name of a set folder.
func isSetName(name string) bool {
	return strings.HasPrefix(name, setPrefix) && !strings.ContainsRune(name, filepath.Separator)
}

// chownSet gives the files of dir/set that exist, then the set folder, to
// owner. A nil owner changes nothing.
func chownSet(ops fileOps, dir, set string, owner *Owner) error {
	if owner == nil {
		return nil
	}
	setDir := filepath.Join(dir, set)
	for _, pf := range publicFiles {
		err := lchown(ops, filepath.Join(setDir, pf.name), owner)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return lchown(ops, setDir, owner)
}

// chownDir gives dir itself to owner, following dir if it is a link, as
// prepareDir's chmod does. A nil owner changes nothing.
func chownDir(ops fileOps, dir string, owner *Owner) error {
	if owner == nil {
		return nil
	}
	return ops.Chown(dir, owner.UID, owner.GID)
}

// lchown gives path (a link itself, not its target) to owner. A nil owner
// changes nothing.
func lchown(ops fileOps, path string, owner *Owner) error {
	if owner == nil {
		return nil
	}
	return ops.Lchown(path, owner.UID, owner.GID)
}
