package admin

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/edge-agent/edge-agent/internal/awsname"
)

// NameError is a name refused before any call: it says which name, the
// rule, and the first offending character when there is one.
type NameError = awsname.NameError

// SageMaker's EntityName: letters and digits, single words joined by
// hyphens, 1 to 63 characters.
var sagemakerNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

const sagemakerRule = "must be 1 to 63 letters, digits and hyphens, " +
	"starting and ending with a letter or digit (SageMaker pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$)"

// ValidateFleetName checks a fleet name against SageMaker's rule; the role
// alias SageMakerEdge-<fleet> then fits IoT's rule too.
func ValidateFleetName(name string) error { return checkSageMaker("fleet name", name) }

// ValidateDeviceName checks a device name against SageMaker's rule.
func ValidateDeviceName(name string) error { return checkSageMaker("device name", name) }

func checkSageMaker(kind, name string) error {
	if sagemakerNameRE.MatchString(name) {
		return nil
	}
	pos := -1
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '-' {
			pos = i
			break
		}
	}
	switch {
	case name == "":
		return &NameError{Kind: kind, Name: name, Rule: "must not be empty; " + sagemakerRule, Pos: -1}
	case pos < 0 && len(name) > 63:
		return &NameError{Kind: kind, Name: name, Rule: fmt.Sprintf("is %d characters long; %s", len(name), sagemakerRule), Pos: -1}
	case pos < 0 && name[0] == '-':
		pos = 0
	case pos < 0:
		pos = len(name) - 1
	}
	return &NameError{Kind: kind, Name: name, Rule: sagemakerRule, Pos: pos}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateThingName checks an IoT thing or thing type name.
func ValidateThingName(kind, name string) error { return awsname.ValidateThingName(kind, name) }

// ValidateBucketName checks an S3 general purpose bucket name.
func ValidateBucketName(name string) error { return awsname.ValidateBucketName(name) }

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// ValidateRoleARN checks an IAM role ARN.
func ValidateRoleARN(arn string) error {
	const rule = "must be an IAM role ARN: arn:aws:iam::<12-digit account>:role/<path/name>"
	if roleARNRE.MatchString(arn) {
		return nil
	}
	pos := -1
	want := "arn:aws:iam::"
	for i := 0; i < len(arn) && i < len(want); i++ {
		if arn[i] != want[i] {
			pos = i
			break
		}
	}
	return &NameError{Kind: "role ARN", Name: arn, Rule: rule, Pos: pos}
}

// ParseS3URI splits s3://bucket/prefix and checks the bucket name.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", &NameError{Kind: "S3 URI", Name: uri, Rule: "must start with s3://", Pos: -1}
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := ValidateBucketName(bucket); err != nil {
		return "", "", err
	}
	return bucket, prefix, nil
}
