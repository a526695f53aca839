package admin

import (
	"errors"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

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
