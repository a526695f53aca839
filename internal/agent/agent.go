// Package agent assembles the edge-agent daemon from its parts: it loads the
// device identity, builds the credentials provider client and its cache,
// opens the local listeners and serves them until stopped. It keeps
// cmd/edge-agent to flag parsing and lets tests run the whole daemon in
// process, with an injected clock.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
	"github.com/edge-agent/edge-agent/internal/credserver"
)

// DefaultReadyGrace is how long the agent waits for its first credentials
// before it tells systemd it is ready anyway, so that a device that boots
// offline is not restarted in a loop by the start timeout.
const DefaultReadyGrace = 60 * time.Second

// Notifier receives the daemon's lifecycle events, normally the systemd
// sd_notify helpers of internal/service. Every method must be cheap.
type Notifier interface {
	Ready() error
	Status(msg string) error
	Reloading() error
	Stopping() error
}

// Options configure an Agent. Config and Logger are required.
type Options struct {
	Config config.Config
	Logger *zap.Logger

	// Clock drives the credentials cache; nil means the system clock.
	Clock credprovider.Clock

	// Notifier, when set, learns readiness and state changes.
	Notifier Notifier

	// ReadyGrace defaults to DefaultReadyGrace.
	ReadyGrace time.Duration

	// Rand is the cache's jitter source; nil means crypto/rand.
	Rand func() float64
}

// Agent is a running daemon: one cache, one server, its listeners.
type Agent struct {
	log      *zap.Logger
	notifier Notifier
	grace    time.Duration
	clock    credprovider.Clock

	mu        sync.Mutex
	cfg       config.Config
	fetcher   *identityFetcher
	reloadErr error

	cache  *credprovider.Cache
	server *credserver.Server
	lns    []listener
	ready  chan struct{}
	once   sync.Once
}

type listener struct {
	kind string // unix, tcp or imds
	ln   net.Listener
}

// New loads the identity named by o.Config, builds the cache and the server
// and opens every listener, so that a caller learns of a bad identity, a busy
// port or a live socket before it reports the service as started.
func New(o Options) (*Agent, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		log:      o.Logger,
		notifier: o.Notifier,
		grace:    o.ReadyGrace,
		clock:    o.Clock,
		cfg:      o.Config,
		ready:    make(chan struct{}),
	}
	if a.notifier == nil {
		a.notifier = nopNotifier{}
	}
	if a.grace == 0 {
		a.grace = DefaultReadyGrace
	}
	if a.clock == nil {
		a.clock = credprovider.SystemClock
	}

	a.cache = a.newCache(o)

	token, err := a.token(o.Config)
	if err != nil {
		return nil, err
	}
	a.server = credserver.New(credserver.Options{
		Source:      source{a},
		Logger:      a.log.Named("credserver"),
		AllowedUIDs: o.Config.Socket.AllowedUIDs,
		AllowedGIDs: o.Config.Socket.AllowedGIDs,
		Token:       token,
		RoleName:    o.Config.RoleAlias,
		Now:         a.clock.Now,
	})
	if err := a.listen(o.Config); err != nil {
		a.closeListeners()
		return nil, err
	}
	return a, nil
}

// newCache builds the identity fetcher and the credentials cache in front of
// it. A missing or not yet valid identity is not fatal: a device may boot
// before its clock is set or before bootstrap ran. The cache retries, and
// clients see the reason.
func (a *Agent) newCache(o Options) *credprovider.Cache {
	a.fetcher = newIdentityFetcher(o.Config, a.clock.Now, a.log)
	if _, err := a.fetcher.current(); err != nil {
		a.log.Error("no usable identity yet; serving 503 until there is one", zap.Error(err))
	}

	info := identityInfo(o.Config, a.fetcher)
	return credprovider.NewCache(credprovider.CacheOptions{
		Fetcher:       a.fetcher,
		Endpoint:      info.Endpoint,
		ThingName:     info.ThingName,
		RoleAlias:     info.RoleAlias,
		CertNotAfter:  info.CertNotAfter,
		Clock:         a.clock,
		Logger:        a.log,
		PersistPath:   o.Config.CacheFile,
		OnStateChange: a.stateChanged,
		Rand:          o.Rand,
	})
}

// identityInfo names the identity the cache fetches for.
func identityInfo(cfg config.Config, f *identityFetcher) credprovider.Info {
	return credprovider.Info{
		Endpoint:     cfg.CredentialEndpoint,
		ThingName:    cfg.ThingName,
		RoleAlias:    cfg.RoleAlias,
		CertNotAfter: f.NotAfter(),
	}
}

// token returns the loopback token, creating the token file when the TCP or
// IMDS door is on, and nil otherwise.
func (a *Agent) token(cfg config.Config) ([]byte, error) {
	if cfg.TCP.Port == 0 {
		return nil, nil
	}
	token, err := credserver.EnsureToken(cfg.TCP.TokenFile)
	if err != nil {
		return nil, err
	}
	if err := credserver.ChownGroup(cfg.TCP.TokenFile, cfg.Socket.Group); err != nil {
		return nil, err
	}
	return token, nil
}

// listen opens the unix socket and, when configured, the loopback doors.
func (a *Agent) listen(cfg config.Config) error {
	ln, err := credserver.ListenUnix(cfg.Socket.Path, cfg.Socket.Group)
	if err != nil {
		return err
	}
	a.lns = append(a.lns, listener{"unix", ln})

	if cfg.TCP.Port != 0 {
		lns, err := credserver.ListenLoopback(cfg.TCP.Addresses, cfg.TCP.Port, a.log)
		if err != nil {
			return fmt.Errorf("tcp.port %d: %w", cfg.TCP.Port, err)
		}
		for _, l := range lns {
			a.lns = append(a.lns, listener{"tcp", l})
		}
	}
	if cfg.IMDS.Port != 0 {
		lns, err := credserver.ListenLoopback(cfg.TCP.Addresses, cfg.IMDS.Port, a.log)
		if err != nil {
			return fmt.Errorf("imds.port %d: %w", cfg.IMDS.Port, err)
		}
		for _, l := range lns {
			a.lns = append(a.lns, listener{"imds", l})
		}
	}
	return nil
}

func (a *Agent) closeListeners() {
	for _, l := range a.lns {
		_ = l.ln.Close()
	}
}

// Addrs returns the address of each open listener by kind (unix, tcp, imds).
func (a *Agent) Addrs() map[string][]net.Addr {
	out := map[string][]net.Addr{}
	for _, l := range a.lns {
		out[l.kind] = append(out[l.kind], l.ln.Addr())
	}
	return out
}

// Cache returns the agent's credentials cache.
func (a *Agent) Cache() *credprovider.Cache { return a.cache }

// Ready is closed when the agent first serves credentials.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run serves until ctx is done, then shuts the listeners down, letting
// requests in flight finish for up to five seconds.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	errc := make(chan error, len(a.lns)+1)
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		errc <- a.cache.Run(ctx)
	}()
	for _, l := range a.lns {
		go func() { errc <- a.serve(l) }()
	}
	go a.readyAfterGrace(ctx)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	}
	cancel()
	<-cacheDone // no refresh, and no write of the cache file, after Run returns

	_ = a.notifier.Stopping()
	a.log.Info("stopping")
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if serr := a.server.Shutdown(shutdownCtx); serr != nil {
		// Requests still running after the grace period were cut off; the
		// stop itself is still clean.
		a.log.Warn("requests in flight cut off at shutdown", zap.Error(serr))
	}
	return err
}

func (a *Agent) serve(l listener) error {
	var err error
	switch l.kind {
	case "unix":
		err = a.server.ServeUnix(l.ln)
	case "tcp":
		err = a.server.ServeTCP(l.ln)
	case "imds":
		err = a.server.ServeIMDS(l.ln)
	}
	if err != nil {
		return fmt.Errorf("serve %s %s: %w", l.kind, l.ln.Addr(), err)
	}
	return nil
}

// readyAfterGrace tells systemd the agent is up once the grace period has
// passed without credentials, so that dependent units start and see the 503
// with its reason rather than the agent being restarted in a loop.
func (a *Agent) readyAfterGrace(ctx context.Context) {
	t := time.NewTimer(a.grace)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-a.ready:
	case <-t.C:
		a.log.Warn("no credentials yet; reporting ready so that the socket's 503 explains why",
			zap.Duration("grace", a.grace))
		_ = a.notifier.Ready()
	}
}

// stateChanged forwards the cache's state to systemd, and signals readiness
// the first time credentials are served.
func (a *Agent) stateChanged(st credprovider.Status) {
	_ = a.notifier.Status(statusLine(st))
	if st.HasCredentials() {
		a.once.Do(func() {
			close(a.ready)
			_ = a.notifier.Ready()
		})
	}
}

// statusLine is the one-line STATUS= text for systemctl status.
func statusLine(st credprovider.Status) string {
	msg := string(st.State)
	if !st.Expiration.IsZero() {
		msg += ", credentials expire " + st.Expiration.UTC().Format(time.RFC3339)
	}
	if st.LastError != nil {
		msg += ", last error (" + string(st.LastError.Class) + "): " + st.LastError.Message
	}
	return msg
}

type nopNotifier struct{}

func (nopNotifier) Ready() error        { return nil }
func (nopNotifier) Status(string) error { return nil }
func (nopNotifier) Reloading() error    { return nil }
func (nopNotifier) Stopping() error     { return nil }
