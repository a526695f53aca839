package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// startApp runs edge-sandbox in the test's process until the test ends.
func startApp(t *testing.T, args ...string) (*app, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sandbox")
	a := &app{stdout: &bytes.Buffer{}, stderr: io.Discard, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, append([]string{"--dir", dir}, args...)) }()

	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case <-a.ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-timer.C:
		t.Fatal("edge-sandbox not ready after 20s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		for _, name := range []string{endpointsFile, pidFile} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				t.Errorf("%s left behind after stop", name)
			}
		}
	})
	return a, dir
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}

func TestSeededSandbox(t *testing.T) {
	testenv.ClearAWS(t)
	a, dir := startApp(t, "--seed-device", "sensor-1", "--role-alias", "fleet-a",
		"--bucket", "b1", "--prefix", "devices/sensor-1", "--cred-duration", "20m", "--key-type", "rsa")
	env := readEnv(t, filepath.Join(dir, endpointsFile))

	t.Run("endpoints.env", func(t *testing.T) {
		want := map[string]string{
			"EDGE_SANDBOX_CRED_ENDPOINT": a.sb.CredentialsEndpoint, "EDGE_SANDBOX_S3_URL": a.sb.S3URL,
			"EDGE_SANDBOX_CONTROL_URL": a.sb.ControlURL, "EDGE_SANDBOX_ADMIN_URL": a.sb.AdminURL,
			"EDGE_SANDBOX_REGION": "us-east-1", "EDGE_SANDBOX_BUCKET": "b1",
			"EDGE_SANDBOX_PREFIX": "devices/sensor-1", "EDGE_SANDBOX_DEVICE": "sensor-1",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		pid, _ := os.ReadFile(filepath.Join(dir, pidFile))
		if got := strings.TrimSpace(string(pid)); got == "" {
			t.Error("pid file is empty")
		}
	})

	t.Run("device files get credentials", func(t *testing.T) {
		devDir := env["EDGE_SANDBOX_DEVICE_DIR"]
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(devDir, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if fi, err := os.Stat(filepath.Join(devDir, "private.pem.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("private.pem.key mode = %v, %v, want 0600", fi.Mode().Perm(), err)
		}
		if !bytes.Equal(read("AmazonRootCA1.pem"), a.sb.CA) {
			t.Error("AmazonRootCA1.pem is not the sandbox CA")
		}
		status := credentialsCall(t, env, read("device.pem.crt"), read("private.pem.key"), read("AmazonRootCA1.pem"))
		if status != 200 {
			t.Errorf("credentials status = %d, want 200", status)
		}
	})

	t.Run("S3 holds the authorization files", func(t *testing.T) {
		c := s3.New(s3.Options{Region: env["EDGE_SANDBOX_REGION"], BaseEndpoint: aws.String(env["EDGE_SANDBOX_S3_URL"]),
			UsePathStyle: true, Credentials: credentials.NewStaticCredentialsProvider(
				env["EDGE_SANDBOX_ADMIN_ACCESS_KEY_ID"], env["EDGE_SANDBOX_ADMIN_SECRET_ACCESS_KEY"], "")})
		out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("b1")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		want := "devices/sensor-1/AmazonRootCA1.pem devices/sensor-1/device.pem.crt " +
			"devices/sensor-1/edge-agent.yaml devices/sensor-1/private.pem.key"
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
	})
}

// credentialsCall makes one mTLS credentials call and returns its status.
func credentialsCall(t *testing.T, env map[string]string, cert, key, ca []byte) int {
	t.Helper()
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots}}
	defer tr.CloseIdleConnections()

	req, _ := http.NewRequest("GET", "https://"+env["EDGE_SANDBOX_CRED_ENDPOINT"]+"/role-aliases/"+
		env["EDGE_SANDBOX_ROLE_ALIAS"]+"/credentials", nil)
	req.Header.Set("x-amzn-iot-thingname", env["EDGE_SANDBOX_DEVICE"])
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestFaultFlagsAndAdmin(t *testing.T) {
	a, dir := startApp(t, "--fault", "429", "--fault-retry-after", "4s", "--fault-count", "2")
	env := readEnv(t, filepath.Join(dir, endpointsFile))
	if _, ok := env["EDGE_SANDBOX_DEVICE"]; ok {
		t.Error("EDGE_SANDBOX_DEVICE set without --seed-device")
	}
	if got := a.sb.Faults(); got.Mode != "429" || got.RetryAfter != 4*time.Second || got.Count != 2 {
		t.Errorf("Faults() = %+v, want 429, retry after 4s, count 2", got)
	}

	req, _ := http.NewRequest("PUT", env["EDGE_SANDBOX_ADMIN_URL"]+"/faults", strings.NewReader("mode=html"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := a.sb.Faults().Mode; got != "html" {
		t.Errorf("mode after PUT = %q, want html", got)
	}
}

func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no dir", nil, 2, "--dir is required"},
		{"bad fault", []string{"--dir", "x", "--fault", "teapot"}, 2, `fault mode "teapot"`},
		{"bad key type", []string{"--dir", "x", "--key-type", "dsa"}, 2, "--key-type"},
		{"bad duration", []string{"--dir", "x", "--cred-duration", "0s"}, 2, "--cred-duration"},
		{"unknown flag", []string{"--dir", "x", "--nope"}, 2, "unknown flag"},
		{"stray argument", []string{"--dir", "x", "extra"}, 2, "unexpected argument"},
		{"bad log level", []string{"--dir", "x", "--log-level", "loud"}, 2, "--log-level"},
		{"help", []string{"--help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := &app{stdout: io.Discard, stderr: &stderr}
			err := a.run(context.Background(), tt.args)
			if tt.wantCode == 0 {
				if err != nil || !strings.Contains(stderr.String(), "curl") {
					t.Errorf("run = %v, want nil and a usage with curl examples", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want an error with %q", err, tt.wantErr)
			}
			if got := exitCode(err); got != tt.wantCode {
				t.Errorf("exitCode = %d, want %d", got, tt.wantCode)
			}
		})
	}
}
