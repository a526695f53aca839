// Package awsclient holds what the AWS SDK clients of bootstrap and admin
// share: an HTTP client whose every step has a timeout, bounded retries,
// and errors turned into one line that says what to fix.
package awsclient

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Timeouts bound each HTTP request the SDK makes, and its retries. Zero
// fields take the value of [DefaultTimeouts].
type Timeouts struct {
	// Dial bounds the TCP connect.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for the answer's headers once the
	// request is sent, and then each wait for more of the body.
	ResponseHeader time.Duration
	// MaxAttempts is the number of tries per call, the first included.
	MaxAttempts int
	// MaxBackoff caps the wait between two tries.
	MaxBackoff time.Duration
}

// DefaultTimeouts are long enough for a slow cellular link and short
// enough that an endpoint that accepts and never answers fails within
// about two minutes.
var DefaultTimeouts = Timeouts{
	Dial:           10 * time.Second,
	TLSHandshake:   10 * time.Second,
	ResponseHeader: 30 * time.Second,
	MaxAttempts:    3,
	MaxBackoff:     5 * time.Second,
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	pick := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&t.Dial, d.Dial)
	pick(&t.TLSHandshake, d.TLSHandshake)
	pick(&t.ResponseHeader, d.ResponseHeader)
	pick(&t.MaxBackoff, d.MaxBackoff)
	if t.MaxAttempts <= 0 {
		t.MaxAttempts = d.MaxAttempts
	}
	return t
}

// HTTPClient returns the SDK's HTTP client with the timeouts of t.
func HTTPClient(t Timeouts) *awshttp.BuildableClient {
	t = t.withDefaults()
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = t.Dial }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = t.TLSHandshake
			tr.ResponseHeaderTimeout = t.ResponseHeader
		}).
		WithReadTimeout(t.ResponseHeader)
}

// Retryer returns the SDK's standard retryer with the attempts and the
// backoff cap of t.
func Retryer(t Timeouts) func() aws.Retryer {
	t = t.withDefaults()
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = t.MaxAttempts
			o.MaxBackoff = t.MaxBackoff
		})
	}
}
