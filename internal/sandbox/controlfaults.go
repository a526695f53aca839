package sandbox

import (
	"fmt"
	"html"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// APIError is a control-plane call's error answer in AWS's terms: the error
// code the SDK turns into a typed error, the HTTP status and the message.
type APIError struct {
	Code    string
	Status  int
	Message string
}

// Error returns the code and message.
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// CallFault is a failure to inject at a named control-plane call such as
// "iot:AttachPolicy" or "sagemaker:RegisterDevices", or at an S3 call such
// as "s3:PutObject" (S3 faults are not counted in [CallStats]).
type CallFault struct {
	// Code is the AWS error code, such as "ThrottlingException" or
	// "InternalFailureException".
	Code string
	// Status is the HTTP status; 0 means the status AWS uses for Code.
	Status int
	// Message is the error message; empty means a generic one.
	Message string
	// Times is how many calls fail; 0 means every call until cleared. The
	// SDK retries throttling and 5xx answers up to three times in all, so a
	// fault meant to reach the caller either uses a non-retryable code or
	// sets Times of at least 3.
	Times int
}

// errorStatus is the HTTP status AWS answers each error code with.
var errorStatus = map[string]int{
	"ResourceAlreadyExistsException": 409,
	"ResourceNotFoundException":      404,
	"DeleteConflictException":        409,
	"CertificateStateException":      406,
	"VersionConflictException":       409,
	"InvalidRequestException":        400,
	"MalformedPolicyException":       400,
	"UnauthorizedException":          401,
	"ThrottlingException":            429,
	"ServiceUnavailableException":    503,
	"InternalFailureException":       500,
	"LimitExceededException":         410,
	"EntityAlreadyExists":            409,
	"NoSuchEntity":                   404,
	"DeleteConflict":                 409,
	"MalformedPolicyDocument":        400,
	"Throttling":                     400,
	"ServiceFailure":                 500,
	"InternalFailure":                500,
	"AccessDeniedException":          400,
	"AccessDenied":                   403,
	"InternalError":                  500,
	"SlowDown":                       503,
	"NoSuchKey":                      404,
	"NoSuchBucket":                   404,
}

// statusOf returns the HTTP status for an error code of service.
func statusOf(service, code string) int {
	if service == "sagemaker" {
		// SageMaker answers every client error with 400.
		if code == "InternalFailure" || code == "ServiceUnavailable" {
			return 500
		}
		return 400
	}
	if s, ok := errorStatus[code]; ok {
		return s
	}
	return 400
}

// throttlingError is the answer of a throttled call to service.
func throttlingError(service string) *APIError {
	code := "ThrottlingException"
	if service == "iam" {
		code = "Throttling"
	}
	return &APIError{Code: code, Status: statusOf(service, code), Message: "Rate exceeded"}
}

// InjectFault makes the next f.Times calls named call ("iot:AttachPolicy")
// fail with f, replacing any fault already set there.
func (c *ControlPlane) InjectFault(call string, f CallFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[call] = &f
}

// ClearFaults removes every injected fault.
func (c *ControlPlane) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = map[string]*CallFault{}
}

func (c *ControlPlane) takeFault(call string) *APIError {
	c.mu.Lock()
	defer c.mu.Unlock()

	f, ok := c.faults[call]
	if !ok {
		return nil
	}
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(c.faults, call)
		}
	}

	service, _, _ := strings.Cut(call, ":")
	e := &APIError{Code: f.Code, Status: f.Status, Message: f.Message}
	if e.Status == 0 {
		e.Status = statusOf(service, f.Code)
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("injected fault at %s", call)
	}
	return e
}

// cpBucket is a token bucket throttling one service.
type cpBucket = rate.Limiter

// SetThrottle throttles service ("iot", "sagemaker", "iam") at perSecond
// calls with bursts of burst, answering the excess with the service's
// throttling error as AWS does; perSecond 0 removes the throttle.
func (c *ControlPlane) SetThrottle(service string, perSecond float64, burst int) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if perSecond <= 0 {
		delete(c.throttle, service)
		return
	}
	c.throttle[service] = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

func (c *ControlPlane) allow(service string, now time.Time) bool {
	c.mu.Lock()
	b := c.throttle[service]
	c.mu.Unlock()
	return b == nil || b.AllowN(now, 1)
}

// Stats returns the live call counters.
func (c *ControlPlane) Stats() *CallStats { return c.stats }

// CallStats counts control-plane calls: in total per call name, and per
// service in each wall-clock second, so that tests can check a client's rate
// limit. Throttled and failed calls count too. Safe for concurrent use.
type CallStats struct {
	mu        sync.Mutex
	calls     map[string]int
	perSecond map[string]map[int64]int
	throttled map[string]int
}

func newCallStats() *CallStats {
	return &CallStats{
		calls:     map[string]int{},
		perSecond: map[string]map[int64]int{},
		throttled: map[string]int{},
	}
}

func (s *CallStats) record(service, call string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.calls[call]++
	sec := s.perSecond[service]
	if sec == nil {
		sec = map[int64]int{}
		s.perSecond[service] = sec
	}
	sec[now.Unix()]++
}

func (s *CallStats) recordThrottled(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled[service]++
}

// Calls returns how many times call ("iot:CreateThing") was made.
func (s *CallStats) Calls(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[call]
}

// Total returns how many calls service received.
func (s *CallStats) Total(service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()

	n := 0
	for _, v := range s.perSecond[service] {
		n += v
	}
	return n
}

// Throttled returns how many calls to service were refused by the throttle.
func (s *CallStats) Throttled(service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled[service]
}

// PerSecond returns the number of calls service received in each
// wall-clock second that saw any, in time order.
func (s *CallStats) PerSecond(service string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()

	secs := make([]int64, 0, len(s.perSecond[service]))
	for k := range s.perSecond[service] {
		secs = append(secs, k)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	out := make([]int, len(secs))
	for i, k := range secs {
		out[i] = s.perSecond[service][k]
	}
	return out
}

// Peak returns the most calls service received in one wall-clock second.
func (s *CallStats) Peak(service string) int {
	peak := 0
	for _, n := range s.PerSecond(service) {
		peak = max(peak, n)
	}
	return peak
}

// Names returns every call name seen, sorted.
func (s *CallStats) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()

	names := make([]string, 0, len(s.calls))
	for k := range s.calls {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Reset forgets every count.
func (s *CallStats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.perSecond = map[string]map[int64]int{}
	s.throttled = map[string]int{}
}

func init() { registerS3Middleware(s3Faults) }

// s3Faults answers an S3 call with the fault injected at its name
// ("s3:PutObject", "s3:GetObject"...) through [ControlPlane.InjectFault],
// in S3's XML error shape, before the call reaches the bucket.
func s3Faults(sb *Sandbox, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cp := sb.ControlPlane()
		if cp == nil {
			next.ServeHTTP(w, r)
			return
		}
		e := cp.takeFault("s3:" + s3Operation(r))
		if e == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>",
			html.EscapeString(e.Code), html.EscapeString(e.Message))
	})
}

// s3Operation names a path-style S3 request by its API operation.
func s3Operation(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	if key == "" {
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodPost:
			return "DeleteObjects"
		}
		if q.Get("list-type") == "2" {
			return "ListObjectsV2"
		}
		return "ListObjects"
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		return "DeleteObject"
	}
	return "GetObject"
}
