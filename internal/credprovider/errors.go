package credprovider

import (
	"fmt"
	"strings"
	"time"
)

// Class says what kind of failure an [*Error] is, and so how to retry it.
type Class string

// The failure classes of a credentials call.
const (
	// ClassConfiguration is a refusal that retrying will not fix: a wrong
	// thing name, role alias, policy, certificate or endpoint (HTTP 400, 401,
	// 403, 404 and other unexpected answers), or a device clock that is far
	// off.
	ClassConfiguration Class = "configuration"

	// ClassThrottled is HTTP 429: the service asks the device to slow down.
	ClassThrottled Class = "throttled"

	// ClassTransient is a failure that may go away by itself: HTTP 5xx,
	// network and TLS errors, timeouts, malformed answers.
	ClassTransient Class = "transient"
)

// Error is a failed credentials call. Its text never contains a secret or a
// whole response body.
type Error struct {
	// Class is the kind of failure.
	Class Class

	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int

	// Message is what went wrong, in the service's words when it sent any
	// (for example "Access Denied").
	Message string

	// Hint says what to check or fix, when known.
	Hint string

	// RetryAfter is the delay the service asked for (HTTP 429 Retry-After),
	// or 0.
	RetryAfter time.Duration

	// NotJSON is set when the endpoint answered with a body that is not
	// JSON, as a captive portal, a proxy or another web server does;
	// MediaType then holds the answer's Content-Type media type, if any.
	NotJSON   bool
	MediaType string

	// Err is the underlying error, if any.
	Err error
}

// Error returns one line: the class, the status, the message, the hint and the
// cause.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "credentials provider: %s error", e.Class)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}

	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// UnavailableError is what [Cache.Get] returns when it holds no valid
// credentials. Its message says why (never fetched, expired during an outage,
// a configuration error, a wrong clock) and is safe to show to a local client.
type UnavailableError struct {
	// Reason is a short explanation, for example "credentials expired at
	// 2026-08-12T10:00:00Z and the refresh is failing".
	Reason string

	// Class is the class of the last failed call, or "" when none failed.
	Class Class

	// RetryAt is when the cache will next call upstream, or zero when
	// unknown.
	RetryAt time.Time

	// Err is the last failure, if any.
	Err error
}

// Error returns the reason followed by the last failure.
func (e *UnavailableError) Error() string {
	s := "no valid credentials: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}

	return s
}

// Unwrap returns the last failure.
// Unavailable returns the reason, safe to show a local client; the local
// server answers its 503 with it.
func (e *UnavailableError) Unavailable() string { return e.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }
