package credprovider

import "time"

// Backoff is an exponential backoff with jitter: after the n-th consecutive
// failure the wait is drawn uniformly from [c/2, c), where
// c = min(Cap, Base·2^(n-1)).
//
// This is "equal jitter", full jitter over the upper half of the window. Pure
// full jitter (uniform in [0, c)) can draw waits near zero, which would let
// the number of upstream calls during an outage grow with how often clients
// poll; the floor of c/2 makes the worst case a fixed schedule instead.
type Backoff struct {
	Base time.Duration
	Cap  time.Duration
}

// The default backoffs.
var (
	// DefaultTransientBackoff is used after network, TLS and 5xx failures
	// and, with Retry-After as a floor, after throttling.
	DefaultTransientBackoff = Backoff{Base: time.Second, Cap: 5 * time.Minute}

	// DefaultConfigurationBackoff is used after refusals (400, 401, 403,
	// 404) that only a change in the cloud or the config will fix.
	DefaultConfigurationBackoff = Backoff{Base: time.Minute, Cap: 30 * time.Minute}
)

// Delay returns the wait after the n-th consecutive failure (n >= 1), for a
// random r in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	c := b.ceiling(n)
	half := c / 2

	return half + time.Duration(r*float64(c-half))
}

// ceiling returns min(Cap, Base·2^(n-1)) without overflowing.
func (b Backoff) ceiling(n int) time.Duration {
	c := b.Base
	for i := 1; i < n && c < b.Cap; i++ {
		c *= 2
	}

	return min(c, b.Cap)
}
