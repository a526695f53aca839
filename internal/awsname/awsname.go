// Package awsname checks AWS names before any call is made: bucket names,
// regions and the partition of ARNs. Its errors name the value and the
// rule, so that a typo is refused locally instead of by a remote service
// in its own words.
package awsname

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// NameError is a name refused before any call: it says which name, the
// rule, and the first offending character when there is one.
type NameError struct {
	Kind, Name, Rule string
	// Pos is the byte offset of the offending character, or -1.
	Pos int
}

// Error names the kind, the value, the offending character and the rule.
func (e *NameError) Error() string {
	if e.Pos >= 0 && e.Pos < len(e.Name) {
		return fmt.Sprintf("%s %q: character %q at position %d is not allowed: %s",
			e.Kind, e.Name, e.Name[e.Pos], e.Pos+1, e.Rule)
	}
	return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, e.Rule)
}

// BucketRule is the rule of S3 general purpose bucket names.
const BucketRule = "must be 3 to 63 lower-case letters, digits, '.' and '-', " +
	"starting and ending with a letter or digit, without '..' and not an IP address"

// ValidateBucketName checks an S3 general purpose bucket name. An s3://
// URI is refused with the bucket name it holds.
func ValidateBucketName(name string) error {
	if rest, ok := strings.CutPrefix(name, "s3://"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		return &NameError{Kind: "bucket name", Name: name, Rule: "give the bucket name only (" + bucket + "), not an s3:// URI", Pos: -1}
	}
	if len(name) < 3 || len(name) > 63 || net.ParseIP(name) != nil {
		return &NameError{Kind: "bucket name", Name: name, Rule: BucketRule, Pos: -1}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
		edge := (i == 0 || i == len(name)-1) && (c == '.' || c == '-')
		if !ok || edge || (c == '.' && i > 0 && name[i-1] == '.') {
			return &NameError{Kind: "bucket name", Name: name, Rule: BucketRule, Pos: i}
		}
	}
	return nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$`)

// RegionRule is the form of an AWS region name.
const RegionRule = `must be an AWS region such as eu-west-1 or us-gov-west-1: two letters, ` +
	`an optional -gov or -iso part, a direction and a number (^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$)`

// ValidateRegion checks the form of an AWS region name; it does not know
// which regions exist.
func ValidateRegion(region string) error {
	if regionRE.MatchString(region) {
		return nil
	}
	return &NameError{Kind: "region", Name: region, Rule: RegionRule, Pos: -1}
}

var customRegionRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)

// ValidateCustomRegion checks the region given to an S3-compatible store,
// which may use any name (MinIO, Garage): letters, digits, '-' and '_'.
func ValidateCustomRegion(region string) error {
	if customRegionRE.MatchString(region) {
		return nil
	}
	return &NameError{Kind: "region", Name: region, Pos: -1,
		Rule: "must be 1 to 63 letters, digits, '-' and '_' (S3-compatible stores accept their own region names)"}
}

// Partition returns the AWS partition of a region: aws, aws-cn,
// aws-us-gov, aws-iso, aws-iso-b, aws-iso-e or aws-iso-f.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	}
	return "aws"
}

// ValidateARNPartition checks that the partition of arn (its second
// field) is the partition of region: a role of aws-us-gov cannot be used
// from us-east-1.
func ValidateARNPartition(kind, arn, region string) error {
	fields := strings.SplitN(arn, ":", 3)
	if len(fields) < 3 || fields[0] != "arn" {
		return &NameError{Kind: kind, Name: arn, Rule: "must be an ARN: arn:<partition>:<service>:...", Pos: -1}
	}
	if got, want := fields[1], Partition(region); got != want {
		return &NameError{Kind: kind, Name: arn, Pos: -1, Rule: fmt.Sprintf(
			"is in partition %s, but region %s is in partition %s: use an ARN of arn:%s:..., or a --region of partition %s",
			got, region, want, want, got)}
	}
	return nil
}

// ThingRule is the rule of IoT thing and thing type names.
const ThingRule = "must be 1 to 128 letters, digits, ':', '_' and '-' (IoT pattern [a-zA-Z0-9:_-]+)"

// ValidateThingName checks an IoT thing or thing type name; kind names it
// in the error ("thing name", "thing type").
func ValidateThingName(kind, name string) error {
	return checkChars(kind, name, ThingRule, 128, ":_-")
}

// RoleAliasRule is the rule of IoT role alias names.
const RoleAliasRule = "must be 1 to 128 letters, digits and _=,@- (IoT pattern [\\w=,@-]+)"

// ValidateRoleAlias checks an IoT role alias name.
func ValidateRoleAlias(name string) error {
	return checkChars("role alias", name, RoleAliasRule, 128, "_=,@-")
}

// checkChars checks that name is 1 to max characters long and made of ASCII
// letters, digits and the characters in extra, naming the first one that is
// not.
func checkChars(kind, name, rule string, max int, extra string) error {
	if name == "" || len(name) > max {
		return &NameError{Kind: kind, Name: name, Rule: rule, Pos: -1}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !strings.ContainsRune(extra, rune(c)) {
			return &NameError{Kind: kind, Name: name, Rule: rule, Pos: i}
		}
	}
	return nil
}
