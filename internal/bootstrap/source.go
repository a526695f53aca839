package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ConfigFile is the optional agent configuration stored beside the
// identity files.
const ConfigFile = "edge-agent.yaml"

// MaxObjectSize caps each fetched file: identity files are a few kilobytes,
// and a wrong key must not be able to fill the device's memory.
const MaxObjectSize = 1 << 20

var (
	// ErrNotFound says a source has no such file. Sources wrap it with the
	// bucket and key, path or URL.
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied says the source refused to hand out a file.
	ErrAccessDenied = errors.New("access denied")
	// ErrTooLarge says a file is larger than the size limit.
	ErrTooLarge = errors.New("file too large")
)

// Source fetches authorization files by name ([certstore.CertFile],
// [certstore.KeyFile], [certstore.CAFile], [ConfigFile]).
type Source interface {
	// Fetch returns the content of the named file, at most limit bytes. A
	// missing file is an error wrapping [ErrNotFound].
	Fetch(ctx context.Context, name string, limit int64) ([]byte, error)
	// String describes the source for messages; it holds no secret.
	String() string
}

// readCapped reads r up to limit bytes and refuses anything longer.
func readCapped(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(what, -1, limit)
	}
	return data, nil
}

// tooLarge builds the error for a file over the limit; size -1 is unknown.
func tooLarge(what string, size, limit int64) error {
	got := ""
	if size >= 0 {
		got = fmt.Sprintf("%d bytes, ", size)
	}
	return fmt.Errorf("%s: %w: %smore than the %d-byte limit for an authorization file; is it the right file?", what, ErrTooLarge, got, limit)
}
