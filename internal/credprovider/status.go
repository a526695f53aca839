package credprovider

import "time"

// State is the state of a [Cache], as reported in GET /v1/status.
type State string

// The states of a [Cache].
const (
	// StateStarting: no credentials yet, and no call has failed yet.
	StateStarting State = "starting"

	// StateServing: valid credentials, and the last call succeeded.
	StateServing State = "serving"

	// StateDegraded: valid credentials, but the last refresh failed.
	StateDegraded State = "degraded"

	// StateUnavailable: no valid credentials (never fetched because calls
	// fail, or expired during an outage, or the device clock is wrong).
	StateUnavailable State = "unavailable"
)

// LastError is the last failed call, as reported in GET /v1/status.
type LastError struct {
	Class   Class  `json:"class"`
	Message string `json:"message"`
}

// Status is the body of the local API's GET /v1/status. Times are UTC and
// omitted when unknown; last_error is always present, null when no call
// failed, as CONTRACT.md lists it. It holds no secret.
//
// Status has no MarshalJSON method on purpose: types that embed it (the
// agent's status adds reload_error) would inherit it and lose their own
// fields.
type Status struct {
	State               State      `json:"state"`
	ThingName           string     `json:"thing_name"`
	RoleAlias           string     `json:"role_alias"`
	Expiration          time.Time  `json:"expiration,omitzero"`
	LastRefresh         time.Time  `json:"last_refresh,omitzero"`
	NextRefresh         time.Time  `json:"next_refresh,omitzero"`
	LastError           *LastError `json:"last_error"`
	ClockSkewSeconds    int64      `json:"clock_skew_seconds"`
	CertificateNotAfter time.Time  `json:"certificate_not_after,omitzero"`
}

// HasCredentials reports whether the cache holds credentials it will serve.
func (s Status) HasCredentials() bool {
	return s.State == StateServing || s.State == StateDegraded
}

// utc normalizes t for a status: UTC, whole seconds, so that it marshals as
// RFC 3339 ending in Z.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}

	return t.UTC().Truncate(time.Second)
}
