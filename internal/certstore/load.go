package certstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Load reads the identity in dir and checks it with the rules of [Parse],
// plus permissions no broader than those [Install] sets: the folder 0700,
// the key 0600 (a key readable by group or others is refused), the
// certificate and CA not writable by group or others. Errors name the file
// by its path. A missing identity wraps fs.ErrNotExist.
func Load(dir string, now time.Time) (*Identity, error) {
	if err := checkDirMode(dir); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		id, swapped, err := loadOnce(dir, now)
		if !swapped || attempt == 2 {
			return id, err
		}
	}
}

// loadOnce reads all three files from the set that .current names. It
// reports swapped when a file vanished because an install swapped sets
// meanwhile, so that Load reads again.
func loadOnce(dir string, now time.Time) (*Identity, bool, error) {
	target, _ := os.Readlink(filepath.Join(dir, currentLink))
	base := dir
	if target != "" {
		base = filepath.Join(dir, target)
	}

	var f Files
	dst := map[string]*[]byte{CertFile: &f.Cert, KeyFile: &f.Key, CAFile: &f.CA}
	for _, pf := range publicFiles {
		data, err := readChecked(dir, base, pf.name, pf.mode)
		if errors.Is(err, fs.ErrNotExist) && target != "" {
			now, _ := os.Readlink(filepath.Join(dir, currentLink))
			if now != target {
				return nil, true, fmt.Errorf("identity %s: changed while reading; try again", dir)
			}
		}
		if err != nil {
			return nil, false, err
		}
		*dst[pf.name] = data
	}

	n := names{
		cert: filepath.Join(dir, CertFile),
		key:  filepath.Join(dir, KeyFile),
		ca:   filepath.Join(dir, CAFile),
	}
	id, err := parseNamed(f, n, now)
	return id, false, err
}

// readChecked reads dir/name, through the resolved set base when the name
// is a link through .current or missing, and checks its mode.
func readChecked(dir, base, name string, mode fs.FileMode) ([]byte, error) {
	public := filepath.Join(dir, name)
	src := public
	if _, err := os.Lstat(public); errors.Is(err, fs.ErrNotExist) || isCurrentLink(public, name) {
		src = filepath.Join(base, name)
	}

	fh, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w; install an identity with edge-agent bootstrap", public, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", public, err)
	}
	defer fh.Close()

	if err := checkFileMode(fh, public, mode); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", public, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; this is not an identity file", public, MaxFileSize)
	}
	return data, nil
}

func checkFileMode(fh *os.File, path string, want fs.FileMode) error {
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if broader(st.Mode().Perm(), want) {
		return fmt.Errorf("%s: mode %04o is broader than %04o; fix it with: chmod %o %s",
			path, st.Mode().Perm(), want, want, path)
	}
	return nil
}

func checkDirMode(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("identity folder %s: %w; install an identity with edge-agent bootstrap", dir, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("identity folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("identity folder %s: not a folder", dir)
	}
	if broader(st.Mode().Perm(), DirMode) {
		return fmt.Errorf("identity folder %s: mode %04o is broader than %04o; fix it with: chmod %o %s",
			dir, st.Mode().Perm(), DirMode, DirMode, dir)
	}
	return nil
}

// broader reports whether got grants any permission that want does not.
func broader(got, want fs.FileMode) bool {
	return got&^want != 0
}
