package config

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
)

// FileMode is the mode of a configuration file written by [WriteFile].
const FileMode = 0o640

// Marshal encodes c as YAML that [Parse] reads back to the same value.
func Marshal(c Config) ([]byte, error) {
	c = c.Clone()
	if c.Socket.AllowedUIDs == nil {
		c.Socket.AllowedUIDs = []int{}
	}
	if c.Socket.AllowedGIDs == nil {
		c.Socket.AllowedGIDs = []int{}
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return append([]byte("# edge-agent configuration; see CONTRACT.md for every key.\n"), out...), nil
}

// WriteFile writes c to path atomically (temporary file, fsync, rename,
// fsync of the folder) with mode 0640, creating the folder (0755) if needed.
// The file belongs to the writing process; see [WriteFileOwner].
func WriteFile(path string, c Config) error {
	return WriteFileOwner(path, c, -1, -1)
}

// WriteFileOwner is [WriteFile] that gives the file to uid and gid (-1
// keeps an id, as with os.Chown). The temporary file gets its owner before
// it is renamed to path, so readers never see the new file with the wrong
// owner. Bootstrap, running as root, uses it to write root:edge-agent
// 0640, readable by the service through its group. Changing the owner
// needs root; changing only the group needs membership in it.
func WriteFileOwner(path string, c Config, uid, gid int) error {
	data, err := Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data, atomicfile.Mode(FileMode), atomicfile.Owner(uid, gid)); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}
