package awsname

import (
	"errors"
	"strings"
	"testing"
)

func TestNamesAreCheckedWithTheRule(t *testing.T) {
	tests := []struct {
		name     string
		check    func() error
		wantPart string // "" means valid
	}{
		{"bucket ok", func() error { return ValidateBucketName("my.bucket-1") }, ""},
		{"bucket upper", func() error { return ValidateBucketName("B_1") }, `character 'B' at position 1`},
		{"bucket underscore", func() error { return ValidateBucketName("b_1") }, `character '_' at position 2`},
		{"bucket uri", func() error { return ValidateBucketName("s3://b1/devices") }, "give the bucket name only (b1)"},
		{"bucket double dot", func() error { return ValidateBucketName("a..b") }, `character '.' at position 3`},
		{"bucket ip", func() error { return ValidateBucketName("10.0.0.1") }, "not an IP address"},
		{"region ok", func() error { return ValidateRegion("eu-west-1") }, ""},
		{"region gov", func() error { return ValidateRegion("us-gov-west-1") }, ""},
		{"region iso", func() error { return ValidateRegion("us-isob-east-1") }, ""},
		{"region cn", func() error { return ValidateRegion("cn-northwest-1") }, ""},
		{"region mars", func() error { return ValidateRegion("mars-1") }, "must be an AWS region such as eu-west-1"},
		{"region upper", func() error { return ValidateRegion("EU-WEST-1") }, "must be an AWS region"},
		{"region empty", func() error { return ValidateRegion("") }, "must be an AWS region"},
		{"custom region ok", func() error { return ValidateCustomRegion("garage") }, ""},
		{"custom region space", func() error { return ValidateCustomRegion("my region") }, "letters, digits"},
		{"arn ok", func() error { return ValidateARNPartition("role ARN", "arn:aws:iam::123456789012:role/r", "eu-west-1") }, ""},
		{"arn gov ok", func() error {
			return ValidateARNPartition("role ARN", "arn:aws-us-gov:iam::123456789012:role/r", "us-gov-west-1")
		}, ""},
		{"arn gov in us-east-1", func() error {
			return ValidateARNPartition("role ARN", "arn:aws-us-gov:iam::123456789012:role/r", "us-east-1")
		}, "is in partition aws-us-gov, but region us-east-1 is in partition aws"},
		{"arn aws in cn", func() error {
			return ValidateARNPartition("role ARN", "arn:aws:iam::123456789012:role/r", "cn-north-1")
		},
			"region cn-north-1 is in partition aws-cn"},
		{"not an arn", func() error { return ValidateARNPartition("role ARN", "role/r", "eu-west-1") }, "must be an ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check()
			if tt.wantPart == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			var ne *NameError
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), tt.wantPart) {
				t.Errorf("got %v, want a NameError containing %q", err, tt.wantPart)
			}
		})
	}
}

func TestThingAndRoleAliasNames(t *testing.T) {
	tests := []struct {
		name, value string
		check       func(string) error
		want        string // "" means valid
	}{
		{"thing ok", "sensor:0042_a-b", func(s string) error { return ValidateThingName("thing name", s) }, ""},
		{"thing space", "a b", func(s string) error { return ValidateThingName("thing name", s) }, "position 2"},
		{"thing too long", strings.Repeat("a", 129), func(s string) error { return ValidateThingName("thing name", s) }, "1 to 128"},
		{"alias ok", "SageMakerEdge-fleet_a=1,@x", ValidateRoleAlias, ""},
		{"alias slash", "a/b", ValidateRoleAlias, "character '/' at position 2"},
		{"alias empty", "", ValidateRoleAlias, "1 to 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.value)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
