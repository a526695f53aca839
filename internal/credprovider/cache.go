package credprovider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults of [CacheOptions].
const (
	// DefaultExpiryMargin is how long before expiry credentials stop being
	// served.
	DefaultExpiryMargin = time.Minute

	// DefaultMinRemaining is the validity a refresh leaves, when the
	// lifetime allows it: SDKs such as botocore start asking again when
	// less than 15 minutes remain.
	DefaultMinRemaining = 15 * time.Minute

	// DefaultFetchTimeout bounds one upstream call made by the cache.
	DefaultFetchTimeout = time.Minute

	// SkewWarning is the clock skew beyond which the cache logs a warning.
	SkewWarning = 5 * time.Minute
)

// maxSleep bounds how long Run sleeps, so that a suspend (during which
// monotonic timers stop) or a jump of the wall clock is noticed soon.
const maxSleep = time.Minute

// Info names the identity credentials are fetched for. Cached credentials
// are kept across [Cache.SetFetcher] only when Endpoint, ThingName and
// RoleAlias are unchanged.
type Info struct {
	Endpoint     string
	ThingName    string
	RoleAlias    string
	CertNotAfter time.Time
}

// CacheOptions configure a [Cache]. Only Fetcher is required.
type CacheOptions struct {
	// Fetcher makes the upstream calls, normally a [*Client].
	Fetcher Fetcher

	// Endpoint, ThingName and RoleAlias name the identity; they are shown in
	// the status and stored with the persisted credentials.
	Endpoint  string
	ThingName string
	RoleAlias string

	// CertNotAfter is the device certificate's expiry, shown in the status.
	CertNotAfter time.Time

	// Clock is the time source (default: the system clock).
	Clock Clock

	// Logger receives the cache's logs under the name "credprovider"
	// (default: no logs).
	Logger *zap.Logger

	// PersistPath, when set, is the file (mode 0600) where the last good
	// credentials are kept and read back at start.
	PersistPath string

	// OnStateChange, when set, is called with the status after each change
	// of state, one call at a time. It must not block for long.
	OnStateChange func(Status)

	// Rand returns uniform numbers in [0, 1) for jitter (default:
	// crypto/rand).
	Rand func() float64

	// TransientBackoff and ConfigurationBackoff default to
	// [DefaultTransientBackoff] and [DefaultConfigurationBackoff].
	TransientBackoff     Backoff
	ConfigurationBackoff Backoff

	// ExpiryMargin, MinRemaining and FetchTimeout default to
	// [DefaultExpiryMargin], [DefaultMinRemaining] and [DefaultFetchTimeout].
	ExpiryMargin time.Duration
	MinRemaining time.Duration
	FetchTimeout time.Duration
}

// Cache holds the current credentials and refreshes them ahead of expiry.
//
// [Cache.Get] never calls upstream while the cached credentials are fresh.
// [Cache.Run] refreshes them at about half of their lifetime, jittered. At
// most one upstream call is in flight; callers that find no valid
// credentials share it. After a failure, calls back off exponentially
// (longer for configuration errors, at least Retry-After when throttled),
// and during the backoff Get returns the last good credentials while they
// are valid, or an [*UnavailableError] at once without calling upstream.
//
// Known limit: the refresh timer runs on the monotonic clock, which stops
// while the device is suspended; Run wakes at least once a minute and Get
// nudges it when it sees stale credentials, so a resumed device refreshes
// within a minute.
type Cache struct {
	o      CacheOptions
	clock  Clock
	log    *zap.Logger
	random func() float64

	// snap is the lock-free read path of Get: nil, or the credentials with
	// the times until which they are fresh and servable.
	snap atomic.Pointer[snapshot]

	// kick wakes Run when state changes outside its loop.
	kick chan struct{}

	// pass is when Run last went round its loop (UnixNano on the cache's
	// clock), for the systemd watchdog.
	pass atomic.Int64

	// base is the parent of every upstream call's context; stop cancels
	// it when Run ends, so that no call outlives the daemon.
	base context.Context
	stop context.CancelFunc

	mu sync.Mutex
	st cacheState

	notifyMu sync.Mutex
	notified State
}

// snapshot is an immutable view for Get's fast path.
type snapshot struct {
	creds      Credentials
	freshUntil time.Time
	serveUntil time.Time
}

// cacheState is everything guarded by Cache.mu.
type cacheState struct {
	fetcher Fetcher
	info    Info
	gen     uint64 // bumped when the identity changes

	creds       Credentials
	expiry      time.Time // local-clock expiry: min(Expiration, corrected by skew)
	skew        time.Duration
	lastRefresh time.Time
	nextRefresh time.Time
	announced   bool // the "credentials available" line was logged

	failures int
	retryAt  time.Time
	lastErr  error

	flight *flight
}

// flight is one upstream call; done is closed when it has been recorded.
type flight struct {
	done chan struct{}
	err  error
}

// NewCache returns a cache, loaded from o.PersistPath when that file holds
// valid credentials for the same identity. It makes no upstream call; Get
// and Run do.
func NewCache(o CacheOptions) *Cache {
	o.setDefaults()
	c := &Cache{
		o:      o,
		clock:  o.Clock,
		log:    o.Logger.Named("credprovider"),
		random: o.Rand,
		kick:   make(chan struct{}, 1),
	}
	c.base, c.stop = context.WithCancel(context.Background())
	c.st.fetcher = o.Fetcher
	c.st.info = Info{Endpoint: o.Endpoint, ThingName: o.ThingName, RoleAlias: o.RoleAlias, CertNotAfter: o.CertNotAfter}

	c.load()

	return c
}

func (o *CacheOptions) setDefaults() {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Rand == nil {
		o.Rand = cryptoFloat
	}
	if o.TransientBackoff == (Backoff{}) {
		o.TransientBackoff = DefaultTransientBackoff
	}
	if o.ConfigurationBackoff == (Backoff{}) {
		o.ConfigurationBackoff = DefaultConfigurationBackoff
	}
	o.ExpiryMargin = orDefault(o.ExpiryMargin, DefaultExpiryMargin)
	o.MinRemaining = orDefault(o.MinRemaining, DefaultMinRemaining)
	o.FetchTimeout = orDefault(o.FetchTimeout, DefaultFetchTimeout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}

	return d
}

// Get returns valid credentials. It returns the cached ones while they are
// servable and, when there are none, waits (bounded by ctx) for the one
// upstream call in flight, starting it if needed. During a backoff it
// returns an [*UnavailableError] at once. It never returns expired or empty
// credentials.
func (c *Cache) Get(ctx context.Context) (Credentials, error) {
	if s := c.snap.Load(); s != nil {
		if now := c.clock.Now(); now.Before(s.freshUntil) && now.Before(s.serveUntil) {
			return s.creds, nil
		}
	}

	return c.getSlow(ctx)
}

// getSlow handles stale, missing and failing credentials. It waits for at
// most one flight: a caller that saw a call fail gets that failure, so a
// crowd of callers cannot turn one failure into a retry storm.
func (c *Cache) getSlow(ctx context.Context) (Credentials, error) {
	waited := false
	for {
		c.mu.Lock()
		now := c.clock.Now()
		if c.servableLocked(now) {
			creds, stale := c.st.creds, !now.Before(c.st.nextRefresh)
			c.mu.Unlock()
			if stale {
				c.wake()
			}
			return creds, nil
		}
		if waited || now.Before(c.st.retryAt) {
			err := c.unavailableLocked(now)
			c.mu.Unlock()
			return Credentials{}, err
		}
		f := c.startLocked()
		c.mu.Unlock()

		select {
		case <-f.done:
			// A call for a replaced identity does not count: try again.
			waited = !errors.Is(f.err, errIdentityChanged)
		case <-ctx.Done():
			return Credentials{}, &UnavailableError{Reason: "credentials are being fetched", Err: ctx.Err()}
		}
	}
}

// servableLocked reports whether the cached credentials may be handed out
// at now.
func (c *Cache) servableLocked(now time.Time) bool {
	return c.st.creds.Valid(now, c.o.ExpiryMargin) && now.Add(c.o.ExpiryMargin).Before(c.st.expiry)
}

// unavailableLocked explains why there are no credentials to serve.
func (c *Cache) unavailableLocked(now time.Time) *UnavailableError {
	e := &UnavailableError{Err: c.st.lastErr}
	if now.Before(c.st.retryAt) {
		e.RetryAt = c.st.retryAt
	}

	var pe *Error
	if errors.As(c.st.lastErr, &pe) {
		e.Class = pe.Class
	}

	switch {
	case c.st.creds.AccessKeyID != "":
		e.Reason = c.heldBackLocked(now)
	case e.Class == ClassConfiguration:
		e.Reason = "the credentials provider refused the request (configuration error)"
	case c.st.lastErr != nil:
		e.Reason = "the credentials provider could not be reached"
	default:
		e.Reason = "credentials not fetched yet"
	}

	return e
}

// heldBackLocked explains why cached credentials are not served: expired,
// or still valid but inside the expiry margin, which [Cache.Get] keeps
// clear so that a client never receives credentials about to expire.
func (c *Cache) heldBackLocked(now time.Time) string {
	refresh := "the refresh is failing"
	if c.st.lastErr == nil {
		refresh = "a refresh is under way"
	}

	exp := formatExpiration(c.st.expiry)
	if !now.Before(c.st.expiry) {
		return "cached credentials expired at " + exp + " and " + refresh
	}
	return "cached credentials expire at " + exp + " and are no longer served within " +
		describeMargin(c.o.ExpiryMargin) + " of expiry; " + refresh
}

// describeMargin writes d in words for whole minutes ("a minute",
// "2 minutes") and as a Go duration otherwise.
func describeMargin(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "a minute"
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// SetFetcher replaces the fetcher and the identity, for example after a
// SIGHUP reloaded the config or the certificate; it must not be called from
// OnStateChange. Cached credentials are kept
// only when the endpoint, thing name and role alias are unchanged. The
// backoff is reset, so that a fixed configuration is tried at once. The
// caller closes the old fetcher's connections when it wants to.
func (c *Cache) SetFetcher(f Fetcher, info Info) {
	c.mu.Lock()
	old := c.st.info
	c.st.fetcher, c.st.info = f, info
	c.st.failures, c.st.retryAt = 0, time.Time{}
	if old.Endpoint != info.Endpoint || old.ThingName != info.ThingName || old.RoleAlias != info.RoleAlias {
		c.log.Info("identity changed; dropping cached credentials",
			zap.String("thing_name", info.ThingName), zap.String("role_alias", info.RoleAlias), zap.String("endpoint", info.Endpoint))
		c.st = cacheState{fetcher: f, info: info, gen: c.st.gen + 1, flight: c.st.flight}
	}
	c.publishLocked()
	c.mu.Unlock()

	c.wake()
	c.notify()
}

// Status returns the state in the shape of GET /v1/status.
func (c *Cache) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.statusLocked(c.clock.Now())
}

func (c *Cache) statusLocked(now time.Time) Status {
	s := Status{
		State:               c.stateLocked(now),
		ThingName:           c.st.info.ThingName,
		RoleAlias:           c.st.info.RoleAlias,
		Expiration:          utc(c.st.creds.Expiration),
		LastRefresh:         utc(c.st.lastRefresh),
		NextRefresh:         utc(c.st.nextRefresh),
		ClockSkewSeconds:    int64(c.st.skew.Round(time.Second) / time.Second),
		CertificateNotAfter: utc(c.st.info.CertNotAfter),
	}
	if !c.st.retryAt.IsZero() {
		s.NextRefresh = utc(c.st.retryAt)
	}
	if c.st.lastErr != nil {
		s.LastError = &LastError{Class: classOf(c.st.lastErr), Message: c.st.lastErr.Error()}
	}

	return s
}

func (c *Cache) stateLocked(now time.Time) State {
	switch {
	case c.servableLocked(now) && c.st.lastErr != nil:
		return StateDegraded
	case c.servableLocked(now):
		return StateServing
	case c.st.lastErr == nil && c.st.lastRefresh.IsZero():
		return StateStarting
	}

	return StateUnavailable
}

// publishLocked updates Get's fast path after a change of credentials.
func (c *Cache) publishLocked() {
	if c.st.creds.AccessKeyID == "" {
		c.snap.Store(nil)
		return
	}

	c.snap.Store(&snapshot{
		creds:      c.st.creds,
		freshUntil: c.st.nextRefresh,
		serveUntil: minTime(c.st.creds.Expiration, c.st.expiry).Add(-c.o.ExpiryMargin),
	})
}

// wake nudges Run without blocking.
func (c *Cache) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// notify calls OnStateChange when the state differs from the last one
// reported.
func (c *Cache) notify() {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()

	s := c.Status()
	if s.State == c.notified {
		return
	}
	c.notified = s.State
	if c.o.OnStateChange != nil {
		c.o.OnStateChange(s)
	}
}

func classOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}

	return ClassTransient
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}

	return b
}
