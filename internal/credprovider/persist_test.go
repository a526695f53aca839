package credprovider

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// TestCacheRestartServesPersisted: a second cache on the same file serves
// without an upstream call, and its Run waits for the persisted refresh
// time.
func TestCacheRestartServesPersisted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state", "cache.json")
		opts := CacheOptions{Endpoint: "e", ThingName: "t", RoleAlias: "a", PersistPath: path, Rand: fixedRand(0.5)}

		first := opts
		first.Fetcher = &fakeFetcher{fn: issuing(sysClock, time.Hour)}
		want, err := NewCache(first).Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		assertMode(t, path, 0o600)

		advance(10 * time.Minute)
		second := opts
		f := &fakeFetcher{fn: failing(err503)}
		second.Fetcher = f
		c := NewCache(second)
		stop := runCache(t, c)
		defer stop()

		got, err := c.Get(context.Background())
		if err != nil || got.AccessKeyID != want.AccessKeyID || !got.Expiration.Equal(want.Expiration) {
			t.Fatalf("got %v, %v after restart, want %v", got, err, want)
		}
		if st := c.Status(); st.State != StateServing {
			t.Errorf("got state %s, want serving", st.State)
		}
		advance(20*time.Minute - time.Second)
		if n := f.calls.Load(); n != 0 {
			t.Errorf("got %d upstream calls before the persisted refresh time, want 0", n)
		}
		advance(time.Second)
		if n := f.calls.Load(); n != 1 {
			t.Errorf("got %d upstream calls at the persisted refresh time, want 1", n)
		}
	})
}

// TestCacheIgnoresUnusablePersisted: a file for another identity, expired,
// corrupt or readable by others is ignored, and the cache fetches.
func TestCacheIgnoresUnusablePersisted(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, path string, clk *testenv.Clock, o *CacheOptions)
	}{
		{"other thing", func(_ *testing.T, _ string, _ *testenv.Clock, o *CacheOptions) { o.ThingName = "other" }},
		{"other alias", func(_ *testing.T, _ string, _ *testenv.Clock, o *CacheOptions) { o.RoleAlias = "other" }},
		{"other endpoint", func(_ *testing.T, _ string, _ *testenv.Clock, o *CacheOptions) { o.Endpoint = "other" }},
		{"expired", func(_ *testing.T, _ string, clk *testenv.Clock, _ *CacheOptions) { clk.Advance(2 * time.Hour) }},
		{"corrupt", func(t *testing.T, path string, _ *testenv.Clock, _ *CacheOptions) {
			if err := os.WriteFile(path, []byte(`{"secret_access_key":"`+testSecret), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"world readable", func(t *testing.T, path string, _ *testenv.Clock, _ *CacheOptions) {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			path := filepath.Join(t.TempDir(), "cache.json")
			o := CacheOptions{Endpoint: "e", ThingName: "t", RoleAlias: "a", PersistPath: path, Clock: clk}
			o.Fetcher = &fakeFetcher{fn: issuing(clk, time.Hour)}
			if _, err := NewCache(o).Get(context.Background()); err != nil {
				t.Fatal(err)
			}

			tt.mutate(t, path, clk, &o)
			f := &fakeFetcher{fn: issuing(clk, time.Hour)}
			o.Fetcher = f
			logs, log := newLogBuffer()
			o.Logger = log
			c := NewCache(o)
			if st := c.Status().State; st != StateStarting {
				t.Errorf("got state %s, want starting", st)
			}
			if _, err := c.Get(context.Background()); err != nil {
				t.Fatal(err)
			}

			if n := f.calls.Load(); n != 1 {
				t.Errorf("got %d upstream calls, want 1", n)
			}
			if !strings.Contains(logs.String(), "ignoring credentials cache file") {
				t.Errorf("got logs %s, want a line saying why the file was ignored", logs)
			}
			assertNoSecret(t, "logs", logs.String())
			assertMode(t, path, 0o600)
		})
	}
}

func TestPersistedFileContents(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "cache.json")
	c := NewCache(CacheOptions{Fetcher: &fakeFetcher{fn: issuing(clk, time.Hour)}, Clock: clk,
		Endpoint: "e:8443", ThingName: "t", RoleAlias: "a", PersistPath: path, Rand: fixedRand(0.5)})
	if _, err := c.Get(context.Background()); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	want := persisted{Version: 1, Endpoint: "e:8443", ThingName: "t", RoleAlias: "a",
		AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken,
		Expiration: clk.Now().Add(time.Hour), LastRefresh: clk.Now(), NextRefresh: clk.Now().Add(30 * time.Minute)}
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("got %d files in the folder, want only the cache file (no temporary left)", len(entries))
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("got mode %04o for %s, want %04o", got, path, want)
	}
}
