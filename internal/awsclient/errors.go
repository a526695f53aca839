package awsclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Unreachable reports whether err is a failure to get any answer from an
// endpoint: refused or reset connection, unknown host, TLS failure or
// timeout. It returns the endpoint (scheme://host of the request, else
// fallback) and a short cause such as "connection refused".
func Unreachable(err error, fallback string) (endpoint, cause string, ok bool) {
	var send *smithyhttp.RequestSendError
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
	if !errors.As(err, &send) && !timedOut {
		return "", "", false
	}
	endpoint = fallback
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	return endpoint, shortCause(err), true
}

// UnreachableError is the one line for an endpoint that does not answer.
func UnreachableError(endpoint, cause string) error {
	return fmt.Errorf("cannot reach %s: %s; check --endpoint-url, --region and the network", endpoint, cause)
}

// shortCause names the network failure in a few words.
func shortCause(err error) string {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.As(err, &dns):
		return "no such host " + dns.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &unknownCA):
		return "TLS: certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "TLS: " + hostErr.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time (timed out)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "no answer in time (timed out)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
