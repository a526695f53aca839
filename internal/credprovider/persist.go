package credprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
)

// persistVersion is the version of the cache file's format.
const persistVersion = 1

// persisted is the cache file. It holds secrets: it is written with mode
// 0600 and never logged.
type persisted struct {
	Version         int       `json:"version"`
	Endpoint        string    `json:"endpoint"`
	ThingName       string    `json:"thing_name"`
	RoleAlias       string    `json:"role_alias"`
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	ClockSkewNanos  int64     `json:"clock_skew_ns"`
	LastRefresh     time.Time `json:"last_refresh"`
	NextRefresh     time.Time `json:"next_refresh"`
}

func (c *Cache) persistedLocked() *persisted {
	if c.o.PersistPath == "" {
		return nil
	}

	return &persisted{
		Version:         persistVersion,
		Endpoint:        c.st.info.Endpoint,
		ThingName:       c.st.info.ThingName,
		RoleAlias:       c.st.info.RoleAlias,
		AccessKeyID:     c.st.creds.AccessKeyID,
		SecretAccessKey: c.st.creds.SecretAccessKey,
		SessionToken:    c.st.creds.SessionToken,
		Expiration:      c.st.creds.Expiration.UTC(),
		ClockSkewNanos:  int64(c.st.skew),
		LastRefresh:     c.st.lastRefresh.UTC(),
		NextRefresh:     c.st.nextRefresh.UTC(),
	}
}

// persist writes p atomically; a failure is logged, not fatal, since the
// credentials in memory are still good.
func (c *Cache) persist(p *persisted) {
	b, err := json.Marshal(p)
	if err == nil {
		err = writeFileAtomic(c.o.PersistPath, b)
	}
	if err != nil {
		c.log.Warn("could not persist credentials cache; a restart during an outage will have none", zap.Error(err))
	}
}

// writeFileAtomic writes data to path with mode 0600 through
// [atomicfile.Write], creating its folder (0700) if needed. A crash leaves
// the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create folder of %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data, atomicfile.Mode(0o600)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}

	return nil
}

// load adopts the persisted credentials when they are for the same identity
// and still servable. Anything else is ignored with a log line that says why.
func (c *Cache) load() {
	if c.o.PersistPath == "" {
		return
	}

	p, err := readPersisted(c.o.PersistPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("ignoring credentials cache file", zap.Error(err))
		}
		return
	}

	c.mu.Lock()
	defer c.mu.Unlock()

	if reason := c.rejectLocked(p); reason != "" {
		c.log.Info("ignoring credentials cache file: "+reason, zap.String("path", c.o.PersistPath))
		return
	}
	c.adoptLocked(p)
}

func readPersisted(path string) (*persisted, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read %s: mode %04o is open to other users; want 0600", path, fi.Mode().Perm())
	}

	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}

	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		// The decode error may quote the file, which holds secrets.
		return nil, fmt.Errorf("read %s: not a valid cache file", path)
	}

	return &p, nil
}

// rejectLocked says why p cannot be used, or returns "".
func (c *Cache) rejectLocked(p *persisted) string {
	info := c.st.info
	switch {
	case p.Version != persistVersion:
		return fmt.Sprintf("format version %d, want %d", p.Version, persistVersion)
	case p.Endpoint != info.Endpoint || p.ThingName != info.ThingName || p.RoleAlias != info.RoleAlias:
		return "written for another endpoint, thing or role alias"
	}

	now := c.clock.Now()
	creds := Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken, Expiration: p.Expiration}
	if !creds.Valid(now, c.o.ExpiryMargin) || !now.Add(c.o.ExpiryMargin).Before(p.Expiration.Add(-time.Duration(p.ClockSkewNanos))) {
		return "credentials expired at " + formatExpiration(p.Expiration)
	}

	return ""
}

func (c *Cache) adoptLocked(p *persisted) {
	skew := time.Duration(p.ClockSkewNanos)
	c.st.creds = Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken, Expiration: p.Expiration}
	c.st.expiry = minTime(p.Expiration, p.Expiration.Add(-skew))
	c.st.skew = skew
	c.st.lastRefresh = p.LastRefresh
	c.st.nextRefresh = p.NextRefresh
	c.st.announced = true
	c.publishLocked()

	c.log.Info("credentials available from cache file", zap.String("access_key_id", p.AccessKeyID),
		zap.Time("expiration", p.Expiration), zap.Time("next_refresh", p.NextRefresh), zap.String("path", c.o.PersistPath))
}
