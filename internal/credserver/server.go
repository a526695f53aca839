package credserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Limits and timeouts of every listener.
const (
	// maxHeaderBytes is the size of a request line and headers above which
	// the handler answers 413 RequestTooLarge in JSON.
	maxHeaderBytes = 8 << 10

	// hardHeaderBytes is the http.Server limit, far above maxHeaderBytes so
	// that oversized headers reach the handler and get CONTRACT.md's JSON
	// 413 rather than net/http's plain-text 431, which it sends before any
	// handler runs. It only bounds the memory one request can take.
	hardHeaderBytes = 1 << 20

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 90 * time.Second

	// getTimeout bounds one Source.Get, which may wait for a first fetch.
	getTimeout = 20 * time.Second
)

// Options configures a [Server].
type Options struct {
	// Source provides the credentials and the status. Required.
	Source Source

	// Logger receives refused requests (warn) and served ones (debug).
	// Nil means no logging.
	Logger *zap.Logger

	// AllowedUIDs and AllowedGIDs are the peers allowed besides the agent's
	// own uid, on the unix socket, on the IMDS door and, with CheckTCPPeers,
	// on the TCP door. The configuration's default is [0] (CONTRACT.md);
	// here nil means nobody but the agent's own uid. A unix peer is allowed
	// when its uid is listed, or its primary gid or one of its
	// supplementary gids is listed or is the group [ListenUnix] gave the
	// socket (see the package documentation). On the TCP doors only the
	// primary gid from the user database counts. uid 0 is allowed only when
	// listed or in such a group, even when the agent itself runs as root.
	AllowedUIDs []int
	AllowedGIDs []int

	// CheckTCPPeers makes the token-protected TCP door also check, as the
	// IMDS door always does, that the uid owning the client's socket is in
	// the allow-list: defence in depth against a leaked token. Off by
	// default, since a token reader is normally meant to be a client.
	CheckTCPPeers bool

	// Token is the secret every loopback TCP request must carry as its
	// Authorization header. Required for [Server.ServeTCP].
	Token []byte

	// RoleName is the one role the IMDS door lists (the role alias).
	// Required for [Server.ServeIMDS].
	RoleName string

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server answers the local API on any number of listeners.
type Server struct {
	src      Source
	log      *zap.Logger
	uids     map[int]bool
	gids     map[int]bool
	ownUID   int
	tokenSum [sha256.Size]byte
	hasToken bool
	tcpPeers bool
	procNet  [2]string // the tcp and tcp6 tables; tests point them elsewhere
	procRoot string    // /proc, for peer groups on kernels before 4.13
	roleName string
	imdsKey  []byte
	now      func() time.Time

	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

// New returns a Server for o. It panics when o.Source is nil, which is a
// programming error.
func New(o Options) *Server {
	if o.Source == nil {
		panic("credserver: Options.Source is nil")
	}
	s := &Server{
		src:      o.Source,
		log:      o.Logger,
		uids:     intSet(o.AllowedUIDs),
		gids:     intSet(o.AllowedGIDs),
		ownUID:   os.Getuid(),
		tcpPeers: o.CheckTCPPeers,
		procNet:  [2]string{procNetTCP, procNetTCP6},
		procRoot: "/proc",
		roleName: o.RoleName,
		now:      o.Now,
		imdsKey:  make([]byte, 32),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(o.Token) > 0 {
		s.tokenSum, s.hasToken = sha256.Sum256(o.Token), true
	}
	rand.Read(s.imdsKey) // never fails on Linux (crypto/rand panics instead)

	return s
}

// ServeUnix serves the local API on ln, a unix-socket listener, checking each
// peer's uid and groups, as the kernel reports them, against the allow-list
// before routing. When ln comes from [ListenUnix] with a group, members of
// that group are allowed too. It returns nil after [Server.Shutdown].
func (s *Server) ServeUnix(ln net.Listener) error {
	log := s.log.Named("unix")
	h := s.peerCheck(log, s.api(log))

	sockGID := -1
	if gl, ok := ln.(*groupListener); ok {
		sockGID = gl.gid
	}
	return s.serve(ln, log, h, s.unixConnContext(sockGID))
}

// ServeTCP serves the local API on ln, a loopback TCP listener, requiring
// the token in the Authorization header before routing, and with
// [Options.CheckTCPPeers] an allowed owner of the client's socket too. It
// returns nil after [Server.Shutdown].
func (s *Server) ServeTCP(ln net.Listener) error {
	if !s.hasToken {
		return errors.New("serve tcp: no token configured")
	}
	log := s.log.Named("tcp")
	h := s.tokenCheck(log, s.api(log))

	if !s.tcpPeers {
		return s.serve(ln, log, h, nil)
	}
	return s.serve(ln, log, s.tcpPeerCheck(log, "TCP", h), tcpPeerConnContext)
}

// ServeIMDS serves the IMDSv2-compatible door on ln, a loopback TCP
// listener. IMDS clients send no credential of their own, so every
// connection's owner (the uid of the client's socket, from the kernel's TCP
// table) must be in the allow-list, as on the unix socket. It returns nil
// after [Server.Shutdown].
func (s *Server) ServeIMDS(ln net.Listener) error {
	if s.roleName == "" {
		return errors.New("serve imds: no role name configured")
	}
	log := s.log.Named("imds")
	h := s.tcpPeerCheck(log, "IMDS", s.imds(log))

	return s.serve(ln, log, h, tcpPeerConnContext)
}

// Shutdown stops every listener, waits for requests in flight until ctx is
// done, then closes whatever connections remain, and makes later Serve calls
// return at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()

	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shut down local api: %w", err)
	}
	return nil
}

// serve runs one http.Server on ln until Shutdown.
func (s *Server) serve(ln net.Listener, log *zap.Logger, h http.Handler,
	connCtx func(context.Context, net.Conn) context.Context) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    hardHeaderBytes,
		ConnContext:       connCtx,
	}
	if std, err := zap.NewStdLogAt(log, zap.WarnLevel); err == nil {
		hs.ErrorLog = std
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()

	log.Info("serving local api", zap.String("address", ln.Addr().String()))
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", ln.Addr(), err)
}

func intSet(ids []int) map[int]bool {
	m := make(map[int]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
