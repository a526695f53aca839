package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/zap"
)

// Defaults of [Options] fields left zero.
const (
	DefaultRegion             = "us-east-1"
	DefaultCredentialDuration = time.Hour
	DefaultDeviceValidity     = 365 * 24 * time.Hour
)

// Options configures [Start]. The zero value is usable.
type Options struct {
	// Region is the region of every ARN and of the S3 client; default
	// us-east-1.
	Region string
	// CredentialsAddr, S3Addr, ControlAddr and AdminAddr are the loopback
	// addresses to listen on; default 127.0.0.1:0 (a free port).
	CredentialsAddr, S3Addr, ControlAddr, AdminAddr string
	// CredentialDuration is the lifetime of issued credentials for role
	// aliases without a duration of their own; default one hour.
	CredentialDuration time.Duration
	// DeviceValidity is the validity of device certificates that NewDevice
	// issues; default one year.
	DeviceValidity time.Duration
	// Now is the sandbox's clock: credential expiry, the Date header,
	// certificate validity and the TLS verification of client
	// certificates. Default time.Now.
	Now func() time.Time
	// Logger receives the sandbox's logs; default none.
	Logger *zap.Logger
	// Faults are the credentials provider's faults at start.
	Faults Faults
	// RequireSigV4 makes S3 check the SigV4 signature of every request
	// against the credentials in [Sandbox.Issued] and the static
	// [AdminAccessKeyID] (see sigv4_sandbox.go); off, S3 accepts any credentials.
	RequireSigV4 bool
}

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	for _, a := range []*string{&o.CredentialsAddr, &o.S3Addr, &o.ControlAddr, &o.AdminAddr} {
		if *a == "" {
			*a = "127.0.0.1:0"
		}
	}
	if o.CredentialDuration <= 0 {
		o.CredentialDuration = DefaultCredentialDuration
	}
	if o.DeviceValidity <= 0 {
		o.DeviceValidity = DefaultDeviceValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Sandbox is a running set of stand-in AWS endpoints on loopback. Start it
// with [Start] and stop it with [Sandbox.Close].
type Sandbox struct {
	// State is the account: certificates, things, policies, role aliases.
	State *State
	// Authority is the sandbox CA; CA is its root certificate in PEM form,
	// to be installed on devices as AmazonRootCA1.pem.
	Authority *CA
	CA        []byte
	// CredentialsEndpoint is the credentials provider's "127.0.0.1:PORT",
	// for the agent's credential_endpoint with allow_custom_endpoint.
	CredentialsEndpoint string
	// S3URL is the plain-HTTP S3 endpoint ("http://127.0.0.1:PORT"),
	// path-style.
	S3URL string
	// ControlURL is the plain-HTTP endpoint of the control-plane services
	// ([ControlMux]); AdminURL the plain-HTTP admin endpoint (faults,
	// counters).
	ControlURL, AdminURL string
	// Region is the account's region.
	Region string
	// Control is the mux of the control listener (ControlURL). The
	// control-plane services mount their routes on it; see the package
	// documentation.
	Control *http.ServeMux
	// Issued holds every set of credentials the provider issued.
	Issued *CredentialRegistry

	opts      Options
	log       *zap.Logger
	s3Backend *s3mem.Backend
	faults    *faultSwitch
	calls     *callCounter
	servers   []*http.Server
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start starts the credentials provider (HTTPS, client certificates
// required), S3, the control-plane listener and the admin listener, each on
// its own loopback port. ctx bounds the start only; stop with Close.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	opts.setDefaults()
	if err := opts.Faults.Validate(); err != nil {
		return nil, err
	}
	ca, err := NewCA(opts.Now())
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{
		State: NewState(opts.Region), Authority: ca, CA: ca.PEM, Region: opts.Region,
		Control: newControlMux(), Issued: newCredentialRegistry(),
		opts: opts, log: opts.Logger.Named("sandbox"), s3Backend: s3mem.New(),
		faults: &faultSwitch{faults: opts.Faults}, calls: &callCounter{},
	}
	if err := sb.listenAll(ctx); err != nil {
		sb.Close()
		return nil, err
	}

	sb.log.Info("sandbox started", zap.String("credentials_endpoint", sb.CredentialsEndpoint),
		zap.String("s3_url", sb.S3URL), zap.String("control_url", sb.ControlURL),
		zap.String("admin_url", sb.AdminURL), zap.String("region", sb.Region))
	return sb, nil
}

func (sb *Sandbox) listenAll(ctx context.Context) error {
	addr, err := sb.serveCredentials(ctx)
	if err != nil {
		return err
	}
	sb.CredentialsEndpoint = addr

	if addr, err = sb.serve(ctx, "s3", sb.opts.S3Addr, sb.s3Handler(sb.log.Named("s3"))); err != nil {
		return err
	}
	sb.S3URL = "http://" + addr

	if err := sb.runStartHooks(); err != nil {
		return err
	}
	if addr, err = sb.serve(ctx, "control", sb.opts.ControlAddr, sb.Control); err != nil {
		return err
	}
	sb.ControlURL = "http://" + addr

	if addr, err = sb.serve(ctx, "admin", sb.opts.AdminAddr, sb.adminHandler()); err != nil {
		return err
	}
	sb.AdminURL = "http://" + addr
	return nil
}

func (sb *Sandbox) serveCredentials(ctx context.Context) (string, error) {
	cert, err := sb.Authority.ServerCertificate([]string{"127.0.0.1", "::1", "localhost"},
		sb.opts.Now(), DefaultDeviceValidity)
	if err != nil {
		return "", err
	}
	p := &credentialsProvider{
		state: sb.State, issued: sb.Issued, faults: sb.faults, calls: sb.calls,
		now: sb.opts.Now, defaultDuration: sb.opts.CredentialDuration,
		log: sb.log.Named("credentials"),
	}
	tlsConf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    sb.Authority.Pool(),
		Time:         sb.opts.Now,
	}
	return sb.serveTLS(ctx, sb.opts.CredentialsAddr, p.handler(), tlsConf)
}

func (sb *Sandbox) serve(ctx context.Context, name, addr string, h http.Handler) (string, error) {
	return sb.serveListener(ctx, name, addr, h, nil)
}

func (sb *Sandbox) serveTLS(ctx context.Context, addr string, h http.Handler, conf *tls.Config) (string, error) {
	return sb.serveListener(ctx, "credentials", addr, h, conf)
}

func (sb *Sandbox) serveListener(ctx context.Context, name, addr string, h http.Handler, conf *tls.Config) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}

	log := sb.log.Named(name)
	// TLS handshake refusals land here; they are expected, so debug.
	errLog, _ := zap.NewStdLogAt(log, zap.DebugLevel)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog,
	}
	sb.servers = append(sb.servers, srv)
	sb.wg.Add(1)
	go func() {
		defer sb.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", zap.Error(err))
		}
	}()
	return ln.Addr().String(), nil
}

// Close stops every listener, drops open connections, and waits for the
// servers to return. It is safe to call more than once.
func (sb *Sandbox) Close() error {
	sb.closeOnce.Do(func() {
		for _, srv := range sb.servers {
			_ = srv.Close()
		}
		sb.wg.Wait()
		sb.log.Info("sandbox stopped")
	})
	return nil
}

// Now returns the sandbox clock's time.
func (sb *Sandbox) Now() time.Time { return sb.opts.Now() }

// SetFaults replaces the credentials provider's faults; the zero value
// restores normal answers.
func (sb *Sandbox) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	sb.faults.set(f)
	sb.log.Info("faults set", zap.String("mode", string(f.Mode)),
		zap.Duration("delay", f.Delay), zap.Int("count", f.Count))
	return nil
}

// Faults returns the credentials provider's current faults.
func (sb *Sandbox) Faults() Faults { return sb.faults.get() }

// CredentialCalls returns how many requests reached the credentials
// provider's handler (after the TLS handshake), whatever their answer.
func (sb *Sandbox) CredentialCalls() int64 { return sb.calls.total.Load() }

// CredentialCallsByStatus returns how many requests the credentials provider
// answered with status code; code 0 counts the requests whose client left
// before an answer.
func (sb *Sandbox) CredentialCallsByStatus(code int) int64 { return sb.calls.status(code) }
