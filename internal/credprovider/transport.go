package credprovider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// newHTTPClient builds the mutual-TLS HTTP client: TLS 1.2 or newer, only
// o.Roots trusted, the device certificate always offered, connect and overall
// timeouts, the proxy of o.Proxy, and no redirects followed.
func newHTTPClient(o ClientOptions) *http.Client {
	cert := o.Certificate
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}

	tr := &http.Transport{
		Proxy:       o.Proxy,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    o.Roots,
			// Offer the device certificate even when the server's list of
			// acceptable CAs does not name its issuer, as AWS IoT does.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &cert, nil
			},
		},
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2,
		IdleConnTimeout:       90 * time.Second,
	}

	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// transportError classifies a failure before any response: network, proxy
// and TLS problems and timeouts are transient; the hint names the likely cause.
func transportError(err error) *Error {
	return &Error{Class: ClassTransient, Message: "request failed", Hint: transportHint(err), Err: err}
}

func transportHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError

	switch {
	case errors.As(err, &unknownCA):
		return "the endpoint's certificate is not signed by the configured root CA: check the root CA file and credential_endpoint"
	case errors.As(err, &hostErr):
		return "the endpoint's certificate does not name this host: check credential_endpoint"
	case errors.As(err, &invalid), errors.As(err, &certErr):
		return "the endpoint's certificate was refused: check the root CA file and the device clock"
	case errors.As(err, &alert), strings.Contains(err.Error(), "remote error: tls"):
		return "the endpoint refused the TLS handshake: check that the device certificate is registered and ACTIVE in AWS IoT"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "the endpoint did not answer in time: check the network, proxy settings and credential_endpoint"
	}

	return "check the network, proxy settings (HTTPS_PROXY, NO_PROXY) and credential_endpoint"
}

func isTimeout(err error) bool {
	var ne net.Error

	return errors.As(err, &ne) && ne.Timeout()
}
