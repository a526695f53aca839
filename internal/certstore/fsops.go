package certstore

import (
	"io/fs"
	"os"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
)

// fileOps are the file-system steps of [Install]. Tests wrap them to
// inject a full disk or a crash between any two steps.
type fileOps interface {
	MkdirAll(path string, perm fs.FileMode) error
	Mkdir(path string, perm fs.FileMode) error
	Chmod(path string, perm fs.FileMode) error
	// Chown gives path (a symlink's target) to uid and gid.
	Chown(path string, uid, gid int) error
	// Lchown gives path (a symlink itself, not its target) to uid and gid.
	Lchown(path string, uid, gid int) error
	// WriteFile creates path (which must not exist) with exactly perm,
	// writes data and fsyncs the file.
	WriteFile(path string, data []byte, perm fs.FileMode) error
	Symlink(target, link string) error
	Link(oldPath, newPath string) error
	Rename(oldPath, newPath string) error
	RemoveAll(path string) error
	// SyncDir fsyncs a folder so that renames in it are durable.
	SyncDir(path string) error
}

// osOps implements fileOps with the os package.
type osOps struct{}

func (osOps) MkdirAll(p string, m fs.FileMode) error { return os.MkdirAll(p, m) }
func (osOps) Mkdir(p string, m fs.FileMode) error    { return os.Mkdir(p, m) }
func (osOps) Chmod(p string, m fs.FileMode) error    { return os.Chmod(p, m) }
func (osOps) Chown(p string, u, g int) error         { return os.Chown(p, u, g) }
func (osOps) Lchown(p string, u, g int) error        { return os.Lchown(p, u, g) }
func (osOps) Symlink(t, l string) error              { return os.Symlink(t, l) }
func (osOps) Link(o, n string) error                 { return os.Link(o, n) }
func (osOps) Rename(o, n string) error               { return os.Rename(o, n) }
func (osOps) RemoveAll(p string) error               { return os.RemoveAll(p) }

func (osOps) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return atomicfile.WriteNew(p, data, atomicfile.Mode(perm))
}

func (osOps) SyncDir(p string) error { return atomicfile.SyncDir(p) }
