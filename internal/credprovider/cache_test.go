package credprovider

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var sysClock Clock = systemClock{}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Minute, Cap: 30 * time.Minute}

	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0, 30 * time.Second},
		{1, 0.999999, time.Minute},
		{2, 0, time.Minute},
		{3, 0.5, 3 * time.Minute},
		{5, 0, 8 * time.Minute},
		{6, 0, 15 * time.Minute},
		{6, 0.999999, 30 * time.Minute},
		{100, 0, 15 * time.Minute},
	}
	for _, tt := range tests {
		got := b.Delay(tt.n, tt.r).Round(time.Second)
		if got != tt.want {
			t.Errorf("Delay(%d, %v): got %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
}

// TestCacheColdThousandGetsOneCall holds the one upstream call open until
// all 1,000 callers wait on it.
func TestCacheColdThousandGetsOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{gate: make(chan struct{}), fn: issuing(sysClock, time.Hour)}
		c := NewCache(CacheOptions{Fetcher: f})

		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for range 1000 {
			wg.Go(func() {
				creds, err := c.Get(context.Background())
				if err == nil && creds.AccessKeyID != testKeyID {
					err = errors.New("wrong credentials")
				}
				errs <- err
			})
		}
		synctest.Wait()
		if got := f.calls.Load(); got != 1 {
			t.Fatalf("got %d upstream calls while 1,000 callers wait, want 1", got)
		}

		close(f.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
		}
		if got := f.calls.Load(); got != 1 {
			t.Errorf("got %d upstream calls, want 1", got)
		}
	})
}

// TestCacheColdThousandGetsOverMTLS does the same through the real client
// and a real mTLS server.
func TestCacheColdThousandGetsOverMTLS(t *testing.T) {
	ca := newTestCA(t)
	srv := newMTLSServer(t, ca, answerFresh(time.Hour))
	c := NewCache(CacheOptions{Fetcher: newTestClient(t, ca, srv.endpoint(), nil)})

	var wg sync.WaitGroup
	var failed sync.Once
	for range 1000 {
		wg.Go(func() {
			if _, err := c.Get(context.Background()); err != nil {
				failed.Do(func() { t.Errorf("Get: %v", err) })
			}
		})
	}
	wg.Wait()

	if got := srv.requests.Load(); got != 1 {
		t.Errorf("got %d requests at the server, want 1", got)
	}
}

// TestCacheRefreshSchedule checks when Run refreshes: at the jittered half
// of the lifetime, but leaving at least 15 minutes when the lifetime allows.
func TestCacheRefreshSchedule(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		rand     float64
		want     time.Duration
	}{
		{"1h half", time.Hour, 0.5, 30 * time.Minute},
		{"1h jitter low", time.Hour, 0, 27 * time.Minute},
		{"1h jitter high", time.Hour, 1, 33 * time.Minute},
		{"12h", 12 * time.Hour, 0.5, 6 * time.Hour},
		{"20m keeps 15m", 20 * time.Minute, 0.5, 5 * time.Minute},
		{"15m too short for the margin", 15 * time.Minute, 0.5, 450 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFetcher{fn: issuing(sysClock, tt.lifetime)}
				c := NewCache(CacheOptions{Fetcher: f, Rand: fixedRand(tt.rand)})
				stop := runCache(t, c)
				defer stop()

				if got := f.calls.Load(); got != 1 {
					t.Fatalf("got %d calls at start, want 1", got)
				}
				start := time.Now()
				if got := c.Status().NextRefresh.Sub(start); got != tt.want.Truncate(time.Second) {
					t.Errorf("got next_refresh in %v, want %v", got, tt.want)
				}

				advance(tt.want - time.Second)
				if got := f.calls.Load(); got != 1 {
					t.Fatalf("got %d calls a second before the refresh, want 1", got)
				}
				advance(time.Second)
				if got := f.calls.Load(); got != 2 {
					t.Errorf("got %d calls at the refresh time, want 2", got)
				}
			})
		})
	}
}

// TestCacheEndpointDownServesUntilExpiry: after one good fetch the endpoint
// fails; the cached credentials are served (degraded) until the expiry
// margin, then Get answers Unavailable.
func TestCacheEndpointDownServesUntilExpiry(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"503", err503},
		{"403", err403},
		{"network", &Error{Class: ClassTransient, Message: "request failed", Err: errors.New("connection refused")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFetcher{fn: issuing(sysClock, time.Hour)}
				c := NewCache(CacheOptions{Fetcher: f})
				stop := runCache(t, c)
				defer stop()

				first, err := c.Get(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				f.set(failing(tt.err))
				serveUntil := first.Expiration.Add(-DefaultExpiryMargin)

				for now := time.Now(); now.Before(first.Expiration.Add(time.Minute)); now = time.Now() {
					got, err := c.Get(context.Background())
					if now.Before(serveUntil) {
						if err != nil || got.AccessKeyID != testKeyID || !got.Valid(now, 0) {
							t.Fatalf("at %v: got %v, %v, want the cached credentials", now, got, err)
						}
					} else {
						exp := first.Expiration.UTC().Format(time.RFC3339)
						want := "no valid credentials: cached credentials expired at " + exp + " and the refresh is failing: "
						if now.Before(first.Expiration) {
							want = "no valid credentials: cached credentials expire at " + exp +
								" and are no longer served within a minute of expiry; the refresh is failing: "
						}
						var ue *UnavailableError
						if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), want) || got != (Credentials{}) {
							t.Fatalf("at %v: got %v, %v, want an UnavailableError starting %q", now, got, err, want)
						}
					}
					advance(10 * time.Second)
				}
				if got := c.Status().State; got != StateUnavailable {
					t.Errorf("got state %s, want unavailable", got)
				}
			})
		})
	}
}

// TestCache403OutageBoundedCalls: 100 clients poll every 10 s for an hour
// while every call is refused with 403. The upstream calls follow the
// configuration backoff alone: the wait after the n-th failure is at least
// c_n/2 with c_n = min(30m, 1m·2^(n-1)), so the calls come at the earliest at
// 0, 0.5, 1.5, 3.5, 7.5, 15.5, 30.5 and 45.5 min: at most 8 in the hour,
// whatever the number of clients (then at most 4 an hour, one per 15 min).
func TestCache403OutageBoundedCalls(t *testing.T) {
	const (
		clients = 100
		poll    = 10 * time.Second
		outage  = time.Hour
	)
	bound := callBound(DefaultConfigurationBackoff, outage)
	if bound != 8 {
		t.Fatalf("got bound %d, want 8 (the schedule in the comment)", bound)
	}

	tests := []struct {
		name string
		rand func() float64
		want int64 // 0: only the bound is checked
	}{
		{"shortest waits", fixedRand(0), 8},
		{"longest waits", fixedRand(0.999999), 6},
		{"crypto jitter", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFetcher{fn: failing(err403)}
				c := NewCache(CacheOptions{Fetcher: f, Rand: tt.rand})
				stop := runCache(t, c)
				defer stop()

				pollFor(t, c, clients, poll, outage)

				got := f.calls.Load()
				if got > int64(bound) || (tt.want != 0 && got != tt.want) {
					t.Errorf("got %d upstream calls from %d clients in %v, want %d (bound %d)", got, clients, outage, tt.want, bound)
				}
			})
		})
	}
}

// pollFor runs clients goroutines that call Get every interval for d, and
// checks that each failure is an UnavailableError of class configuration.
func pollFor(t *testing.T, c *Cache, clients int, interval, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)

	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(end) {
				_, err := c.Get(context.Background())
				var ue *UnavailableError
				if !errors.As(err, &ue) || ue.Class != ClassConfiguration {
					t.Errorf("got %v, want an UnavailableError of class configuration", err)
					return
				}
				tm := time.NewTimer(interval)
				<-tm.C
			}
		})
	}
	wg.Wait()
}

// callBound is the most upstream calls that back-to-back failures can make
// in d: one at the start, then one after each shortest wait (c_n/2).
func callBound(b Backoff, d time.Duration) int {
	calls, elapsed := 1, time.Duration(0)
	for n := 1; ; n++ {
		elapsed += b.ceiling(n) / 2
		if elapsed > d {
			return calls
		}
		calls++
	}
}

func TestCacheThrottledHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		throttled := &Error{Class: ClassThrottled, StatusCode: 429, RetryAfter: 10 * time.Minute}
		f := &fakeFetcher{fn: failing(throttled)}
		c := NewCache(CacheOptions{Fetcher: f, Rand: fixedRand(0)})
		stop := runCache(t, c)
		defer stop()

		advance(10*time.Minute - time.Second)
		if got := f.calls.Load(); got != 1 {
			t.Fatalf("got %d calls before Retry-After ended, want 1", got)
		}
		f.set(issuing(sysClock, time.Hour))
		advance(time.Second)
		if got := f.calls.Load(); got != 2 {
			t.Errorf("got %d calls when Retry-After ended, want 2", got)
		}
		if got := c.Status().State; got != StateServing {
			t.Errorf("got state %s, want serving", got)
		}
	})
}

func TestCacheStatesAndNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var states []State
		f := &fakeFetcher{fn: issuing(sysClock, time.Hour), gate: make(chan struct{})}
		c := NewCache(CacheOptions{Fetcher: f, Rand: fixedRand(0.5), OnStateChange: func(s Status) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, s.State)
		}})
		stop := runCache(t, c)
		defer stop()

		close(f.gate)
		synctest.Wait()
		f.set(failing(err503))
		advance(time.Hour)

		mu.Lock()
		defer mu.Unlock()
		want := []State{StateStarting, StateServing, StateDegraded, StateUnavailable}
		if strings.Join(statesStrings(states), ",") != strings.Join(statesStrings(want), ",") {
			t.Errorf("got states %v, want %v", states, want)
		}
	})
}

func statesStrings(s []State) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}

	return out
}

func TestCacheStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		notAfter := time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
		f := &fakeFetcher{fn: failing(err403)}
		c := NewCache(CacheOptions{Fetcher: f, ThingName: "sensor-0042", RoleAlias: "fleet-a", CertNotAfter: notAfter})

		before, err := json.Marshal(c.Status())
		if err != nil {
			t.Fatal(err)
		}
		want := `{"state":"starting","thing_name":"sensor-0042","role_alias":"fleet-a","last_error":null,"clock_skew_seconds":0,"certificate_not_after":"2027-01-02T02:04:05Z"}`
		if string(before) != want {
			t.Errorf("got %s, want %s", before, want)
		}

		_, _ = c.Get(context.Background())
		var got map[string]any
		b, _ := json.Marshal(c.Status())
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got["state"] != "unavailable" || got["next_refresh"] == nil || !strings.HasSuffix(got["next_refresh"].(string), "Z") {
			t.Errorf("got %s, want unavailable with a next_refresh in UTC", b)
		}
		le, _ := got["last_error"].(map[string]any)
		if le["class"] != "configuration" || !strings.Contains(le["message"].(string), "Access Denied") {
			t.Errorf("got last_error %v, want class configuration with the service's message", le)
		}
	})
}

func TestCacheClockSkew(t *testing.T) {
	tests := []struct {
		name      string
		skew      time.Duration // server Date minus device clock
		lifetime  time.Duration
		wantErr   string
		wantSkew  int64
		wantWarn  bool
		wantState State
	}{
		{"none", 0, time.Hour, "", 0, false, StateServing},
		{"2 minutes is quiet", 2 * time.Minute, time.Hour, "", 120, false, StateServing},
		{"device 10 minutes behind", 10 * time.Minute, time.Hour, "", 600, true, StateServing},
		{"device 10 minutes ahead", -10 * time.Minute, time.Hour, "", -600, true, StateServing},
		{"device 3 hours behind", 3 * time.Hour, time.Hour, "fix the device clock", 10800, true, StateUnavailable},
		{"device in 1970", 56 * 365 * 24 * time.Hour, time.Hour, "behind the credentials provider's clock", 0, true, StateUnavailable},
		{"device 2 hours ahead", -2 * time.Hour, time.Hour, "2h0m0s ahead of", -7200, true, StateUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			f := &fakeFetcher{fn: func(int64) (Result, error) {
				server := clk.Now().Add(tt.skew)
				return Result{Credentials: testCreds(server.Add(tt.lifetime)), ServerDate: server}, nil
			}}
			logs, log := newLogBuffer()
			c := NewCache(CacheOptions{Fetcher: f, Clock: clk, Logger: log})

			_, err := c.Get(context.Background())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Get: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			st := c.Status()
			if st.State != tt.wantState {
				t.Errorf("got state %s, want %s", st.State, tt.wantState)
			}
			if tt.wantSkew != 0 && st.ClockSkewSeconds != tt.wantSkew {
				t.Errorf("got clock_skew_seconds %d, want %d", st.ClockSkewSeconds, tt.wantSkew)
			}
			if got := strings.Contains(logs.String(), "clock_skew_seconds"); got != tt.wantWarn {
				t.Errorf("got skew warning %v, want %v: %s", got, tt.wantWarn, logs)
			}
		})
	}
}

// TestCacheSetFetcher: a reload keeps the credentials when the identity is
// unchanged and drops them when it changed.
func TestCacheSetFetcher(t *testing.T) {
	tests := []struct {
		name      string
		info      Info
		wantCalls int64
	}{
		{"same identity", Info{Endpoint: "e", ThingName: "t", RoleAlias: "a"}, 1},
		{"new thing", Info{Endpoint: "e", ThingName: "t2", RoleAlias: "a"}, 2},
		{"new alias", Info{Endpoint: "e", ThingName: "t", RoleAlias: "a2"}, 2},
		{"new endpoint", Info{Endpoint: "e2", ThingName: "t", RoleAlias: "a"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			f := &fakeFetcher{fn: issuing(clk, time.Hour)}
			c := NewCache(CacheOptions{Fetcher: f, Clock: clk, Endpoint: "e", ThingName: "t", RoleAlias: "a"})
			if _, err := c.Get(context.Background()); err != nil {
				t.Fatal(err)
			}

			f2 := &fakeFetcher{fn: issuing(clk, time.Hour)}
			c.SetFetcher(f2, tt.info)
			if _, err := c.Get(context.Background()); err != nil {
				t.Fatal(err)
			}

			if got := f.calls.Load() + f2.calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d calls, want %d", got, tt.wantCalls)
			}
			if got := c.Status().ThingName; got != tt.info.ThingName {
				t.Errorf("got thing %q, want %q", got, tt.info.ThingName)
			}
		})
	}
}

func TestCacheSetFetcherDiscardsOldIdentityResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := &fakeFetcher{fn: issuing(sysClock, time.Hour), gate: make(chan struct{})}
		c := NewCache(CacheOptions{Fetcher: old, ThingName: "t"})
		go func() { _, _ = c.Get(context.Background()) }()
		synctest.Wait()

		c.SetFetcher(&fakeFetcher{fn: failing(err503)}, Info{ThingName: "t2"})
		close(old.gate)
		synctest.Wait()

		if _, err := c.Get(context.Background()); err == nil {
			t.Error("got the old identity's credentials, want them discarded")
		}
		if st := c.Status(); st.ThingName != "t2" || st.Expiration != (time.Time{}) {
			t.Errorf("got status %+v, want thing t2 without credentials", st)
		}
	})
}

// TestCacheGetWaitIsBoundedByContext: a cold Get gives up with its context
// while the call goes on for the others.
func TestCacheGetWaitIsBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{fn: issuing(sysClock, time.Hour), gate: make(chan struct{})}
		c := NewCache(CacheOptions{Fetcher: f})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()

		_, err := c.Get(ctx)
		var ue *UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want an UnavailableError wrapping the deadline", err)
		}

		close(f.gate)
		synctest.Wait()
		if _, err := c.Get(context.Background()); err != nil || f.calls.Load() != 1 {
			t.Errorf("got %v after %d calls, want the credentials of the one call", err, f.calls.Load())
		}
	})
}

// TestCacheNeverServesEmptyOrExpired: a provider that returns credentials
// expiring too soon is a failure, not something to serve.
func TestCacheNeverServesEmptyOrExpired(t *testing.T) {
	clk := newFakeClock()
	tests := []struct {
		name string
		res  Result
	}{
		{"already expired", Result{Credentials: testCreds(clk.Now().Add(-time.Minute))}},
		{"inside the margin", Result{Credentials: testCreds(clk.Now().Add(30 * time.Second))}},
		{"empty", Result{Credentials: Credentials{Expiration: clk.Now().Add(time.Hour)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFetcher{fn: func(int64) (Result, error) { return tt.res, nil }}
			c := NewCache(CacheOptions{Fetcher: f, Clock: clk})

			got, err := c.Get(context.Background())
			if err == nil || got != (Credentials{}) {
				t.Errorf("got %v, %v, want an error and no credentials", got, err)
			}
		})
	}
}

func BenchmarkCacheGet(b *testing.B) {
	f := &fakeFetcher{fn: issuing(sysClock, time.Hour)}
	c := NewCache(CacheOptions{Fetcher: f})
	if _, err := c.Get(context.Background()); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := c.Get(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
