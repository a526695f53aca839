package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
	"go.uber.org/zap"
)

// CredentialsError is a failure of the SDK's credential chain to produce
// credentials, as opposed to a service refusing them.
type CredentialsError struct{ Err error }

// Error returns the chain's own message.
func (e *CredentialsError) Error() string { return e.Err.Error() }

// Unwrap returns the chain's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// NoneFound reports whether the chain found no source at all: it fell
// through to the instance role, and there was none.
func (e *CredentialsError) NoneFound() bool {
	return strings.Contains(e.Err.Error(), "EC2 IMDS")
}

// markedProvider marks the errors of a credentials provider as
// [CredentialsError], so that they can be told apart from the call's.
type markedProvider struct{ p aws.CredentialsProvider }

// MarkCredentialErrors wraps p so that its errors are [CredentialsError].
// A nil p stays nil.
func MarkCredentialErrors(p aws.CredentialsProvider) aws.CredentialsProvider {
	if p == nil {
		return nil
	}
	return markedProvider{p}
}

func (m markedProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.p.Retrieve(ctx)
	if err != nil {
		return c, &CredentialsError{Err: err}
	}
	return c, nil
}

// IsCredentialsProvider lets the SDK see through the wrapper (it checks for
// anonymous credentials this way).
func (m markedProvider) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(m.p, target)
}

// ProviderSources reports the wrapped provider's sources to the SDK.
func (m markedProvider) ProviderSources() []aws.CredentialSource {
	if s, ok := m.p.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// AsCredentialsError returns the [CredentialsError] in err's chain, if
// any.
func AsCredentialsError(err error) (*CredentialsError, bool) {
	var ce *CredentialsError
	ok := errors.As(err, &ce)
	return ce, ok
}

// CredentialsMessage is the one line for a credential chain failure:
// when none was found, the ways to provide them (fix), otherwise the
// chain's own cause, shortened.
func CredentialsMessage(ce *CredentialsError, what, fix string) error {
	if ce.NoneFound() {
		return fmt.Errorf("no AWS credentials found%s: %s", what, fix)
	}
	msg := strings.Join(strings.Fields(ce.Err.Error()), " ")
	msg = strings.TrimPrefix(msg, "failed to refresh cached credentials, ")
	return fmt.Errorf("get AWS credentials%s: %s; check AWS_PROFILE and ~/.aws/config", what, msg)
}

// Logger returns an SDK logger that sends the SDK's own messages (such as
// "falling back to IMDSv1") to log at debug level instead of stderr. A nil
// log drops them.
func Logger(log *zap.Logger) logging.Logger {
	if log == nil {
		return logging.Nop{}
	}
	log = log.Named("aws_sdk")
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...), zap.String("classification", string(c)))
	})
}
