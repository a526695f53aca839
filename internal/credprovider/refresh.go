package credprovider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// errClock marks a refusal to serve credentials because the device clock is
// too far off; it backs off like a transient error, since time sync usually
// fixes the clock within minutes of boot.
var errClock = errors.New("device clock is wrong")

// errIdentityChanged is the result of a call made for an identity that
// SetFetcher replaced while it was in flight.
var errIdentityChanged = errors.New("identity changed during the call; result discarded")

// Run refreshes the credentials until ctx is done, then cancels any call
// still in flight, waits for it to be recorded, and returns nil. It fetches
// at once when there are no fresh credentials (a cache loaded from disk waits
// for its refresh time), then at about half of each lifetime, and after a
// failure when the backoff ends. Once Run has returned, the cache makes no
// more upstream calls: Get serves what it holds.
func (c *Cache) Run(ctx context.Context) error {
	defer c.shutdown()
	for {
		c.pass.Store(c.clock.Now().UnixNano())
		c.mu.Lock()
		wait, f := c.planLocked(c.clock.Now())
		c.mu.Unlock()
		c.notify()

		if f != nil {
			wait = -1
		}

		select {
		case <-ctx.Done():
			return nil
		case <-waitOn(f):
		case <-c.after(wait):
		case <-c.kick:
		}
	}
}

// LastPass returns when Run last went round its refresh loop, by the
// cache's clock, or zero before Run started. Run goes round at least every
// MaxIdle, and after each upstream call, which FetchTimeout bounds, so an
// older pass means the loop is stuck.
func (c *Cache) LastPass() time.Time {
	n := c.pass.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// MaxIdle is the longest Run waits between two passes of its loop when no
// upstream call is in flight.
const MaxIdle = maxSleep

// shutdown cancels the call in flight, if any, and waits until it has been
// recorded, so that nothing writes the cache file after Run returns.
func (c *Cache) shutdown() {
	c.stop()

	c.mu.Lock()
	f := c.st.flight
	c.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// planLocked returns the flight to wait for when a call is due, or how long
// to sleep.
func (c *Cache) planLocked(now time.Time) (time.Duration, *flight) {
	if c.st.flight != nil {
		return 0, c.st.flight
	}

	due := c.st.nextRefresh
	switch {
	case !c.st.retryAt.IsZero():
		due = c.st.retryAt
	case !c.servableLocked(now):
		due = now
	}
	if !now.Before(due) {
		return 0, c.startLocked()
	}

	wait := due.Sub(now)
	if c.servableLocked(now) {
		// Wake when they stop being servable, to report the change.
		wait = min(wait, c.serveUntilLocked().Sub(now))
	}

	return max(min(wait, maxSleep), 0), nil
}

func (c *Cache) serveUntilLocked() time.Time {
	return minTime(c.st.creds.Expiration, c.st.expiry).Add(-c.o.ExpiryMargin)
}

// after returns a timer channel, or nil (never ready) for a negative wait.
func (c *Cache) after(d time.Duration) <-chan time.Time {
	if d < 0 {
		return nil
	}

	return c.clock.After(d)
}

func waitOn(f *flight) <-chan struct{} {
	if f == nil {
		return nil
	}

	return f.done
}

// startLocked returns the flight in progress, or starts one.
func (c *Cache) startLocked() *flight {
	if c.st.flight != nil {
		return c.st.flight
	}

	f := &flight{done: make(chan struct{})}
	c.st.flight = f
	go c.fly(f, c.st.fetcher, c.st.gen)

	return f
}

// fly makes one upstream call and records it. The flight stays registered
// until the result is persisted, so that persisting is never concurrent.
func (c *Cache) fly(f *flight, fetcher Fetcher, gen uint64) {
	ctx, cancel := context.WithTimeout(c.base, c.o.FetchTimeout)
	res, err := fetcher.Fetch(ctx)
	cancel()

	rec := c.record(gen, res, err)
	f.err = rec.err
	if rec.persist != nil {
		c.persist(rec.persist)
	}

	c.mu.Lock()
	c.st.flight = nil
	c.mu.Unlock()

	close(f.done)
	c.wake()
	c.notify()
}

// recorded is the outcome of a flight, to be finished outside the lock.
type recorded struct {
	err     error
	persist *persisted
}

// record applies a call's result to the state.
func (c *Cache) record(gen uint64, res Result, err error) recorded {
	c.mu.Lock()
	defer c.mu.Unlock()

	if gen != c.st.gen {
		return recorded{err: errIdentityChanged}
	}

	now := c.clock.Now()
	var expiry time.Time
	if err == nil {
		expiry, err = c.check(res, now)
	}
	if err != nil {
		c.failLocked(err, now)
		return recorded{err: err}
	}

	c.acceptLocked(res, expiry, now)

	return recorded{persist: c.persistedLocked()}
}

// check measures the clock skew against the server's Date and returns the
// local-clock expiry. It refuses credentials the device cannot use: already
// expired, or a clock off by more than their lifetime.
func (c *Cache) check(res Result, now time.Time) (time.Time, error) {
	serverNow, skew := now, time.Duration(0)
	if !res.ServerDate.IsZero() {
		serverNow, skew = res.ServerDate, res.ServerDate.Sub(now)
	}
	c.st.skew = skew
	c.warnSkew(skew)

	lifetime := res.Expiration.Sub(serverNow)
	if skew.Abs() > lifetime && lifetime > 0 {
		return time.Time{}, clockError(skew, lifetime)
	}

	expiry := minTime(res.Expiration, now.Add(lifetime))
	if !now.Add(c.o.ExpiryMargin).Before(expiry) {
		return time.Time{}, &Error{Class: ClassTransient, StatusCode: 200,
			Message: fmt.Sprintf("credentials provider returned credentials that expire at %s, too soon to use", formatExpiration(res.Expiration))}
	}

	return expiry, nil
}

func clockError(skew, lifetime time.Duration) *Error {
	dir := "ahead of"
	if skew > 0 {
		dir = "behind"
	}

	return &Error{
		Class:   ClassConfiguration,
		Message: fmt.Sprintf("the device clock is %s %s the credentials provider's clock, more than the credentials' lifetime of %s", skew.Abs().Round(time.Second), dir, lifetime.Round(time.Second)),
		Hint:    "fix the device clock: enable time sync (systemd-timesyncd, chrony or ntpd) and check the RTC",
		Err:     errClock,
	}
}

func (c *Cache) warnSkew(skew time.Duration) {
	if skew.Abs() <= SkewWarning {
		return
	}

	c.log.Warn("device clock differs from the credentials provider's clock; fix time sync",
		zap.Int64("clock_skew_seconds", int64(skew/time.Second)))
}

// acceptLocked stores new credentials and schedules the next refresh.
func (c *Cache) acceptLocked(res Result, expiry, now time.Time) {
	c.st.creds = res.Credentials
	c.st.expiry = expiry
	c.st.lastRefresh = now
	c.st.nextRefresh = now.Add(c.refreshDelay(expiry.Sub(now)))
	c.st.failures, c.st.retryAt, c.st.lastErr = 0, time.Time{}, nil
	c.publishLocked()

	msg := "credentials refreshed"
	if !c.st.announced {
		msg, c.st.announced = "credentials available", true
	}
	c.log.Info(msg, zap.String("access_key_id", res.AccessKeyID),
		zap.Time("expiration", res.Expiration.UTC()), zap.Time("next_refresh", c.st.nextRefresh.UTC()))
}

// refreshDelay picks when to refresh credentials valid for lifetime: a
// uniform point in [45%, 55%] of it, but no later than MinRemaining before
// expiry when the lifetime allows, and no sooner than a minute (or half the
// lifetime, if shorter), so that short-lived credentials cannot cause a
// tight loop.
func (c *Cache) refreshDelay(lifetime time.Duration) time.Duration {
	d := time.Duration(float64(lifetime) * (0.45 + 0.10*c.random()))
	if latest := lifetime - c.o.MinRemaining; latest > 0 && d > latest {
		d = latest
	}

	return max(d, min(lifetime/2, time.Minute))
}

// failLocked records a failure and schedules the retry.
func (c *Cache) failLocked(err error, now time.Time) {
	c.st.failures++
	delay := c.backoff(err, c.st.failures)
	c.st.retryAt = now.Add(delay)
	c.st.lastErr = err

	fields := []zap.Field{zap.Error(err), zap.String("class", string(classOf(err))), zap.Duration("retry_in", delay), zap.Int("failures", c.st.failures)}
	if c.servableLocked(now) {
		c.log.Warn("credentials refresh failed; serving cached credentials",
			append(fields, zap.String("access_key_id", c.st.creds.AccessKeyID), zap.Time("expiration", c.st.creds.Expiration.UTC()))...)
		return
	}
	c.log.Error("no valid credentials: credentials call failed", fields...)
}

// backoff returns the wait after the n-th consecutive failure err.
func (c *Cache) backoff(err error, n int) time.Duration {
	var e *Error
	if !errors.As(err, &e) || errors.Is(err, errClock) {
		return c.o.TransientBackoff.Delay(n, c.random())
	}

	switch e.Class {
	case ClassConfiguration:
		return c.o.ConfigurationBackoff.Delay(n, c.random())
	case ClassThrottled:
		return max(e.RetryAfter, c.o.TransientBackoff.Delay(n, c.random()))
	}

	return c.o.TransientBackoff.Delay(n, c.random())
}
