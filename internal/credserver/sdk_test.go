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

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// TestGoSDKReadsBothDoors has the Go SDK's own providers read the container
// endpoint and the IMDS door.
func TestGoSDKReadsBothDoors(t *testing.T) {
	testenv.ClearAWS(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false") // the IMDS door is the point
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, Token: []byte(testToken), RoleName: "fleet-a"})
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
