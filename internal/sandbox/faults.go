package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultMode is a way for the credentials provider to misbehave.
type FaultMode string

// The fault modes. The status-code modes answer as AWS does, with a JSON
// message; the others imitate a broken proxy or network.
const (
	FaultNone        FaultMode = ""        // answer normally
	FaultForbidden   FaultMode = "403"     // 403 {"message":"Access Denied"}
	FaultNotFound    FaultMode = "404"     // 404 {"message":"Role alias does not exist"}
	FaultThrottled   FaultMode = "429"     // 429 with Retry-After
	FaultServerError FaultMode = "500"     // 500 {"message":"Internal Server Error"}
	FaultSlow        FaultMode = "slow"    // answer normally after Delay
	FaultGarbage     FaultMode = "garbage" // 200 text/plain that is not JSON
	FaultHTML        FaultMode = "html"    // 200 text/html, as a captive portal
	FaultHuge        FaultMode = "huge"    // 200 JSON of HugeSize bytes
)

// Default values of [Faults] fields left zero.
const (
	DefaultFaultDelay = 30 * time.Second // for FaultSlow
	DefaultRetryAfter = time.Second      // for FaultThrottled
	DefaultHugeSize   = 1 << 20          // for FaultHuge
)

var faultModes = []FaultMode{FaultNone, FaultForbidden, FaultNotFound, FaultThrottled,
	FaultServerError, FaultSlow, FaultGarbage, FaultHTML, FaultHuge}

// Faults tells the credentials provider how to misbehave. The zero value
// means answer normally.
type Faults struct {
	// Mode is the misbehaviour.
	Mode FaultMode
	// Delay is waited before answering in every mode (or until the client
	// goes away). FaultSlow with no Delay waits DefaultFaultDelay.
	Delay time.Duration
	// RetryAfter is sent, in whole seconds, with FaultThrottled.
	RetryAfter time.Duration
	// HugeSize is the body size of FaultHuge.
	HugeSize int
	// Count limits the fault to the next Count calls; 0 means until changed.
	Count int
}

// Validate reports an unknown mode or a negative value.
func (f Faults) Validate() error {
	known := false
	for _, m := range faultModes {
		known = known || f.Mode == m
	}
	switch {
	case !known:
		return fmt.Errorf("fault mode %q: want one of %s", f.Mode, modeList())
	case f.Delay < 0 || f.RetryAfter < 0 || f.HugeSize < 0 || f.Count < 0:
		return fmt.Errorf("fault %q: delay, retry_after, size and count must not be negative", f.Mode)
	}
	return nil
}

func modeList() string {
	names := make([]string, 0, len(faultModes))
	for _, m := range faultModes[1:] {
		names = append(names, string(m))
	}
	return "none, " + strings.Join(names, ", ")
}

// faultsJSON is the admin endpoint's representation of [Faults].
type faultsJSON struct {
	Mode       string `json:"mode"`
	Delay      string `json:"delay,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	HugeSize   int    `json:"size,omitempty"`
	Count      int    `json:"count,omitempty"`
}

// MarshalJSON encodes durations as Go duration strings ("1.5s").
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{Mode: string(f.Mode), HugeSize: f.HugeSize, Count: f.Count}
	if j.Mode == "" {
		j.Mode = "none"
	}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	if f.RetryAfter != 0 {
		j.RetryAfter = f.RetryAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON accepts what MarshalJSON writes; durations may also be bare
// numbers of seconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j struct {
		Mode       string          `json:"mode"`
		Delay      json.RawMessage `json:"delay"`
		RetryAfter json.RawMessage `json:"retry_after"`
		HugeSize   int             `json:"size"`
		Count      int             `json:"count"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	get := func(k string) string {
		switch k {
		case "delay":
			return strings.Trim(string(j.Delay), `"`)
		case "retry_after":
			return strings.Trim(string(j.RetryAfter), `"`)
		case "size":
			return strconv.Itoa(j.HugeSize)
		case "count":
			return strconv.Itoa(j.Count)
		}
		return j.Mode
	}
	parsed, err := ParseFaults(get)
	if err != nil {
		return err
	}
	*f = parsed
	return nil
}

// ParseFaults builds [Faults] from string values looked up by get under the
// keys mode, delay, retry_after, size and count, as the admin endpoint's form
// fields and edge-sandbox's flags give them. Durations are Go durations or
// bare seconds; "none" or "" is FaultNone.
func ParseFaults(get func(key string) string) (Faults, error) {
	var f Faults
	var err error

	f.Mode = FaultMode(get("mode"))
	if f.Mode == "none" {
		f.Mode = FaultNone
	}
	if f.Delay, err = parseSeconds("delay", get("delay")); err != nil {
		return Faults{}, err
	}
	if f.RetryAfter, err = parseSeconds("retry_after", get("retry_after")); err != nil {
		return Faults{}, err
	}
	if f.HugeSize, err = parseInt("size", get("size")); err != nil {
		return Faults{}, err
	}
	if f.Count, err = parseInt("count", get("count")); err != nil {
		return Faults{}, err
	}
	return f, f.Validate()
}

func parseSeconds(key, v string) (time.Duration, error) {
	if v == "" || v == "null" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("fault %s %q: want a duration such as 2s or 1m", key, v)
	}
	return d, nil
}

func parseInt(key, v string) (int, error) {
	if v == "" || v == "null" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("fault %s %q: want a whole number", key, v)
	}
	return n, nil
}

// faultSwitch holds the current faults; safe for concurrent use.
type faultSwitch struct {
	mu     sync.Mutex
	faults Faults
}

func (s *faultSwitch) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *faultSwitch) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// take returns the faults to apply to one call, counting it against Count.
func (s *faultSwitch) take() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()

	f := s.faults
	if f.Count > 0 {
		s.faults.Count--
		if s.faults.Count == 0 {
			s.faults = Faults{}
		}
	}
	return f
}
