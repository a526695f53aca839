// Package atomicfile writes files so that a reader, or a crash at any
// instant, sees either the old content or the new one, never a mix.
//
// [Write] replaces a file through a temporary file in the same folder:
// owner and mode first, then the data, fsync, rename(2) over the target,
// and fsync of the folder so that the rename itself is durable.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultMode is the mode of a file written without the [Mode] option.
const DefaultMode fs.FileMode = 0o600

// Option changes how [Write] and [WriteNew] create a file.
type Option func(*options)

type options struct {
	mode     fs.FileMode
	uid, gid int

	// fault, set only by this package's tests, fails the named step.
	fault func(step string) error
}

// Mode sets the file's permission bits. They are set with fchmod, so the
// process umask does not narrow them.
func Mode(m fs.FileMode) Option {
	return func(o *options) { o.mode = m.Perm() }
}

// Owner gives the file to uid and gid before it becomes visible; -1 keeps
// an id, as with os.Chown. Changing the user needs root; changing only the
// group needs membership in it.
func Owner(uid, gid int) Option {
	return func(o *options) { o.uid, o.gid = uid, gid }
}

func newOptions(opts []Option) options {
	o := options{mode: DefaultMode, uid: -1, gid: -1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// step runs fn unless a test injects a failure at name.
func (o *options) step(name string, fn func() error) error {
	if o.fault != nil {
		if err := o.fault(name); err != nil {
			return err
		}
	}
	return fn()
}

// Write replaces path with data. The folder must exist. The new file gets
// its owner and mode before the rename, so readers never see it with the
// wrong ones. On failure path is left as it was and the temporary file
// (named .<base>.tmp-<random> beside path) is removed.
func Write(path string, data []byte, opts ...Option) error {
	o := newOptions(opts)
	dir := filepath.Dir(path)

	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmp)
		}
	}()

	if err := fill(f, data, &o); err != nil {
		return err
	}

	if err := o.step("rename", func() error { return os.Rename(tmp, path) }); err != nil {
		return err
	}
	renamed = true

	return o.step("sync folder", func() error { return SyncDir(dir) })
}

// WriteNew creates path, which must not exist yet, with data, and fsyncs
// it. On failure the partial file is removed. It does not rename and does
// not sync the folder: it suits a file inside a folder that is published
// as a whole later, by a rename of its own followed by [SyncDir].
func WriteNew(path string, data []byte, opts ...Option) error {
	o := newOptions(opts)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, o.mode)
	if err != nil {
		return err
	}
	if err := fill(f, data, &o); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// fill gives f its owner (unless both ids are -1) and mode, writes data,
// fsyncs and closes f, so that all of it is durable before a rename.
func fill(f *os.File, data []byte, o *options) error {
	err := o.step("chown", func() error {
		if o.uid == -1 && o.gid == -1 {
			return nil
		}
		return f.Chown(o.uid, o.gid)
	})
	if err == nil {
		err = o.step("chmod", func() error { return f.Chmod(o.mode) })
	}
	if err == nil {
		err = o.step("write", func() error { _, err := f.Write(data); return err })
	}
	if err == nil {
		err = o.step("sync", f.Sync)
	}
	if err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// SyncDir fsyncs the folder dir, so that a rename or a new entry in it
// survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer func() { _ = d.Close() }()

	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
