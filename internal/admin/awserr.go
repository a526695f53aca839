package admin

import (
	"errors"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/edge-agent/edge-agent/internal/awsclient"
)

// Explain turns a credential chain failure or an endpoint that cannot be
// reached, anywhere in err, into one line that says what to do instead of
// the SDK's text; other errors are returned as they are.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := awsclient.AsCredentialsError(err); ok {
		return awsclient.CredentialsMessage(ce, "",
			"set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or --profile), or run on an instance with a role")
	}
	if endpoint, cause, ok := awsclient.Unreachable(err, "the AWS endpoint"); ok {
		return awsclient.UnreachableError(endpoint, cause)
	}
	return err
}

// errorCode returns the AWS error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func hasCode(err error, codes ...string) bool {
	code := errorCode(err)
	for _, c := range codes {
		if code != "" && code == c {
			return true
		}
	}
	return false
}

// isNotFound reports whether err says the resource does not exist, in any
// of the services' words.
func isNotFound(err error) bool {
	return hasCode(err, "ResourceNotFoundException", "ResourceNotFound", "NoSuchEntity",
		"NotFound", "NoSuchKey", "NoSuchBucket")
}

func isAlreadyExists(err error) bool {
	return hasCode(err, "ResourceAlreadyExistsException", "ResourceInUse", "EntityAlreadyExists")
}

// isRefusal reports whether err is the service refusing the call (a 4xx
// answer other than throttling), as opposed to a failure that a retry may
// cure.
func isRefusal(err error) bool {
	if err == nil || errorCode(err) == "" {
		return false
	}
	if hasCode(err, "ThrottlingException", "Throttling", "TooManyRequestsException") {
		return false
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
	}
	return true
}
