package bootstrap

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/awsclient"
)

// silentListener accepts connections on loopback and never answers them.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// runWithin runs f and fails the test if it has not returned within d.
func runWithin(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("still running after %s", d)
		return nil
	}
}

func TestS3GivesUpOnAnEndpointThatNeverAnswers(t *testing.T) {
	cleanAWSEnv(t)
	tests := []struct {
		name     string
		timeouts awsclient.Timeouts
		overall  time.Duration
		want     []string
	}{
		{"per request", awsclient.Timeouts{ResponseHeader: 50 * time.Millisecond, MaxAttempts: 2, MaxBackoff: time.Millisecond}, 0,
			[]string{"timed out", "check --endpoint-url, --region and the network"}},
		{"whole bootstrap", awsclient.Timeouts{}, 200 * time.Millisecond,
			[]string{"gave up after 200ms (--timeout)", "timed out", "check --endpoint-url, --region and the network"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := silentListener(t)
			src, err := NewS3Source(context.Background(), S3Options{Bucket: testBucket, Prefix: "dev",
				Region: "eu-west-1", EndpointURL: endpoint, Timeouts: tt.timeouts})
			if err != nil {
				t.Fatal(err)
			}
			opts := newTarget(t).options(src)
			opts.Timeout = tt.overall

			err = runWithin(t, 20*time.Second, func() error { _, err := Run(context.Background(), opts); return err })

			if err == nil {
				t.Fatal("got nil error, want a timeout")
			}
			t.Logf("error: %v", err)
			want := append([]string{"cannot reach " + endpoint + ": "}, tt.want...)
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has several lines: %q", err)
			}
		})
	}
}
