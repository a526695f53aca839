package credserver

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
)

// TokenMode is the mode of a token file created by [EnsureToken]; an
// existing file may be no broader.
const TokenMode = 0o640

// Token lengths accepted in an existing token file.
const (
	minTokenLen = 16
	maxTokenLen = 1024
)

// EnsureToken returns the loopback TCP token kept at path, creating the file
// with a fresh random token (32 bytes, base64url, no trailing newline) and
// mode [TokenMode] when it is absent.
//
// An existing file is read as is, never trimmed: it must be a regular file no
// broader than 0640 holding 16 to 1024 printable ASCII characters and no
// whitespace, since several SDKs reject a header with a trailing newline.
func EnsureToken(path string) ([]byte, error) {
	tok, err := readToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create token folder: %w", err)
	}
	tok = newToken()
	if err := atomicfile.Write(path, tok, atomicfile.Mode(TokenMode)); err != nil {
		return nil, fmt.Errorf("write token file %s: %w", path, err)
	}
	return tok, nil
}

func newToken() []byte {
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(tok, raw)
	return tok
}

// readToken reads and checks an existing token file.
func readToken(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("token file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&^TokenMode != 0 {
		return nil, fmt.Errorf("token file %s has mode %04o, broader than %04o: chmod 0640 it", path, perm, TokenMode)
	}

	tok, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if err := checkToken(tok); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tok, nil
}

// checkToken validates a token's form without revealing it.
func checkToken(tok []byte) error {
	if len(tok) < minTokenLen || len(tok) > maxTokenLen {
		return fmt.Errorf("token is %d bytes, want %d to %d", len(tok), minTokenLen, maxTokenLen)
	}
	for i, b := range tok {
		if b < 0x21 || b > 0x7e {
			return fmt.Errorf("token has a whitespace or non-printable byte at offset %d (a trailing newline?): rewrite it without one", i)
		}
	}
	return nil
}
