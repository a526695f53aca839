package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
)

// renewWithin is how close to its end a certificate draws a warning.
const renewWithin = 30 * 24 * time.Hour

// identityPaths lists the identity folder and files with the broadest mode
// the CONTRACT allows for each.
func identityPaths(dir string) []struct {
	path string
	max  fs.FileMode
	dir  bool
} {
	return []struct {
		path string
		max  fs.FileMode
		dir  bool
	}{
		{dir, certstore.DirMode, true},
		{filepath.Join(dir, certstore.CertFile), certstore.CertMode, false},
		{filepath.Join(dir, certstore.KeyFile), certstore.KeyMode, false},
		{filepath.Join(dir, certstore.CAFile), certstore.CertMode, false},
	}
}

func checkIdentityFiles(_ context.Context, s *state) Result {
	if !s.loaded {
		return skip("needs a configuration that loads")
	}
	dir := s.cfg.IdentityDir
	var problems, fixes []string
	for _, p := range identityPaths(dir) {
		fi, err := os.Stat(p.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fail("install the identity with: edge-agent bootstrap (see its --help for S3, URL and folder sources)",
				"%s is missing", p.path)
		case errors.Is(err, fs.ErrPermission):
			return fail("run doctor as the agent's user or root", "%s cannot be read: permission denied", p.path)
		case err != nil:
			return fail("check the identity_dir setting and the disk", "stat %s: %v", p.path, err)
		case p.dir != fi.IsDir():
			return fail("remove it and run edge-agent bootstrap again", "%s is not a %s", p.path, kind(p.dir))
		}
		if extra := fi.Mode().Perm() &^ p.max; extra != 0 {
			problems = append(problems, fmt.Sprintf("%s has mode %04o, broader than %04o", p.path, fi.Mode().Perm(), p.max))
			fixes = append(fixes, fmt.Sprintf("chmod %04o %s", fi.Mode().Perm()&p.max, p.path))
		}
	}
	if len(problems) > 0 {
		return fail(strings.Join(fixes, "; "), "%s", strings.Join(problems, "; "))
	}
	return ok("%s holds the certificate, key and root CA with modes no broader than 0700/0644/0600/0644", dir)
}

func kind(dir bool) string {
	if dir {
		return "folder"
	}
	return "regular file"
}

func checkCertificate(_ context.Context, s *state) Result {
	if !s.loaded {
		return skip("needs a configuration that loads")
	}
	dir := s.cfg.IdentityDir
	var f certstore.Files
	for name, dst := range map[string]*[]byte{certstore.CertFile: &f.Cert, certstore.KeyFile: &f.Key, certstore.CAFile: &f.CA} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return skip("needs readable identity files (see identity-files)")
		}
		*dst = data
	}

	now := s.o.Now()
	id, err := certstore.Parse(f, now)
	if err != nil {
		return fail(certificateFix(err), "%v", err)
	}
	s.identity = id

	left := id.NotAfter.Sub(now)
	msg := fmt.Sprintf("certificate %s… parses, matches its key, valid until %s (%d days left)",
		id.Fingerprint[:12], id.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	if left < renewWithin {
		return warn("rotate the device certificate before it expires (admin: issue a new one; device: edge-agent bootstrap --force)", "%s", msg)
	}
	return ok("%s", msg)
}

func certificateFix(err error) string {
	switch {
	case errors.Is(err, certstore.ErrExpired):
		return "issue a new certificate and install it with edge-agent bootstrap --force; if it should still be valid, check the device clock (timedatectl)"
	case errors.Is(err, certstore.ErrNotYetValid):
		return "the device clock is probably behind: enable NTP (timedatectl set-ntp true) and check the date"
	case errors.Is(err, certstore.ErrKeyMismatch):
		return "the key and the certificate come from different devices or sets; install the matching pair with edge-agent bootstrap --force"
	case errors.Is(err, certstore.ErrEncryptedKey):
		return "install an unencrypted key (openssl pkey -in key -out key.pem) with mode 0600"
	}
	return "install a good set of files with edge-agent bootstrap --force"
}
