package credprovider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Default timeouts of a [Client].
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultTimeout        = 30 * time.Second
)

// ThingNameHeader is the request header that names the IoT thing.
const ThingNameHeader = "x-amzn-iot-thingname"

// ClientOptions configure a [Client].
type ClientOptions struct {
	// Endpoint is the account's credentials endpoint host, for example
	// c1a2b3.credentials.iot.eu-west-1.amazonaws.com, optionally with a
	// port (the sandbox uses 127.0.0.1:port).
	Endpoint string

	// RoleAlias is the IoT role alias to assume.
	RoleAlias string

	// ThingName, when set, is sent in the x-amzn-iot-thingname header.
	ThingName string

	// Certificate is the device certificate and private key.
	Certificate tls.Certificate

	// Roots are the only certificate authorities trusted for the endpoint;
	// the system roots are not used.
	Roots *x509.CertPool

	// ConnectTimeout bounds the TCP connect and the TLS handshake
	// (default [DefaultConnectTimeout]).
	ConnectTimeout time.Duration

	// Timeout bounds a whole call (default [DefaultTimeout]).
	Timeout time.Duration

	// Proxy picks the proxy for a request; nil means
	// http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY). The proxy sees only
	// a CONNECT tunnel: mutual TLS runs inside it. Note that
	// http.ProxyFromEnvironment never proxies localhost or loopback
	// addresses.
	Proxy func(*http.Request) (*url.URL, error)

	// UserAgent is sent in the User-Agent header, if set.
	UserAgent string
}

// Result is one successful call: the credentials and the server's Date
// header (zero when missing), for clock-skew checks.
type Result struct {
	Credentials
	ServerDate time.Time
}

// Fetcher obtains fresh credentials. [*Client] is the real one.
type Fetcher interface {
	Fetch(ctx context.Context) (Result, error)
}

// Client calls the AWS IoT credentials provider over mutual TLS. It is safe
// for concurrent use, and reuses its connection between calls.
type Client struct {
	url       string
	thingName string
	userAgent string
	timeout   time.Duration
	http      *http.Client
}

// NewClient checks o and returns a client. It makes no network call.
func NewClient(o ClientOptions) (*Client, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("new credentials client: %w", err)
	}

	o.setDefaults()

	return &Client{
		url:       credentialsURL(o.Endpoint, o.RoleAlias),
		thingName: o.ThingName,
		userAgent: o.UserAgent,
		timeout:   o.Timeout,
		http:      newHTTPClient(o),
	}, nil
}

// URL returns the URL the client calls. It holds no secret.
func (c *Client) URL() string { return c.url }

// Fetch makes one call and returns the credentials, or an [*Error] that says
// what went wrong and how to retry.
func (c *Client) Fetch(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return Result{}, &Error{Class: ClassConfiguration, Message: "build request", Err: err}
	}
	c.setHeaders(req)

	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, transportError(err)
	}
	defer func() { _ = resp.Body.Close() }()

	return readResponse(resp)
}

// CloseIdleConnections closes the client's idle connections, for example
// after a SIGHUP replaced it.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

func (c *Client) setHeaders(req *http.Request) {
	req.Header.Set("Accept", "application/json")
	if c.thingName != "" {
		req.Header.Set(ThingNameHeader, c.thingName)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
}

func (o *ClientOptions) validate() error {
	switch {
	case o.Endpoint == "":
		return errors.New("no credentials endpoint")
	case strings.ContainsAny(o.Endpoint, "/?#@ "):
		return fmt.Errorf("credentials endpoint %q: want a host or host:port, without scheme or path", o.Endpoint)
	case o.RoleAlias == "":
		return errors.New("no role alias")
	case len(o.Certificate.Certificate) == 0 || o.Certificate.PrivateKey == nil:
		return errors.New("no device certificate and key")
	case o.Roots == nil:
		return errors.New("no root CAs for the credentials endpoint")
	}

	return nil
}

func (o *ClientOptions) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Proxy == nil {
		o.Proxy = http.ProxyFromEnvironment
	}
}

func credentialsURL(endpoint, alias string) string {
	u := url.URL{Scheme: "https", Host: endpoint, Path: "/role-aliases/" + alias + "/credentials"}

	return u.String()
}
