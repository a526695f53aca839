package bootstrap

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edge-agent/edge-agent/internal/awsclient"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

// noIMDSRole is an instance metadata service that knows no token and no
// role, so that the SDK warns "falling back to IMDSv1" and then finds no
// credentials.
func noIMDSRole(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	testenv.ClearAWS(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
}

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestS3SDKErrorsAreOneLineWithAFix(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the endpoint URL
		want  string
	}{
		{"no credentials", func(t *testing.T) string { noIMDSRole(t); return newFakeS3(t).srv.URL },
			"no AWS credentials found for S3: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, " +
				"run on an instance with a role, or use --from-url/--from-dir"},
		{"connection refused", func(t *testing.T) string { cleanAWSEnv(t); return closedPort(t) },
			"connection refused; check --endpoint-url, --region and the network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := tt.setup(t)
			core, logs := observer.New(zapcore.DebugLevel)
			src, err := NewS3Source(context.Background(), S3Options{Bucket: testBucket, Prefix: "dev",
				Region: "eu-west-1", EndpointURL: endpoint, Logger: zap.New(core),
				Timeouts: awsclient.Timeouts{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}

			err = runWithin(t, 20*time.Second, func() error {
				_, err := src.Fetch(context.Background(), "device.pem.crt", MaxObjectSize)
				return err
			})

			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to end with %q", err, tt.want)
			}
			for _, raw := range []string{"\n", "StatusCode: 0", "get identity", "exceeded maximum number of attempts"} {
				if strings.Contains(err.Error(), raw) {
					t.Errorf("error contains the SDK's %q: %q", raw, err)
				}
			}
			if tt.name == "no credentials" && logs.FilterMessageSnippet("falling back to IMDSv1").FilterLevelExact(zapcore.DebugLevel).Len() != 1 {
				t.Errorf("the SDK's IMDSv1 warning did not go to the logger at debug level: %v", logs.All())
			}
		})
	}
}
