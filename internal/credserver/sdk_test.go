package credserver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// unsetAWSEnv clears machine-wide AWS variables for the test.
func unsetAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_V1_DISABLED"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestGoSDKReadsBothDoors has the Go SDK's own providers read the container
// endpoint and the IMDS door.
func TestGoSDKReadsBothDoors(t *testing.T) {
	unsetAWSEnv(t)
	h := newHarness(t, Options{Token: []byte(testToken), RoleName: "fleet-a"})
	tcp := h.startTCP(t, h.srv.ServeTCP)
	door := h.startTCP(t, h.srv.ServeIMDS)

	tests := []struct {
		name string
		p    aws.CredentialsProvider
	}{
		{"container", endpointcreds.New(tcp+"/v1/credentials", func(o *endpointcreds.Options) {
			o.AuthorizationToken = testToken
		})},
		{"imds", ec2rolecreds.New(func(o *ec2rolecreds.Options) {
			o.Client = imds.New(imds.Options{Endpoint: door})
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("Retrieve() = %v", err)
			}
			if got.AccessKeyID != testKeyID || got.SecretAccessKey != testSecret || got.SessionToken != testSess {
				t.Errorf("Retrieve() = %s, want the served credentials", got.AccessKeyID)
			}
			if !got.Expires.Equal(t0.Add(time.Hour)) {
				t.Errorf("Expires = %v, want %v", got.Expires, t0.Add(time.Hour))
			}
		})
	}
}
