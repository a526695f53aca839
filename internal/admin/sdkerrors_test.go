package admin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

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

func TestSDKErrorsAreOneLineWithAFix(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the endpoint URL
		want  string
	}{
		{"no credentials", func(t *testing.T) string {
			imds := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(imds.Close)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
			return closedPort(t)
		}, "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or --profile), or run on an instance with a role"},
		{"connection refused", func(t *testing.T) string {
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-access-key")
			t.Setenv("AWS_MAX_ATTEMPTS", "1")
			return closedPort(t)
		}, "connection refused; check --endpoint-url, --region and the network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.ClearAWS(t)
			endpoint := tt.setup(t)
			core, logs := observer.New(zapcore.DebugLevel)
			a, err := New(context.Background(), Options{Region: "eu-west-1", EndpointURL: endpoint,
				StateDir: filepath.Join(t.TempDir(), "state"), Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}

			_, err = a.LookupFleet(context.Background(), testFleet)
			err = Explain(err)

			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to end with %q", err, tt.want)
			}
			for _, raw := range []string{"\n", "StatusCode: 0", "get identity", "exceeded maximum number of attempts"} {
				if strings.Contains(err.Error(), raw) {
					t.Errorf("error contains the SDK's %q: %q", raw, err)
				}
			}
			if tt.name == "no credentials" && logs.FilterMessageSnippet("falling back to IMDSv1").Len() != 1 {
				t.Errorf("the SDK's IMDSv1 warning did not go to the logger: %v", logs.All())
			}
		})
	}
}
