package sandbox

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// CertIssuer signs the device certificates that IoT's
// CreateKeysAndCertificate and CreateCertificateFromCsr hand out. [*CA]
// implements it.
type CertIssuer interface {
	DeviceCertificate(cn string, kt KeyType, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error)
	SignCSR(csrPEM []byte, notBefore, notAfter time.Time) ([]byte, error)
}

// ControlOptions configures a [ControlPlane].
type ControlOptions struct {
	// State is the account the calls read and change. Required.
	State *State
	// Issuer signs device certificates. Required for the certificate calls.
	Issuer CertIssuer
	// KeyType is the type of the keys CreateKeysAndCertificate generates;
	// empty means ECDSA P-256 (AWS generates RSA 2048, which is slow to
	// generate by the thousand).
	KeyType KeyType
	// CredentialsEndpoint is the host:port DescribeEndpoint answers for
	// iot:CredentialProvider.
	CredentialsEndpoint string
	// DataEndpoint is the host[:port] DescribeEndpoint answers for
	// iot:Data-ATS; empty means a made-up name.
	DataEndpoint string
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug line per call; nil means no logs.
	Logger *zap.Logger
}

// ControlPlane serves the IoT (REST-JSON), SageMaker (JSON 1.1) and IAM
// (query) control-plane calls that edge-agent admin makes, on one handler.
// It can inject failures at named calls ("iot:AttachPolicy"), throttle each
// service at a configured rate and count calls per second. It checks no
// signatures. All methods are safe for concurrent use.
type ControlPlane struct {
	opts  ControlOptions
	state *State
	log   *zap.Logger
	mux   *http.ServeMux

	mu       sync.Mutex
	endpoint map[string]string // endpoint type -> address
	faults   map[string]*CallFault
	throttle map[string]*cpBucket
	stats    *CallStats
}

// NewControlPlane returns the control plane over o.State.
func NewControlPlane(o ControlOptions) *ControlPlane {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.DataEndpoint == "" {
		o.DataEndpoint = "sandbox-ats.iot." + o.State.Region + ".amazonaws.com"
	}
	c := &ControlPlane{
		opts:     o,
		state:    o.State,
		log:      o.Logger.Named("controlplane"),
		mux:      http.NewServeMux(),
		faults:   map[string]*CallFault{},
		throttle: map[string]*cpBucket{},
		stats:    newCallStats(),
	}
	c.endpoint = map[string]string{
		"iot:CredentialProvider": o.CredentialsEndpoint,
		"iot:Data-ATS":           o.DataEndpoint,
		"iot:Data":               o.DataEndpoint,
		"":                       o.DataEndpoint,
	}
	c.routeIoT()
	c.mux.HandleFunc("POST /{$}", c.serveRPC)
	return c
}

// Register mounts the control plane on mux at "/", so that its more
// specific routes (the sandbox's own) keep precedence.
func (c *ControlPlane) Register(mux *http.ServeMux) {
	mux.Handle("/", c)
}

// ServeHTTP serves one control-plane call.
func (c *ControlPlane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mux.ServeHTTP(w, r)
}

// SetEndpoint sets the address DescribeEndpoint answers for endpointType
// ("iot:CredentialProvider", "iot:Data-ATS"), for a sandbox whose listeners
// start after the control plane.
func (c *ControlPlane) SetEndpoint(endpointType, address string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endpoint[endpointType] = address
}

// serveRPC dispatches the POST / calls: SageMaker's JSON 1.1 (X-Amz-Target)
// and IAM's query protocol (form-encoded Action).
func (c *ControlPlane) serveRPC(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if op, ok := strings.CutPrefix(target, "SageMaker."); ok {
		c.serveSageMaker(w, r, op)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		c.serveIAM(w, r)
		return
	}
	http.Error(w, "unknown control-plane call", http.StatusBadRequest)
}

// now returns the control plane's time.
func (c *ControlPlane) now() time.Time { return c.opts.Now() }

// admit records a call, then applies throttling and injected faults. It
// returns the error to answer with, or nil to serve the call.
func (c *ControlPlane) admit(call string) *APIError {
	service, _, _ := strings.Cut(call, ":")
	now := time.Now() // rates are wall-clock, whatever the sandbox clock says
	c.stats.record(service, call, now)
	c.log.Debug("call", zap.String("call", call))

	if !c.allow(service, now) {
		c.stats.recordThrottled(service)
		return throttlingError(service)
	}
	return c.takeFault(call)
}
