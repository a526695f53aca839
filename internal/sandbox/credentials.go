package sandbox

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// IssuedCredentials is a set of temporary credentials that the credentials
// provider handed out, with what it was issued for. Its String method
// redacts the secrets.
type IssuedCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	Issued          time.Time
	RoleARN         string
	RoleAlias       string
	ThingName       string // empty when the request named no thing
	CertificateID   string
}

// String returns the access key ID, role and expiry, never the secrets.
func (c IssuedCredentials) String() string {
	return fmt.Sprintf("%s (role %s, expires %s)", c.AccessKeyID, c.RoleARN,
		c.Expiration.UTC().Format(time.RFC3339))
}

// GoString redacts like String.
func (c IssuedCredentials) GoString() string { return c.String() }

// CredentialRegistry remembers every set of credentials the credentials
// provider issued, so that a service checking signatures (issue 5's S3) can
// find the secret and expiry of an access key. It is safe for concurrent
// use.
type CredentialRegistry struct {
	mu    sync.RWMutex
	byKey map[string]IssuedCredentials
}

func newCredentialRegistry() *CredentialRegistry {
	return &CredentialRegistry{byKey: map[string]IssuedCredentials{}}
}

// Lookup returns the credentials issued with accessKeyID, expired or not.
func (r *CredentialRegistry) Lookup(accessKeyID string) (IssuedCredentials, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byKey[accessKeyID]
	return c, ok
}

// Len returns how many sets of credentials have been issued.
func (r *CredentialRegistry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byKey)
}

// All returns every set of credentials issued so far, so that tests can
// search logs for each secret the agent was ever given.
func (r *CredentialRegistry) All() []IssuedCredentials {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]IssuedCredentials, 0, len(r.byKey))
	for _, c := range r.byKey {
		out = append(out, c)
	}
	return out
}

func (r *CredentialRegistry) add(c IssuedCredentials) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[c.AccessKeyID] = c
}

// callCounter counts calls to the credentials provider, in total and by the
// status they were answered with.
type callCounter struct {
	total    atomic.Int64
	mu       sync.Mutex
	byStatus map[int]int64
}

func (c *callCounter) record(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byStatus == nil {
		c.byStatus = map[int]int64{}
	}
	c.byStatus[status]++
}

func (c *callCounter) status(code int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byStatus[code]
}

func (c *callCounter) snapshot() map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int]int64, len(c.byStatus))
	for k, v := range c.byStatus {
		m[k] = v
	}
	return m
}

// credentialsProvider is the HTTP handler of the IoT credentials provider.
type credentialsProvider struct {
	state           *State
	issued          *CredentialRegistry
	faults          *faultSwitch
	calls           *callCounter
	now             func() time.Time
	defaultDuration time.Duration
	log             *zap.Logger
}

func (p *credentialsProvider) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /role-aliases/{alias}/credentials", p.serveCredentials)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.writeError(w, http.StatusNotFound, "Not Found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.total.Add(1)
		rec := &statusRecorder{ResponseWriter: w, calls: p.calls}
		w.Header().Set("Date", p.now().UTC().Format(http.TimeFormat))
		w.Header().Set("x-amzn-RequestId", randomHex(16))

		if !p.misbehave(rec, r) {
			mux.ServeHTTP(rec, r)
		}
		if rec.status == 0 {
			p.calls.record(0)
		}
	})
}

func (p *credentialsProvider) serveCredentials(w http.ResponseWriter, r *http.Request) {
	alias := r.PathValue("alias")
	thing := r.Header.Get("x-amzn-iot-thingname")
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		p.writeError(w, http.StatusForbidden, "Access Denied")
		return
	}
	certID := certificateIDOf(r.TLS.PeerCertificates[0].Raw)
	log := p.log.With(zap.String("role_alias", alias), zap.String("thing_name", thing),
		zap.String("certificate_id", certID))

	ra, status, msg := p.state.AuthorizeRoleAlias(certID, alias, thing)
	if ra == nil {
		log.Info("credentials refused", zap.Int("status", status), zap.String("message", msg))
		p.writeError(w, status, msg)
		return
	}

	creds := p.issue(ra, thing, certID)
	log.Info("credentials issued", zap.String("access_key_id", creds.AccessKeyID),
		zap.Time("expiration", creds.Expiration))
	writeJSON(w, http.StatusOK, credentialsResponse(creds))
}

func (p *credentialsProvider) issue(ra *RoleAlias, thing, certID string) IssuedCredentials {
	d := p.defaultDuration
	if ra.DurationSeconds > 0 {
		d = time.Duration(ra.DurationSeconds) * time.Second
	}
	now := p.now().UTC()
	c := IssuedCredentials{
		AccessKeyID:     "ASIA" + strings.ToUpper(base32.StdEncoding.EncodeToString(randomBytes(10))),
		SecretAccessKey: base64.StdEncoding.EncodeToString(randomBytes(30)),
		SessionToken:    base64.StdEncoding.EncodeToString(randomBytes(300)),
		Issued:          now,
		Expiration:      now.Add(d).Truncate(time.Second),
		RoleARN:         ra.RoleARN,
		RoleAlias:       ra.Name,
		ThingName:       thing,
		CertificateID:   certID,
	}
	p.issued.add(c)
	return c
}

func credentialsResponse(c IssuedCredentials) any {
	type body struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
		Expiration      string `json:"expiration"`
	}
	return map[string]body{"credentials": {
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Expiration:      c.Expiration.UTC().Format("2006-01-02T15:04:05Z"),
	}}
}

// misbehave applies the current faults to one call. It reports whether it
// answered the call.
func (p *credentialsProvider) misbehave(w http.ResponseWriter, r *http.Request) bool {
	f := p.faults.take()
	if f.Mode == FaultNone && f.Delay == 0 {
		return false
	}

	delay := f.Delay
	if f.Mode == FaultSlow && delay == 0 {
		delay = DefaultFaultDelay
	}
	if delay > 0 && !wait(r, delay) {
		p.log.Debug("client left during delay", zap.Duration("delay", delay))
		return true
	}

	p.log.Info("fault injected", zap.String("mode", string(f.Mode)))
	return p.answerFault(w, f)
}

// answerFault writes the answer of a fault mode. It reports false for the
// modes that answer normally.
func (p *credentialsProvider) answerFault(w http.ResponseWriter, f Faults) bool {
	switch f.Mode {
	case FaultForbidden:
		p.writeError(w, http.StatusForbidden, "Access Denied")
	case FaultNotFound:
		p.writeError(w, http.StatusNotFound, "Role alias does not exist")
	case FaultThrottled:
		ra := f.RetryAfter
		if ra == 0 {
			ra = DefaultRetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		p.writeError(w, http.StatusTooManyRequests, "Rate exceeded")
	case FaultServerError:
		p.writeError(w, http.StatusInternalServerError, "Internal Server Error")
	case FaultGarbage:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("this is not JSON \x00\xff{{{"))
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><head><title>Sign in to the network</title></head>" +
			"<body><h1>Welcome</h1><p>Please accept the terms.</p></body></html>\n"))
	case FaultHuge:
		writeHuge(w, f.HugeSize)
	default:
		return false
	}
	return true
}

func writeHuge(w http.ResponseWriter, size int) {
	if size == 0 {
		size = DefaultHugeSize
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)

	_, _ = w.Write([]byte(`{"padding":"`))
	chunk := []byte(strings.Repeat("x", 4096))
	for left := size - len(`{"padding":""}`); left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return
		}
	}
	_, _ = w.Write([]byte(`"}`))
}

// wait waits d or until the client goes away, and reports whether d passed.
func wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (p *credentialsProvider) writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusRecorder counts the status a handler answers with as soon as the
// handler sets it, so that a client that has read the answer sees it
// counted. Its status stays 0 when the handler wrote nothing (the client
// went away first).
type statusRecorder struct {
	http.ResponseWriter
	calls  *callCounter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		s.calls.record(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
