package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirSource reads the authorization files from a local folder, such as a
// USB stick or a folder baked into a device image.
type DirSource struct {
	Dir string
}

// Fetch reads Dir/name, at most limit bytes.
func (d DirSource) Fetch(ctx context.Context, name string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := filepath.Join(d.Dir, name)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w; copy the file there or check --from-dir", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()

	if st, err := f.Stat(); err == nil && st.Size() > limit {
		return nil, tooLarge(p, st.Size(), limit)
	}
	return readCapped(f, limit, p)
}

// String returns the folder.
func (d DirSource) String() string { return d.Dir }
