package bootstrap

import (
	"context"
	"strings"
	"testing"
)

func TestS3InputIsCheckedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name      string
		opts      S3Options
		awsRegion string // AWS_REGION
		want      string // "" means accepted
	}{
		{"s3 uri", S3Options{Bucket: "s3://b1"}, "", "give the bucket name only (b1), or use --bucket b1 --prefix P"},
		{"s3 uri with prefix", S3Options{Bucket: "s3://b1/devices/d1"}, "", "or use --bucket b1 --prefix devices/d1"},
		{"bad bucket", S3Options{Bucket: "B_1"}, "", `--bucket: bucket name "B_1": character 'B' at position 1 is not allowed: must be 3 to 63 lower-case`},
		{"bad region", S3Options{Bucket: "bk1", Region: "mars-1"}, "", `--region: region "mars-1": must be an AWS region such as eu-west-1`},
		{"bad region from the environment", S3Options{Bucket: "bk1"}, "mars-1", `region "mars-1" (from AWS_REGION or the profile): must be an AWS region`},
		{"region of an S3-compatible store", S3Options{Bucket: "bk1", Region: "garage", EndpointURL: "http://127.0.0.1:1"}, "", ""},
		{"good", S3Options{Bucket: "bk1", Region: "us-gov-west-1"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanAWSEnv(t)
			if tt.awsRegion != "" {
				t.Setenv("AWS_REGION", tt.awsRegion)
			}

			_, err := NewS3Source(context.Background(), tt.opts)

			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want it accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
