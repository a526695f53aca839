package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestStartHookAndControl(t *testing.T) {
	// A hook registered like the control-plane services' sees the
	// addresses of the credentials provider and S3 and mounts a route.
	registerStartHook(func(sb *Sandbox) error {
		endpoint := sb.CredentialsEndpoint
		sb.Control.HandleFunc("GET /test-hook", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, endpoint)
		})
		return nil
	})
	sb, _ := startSandbox(t, Options{})

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/test-hook", 200, sb.CredentialsEndpoint},
		{"/sandbox/healthz", 200, `{"status":"ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(sb.ControlURL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readAll(t, resp)
			if resp.StatusCode != tt.wantStatus || strings.TrimSpace(string(body)) != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestStartDefaults(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	if sb.Region != DefaultRegion || sb.State.Region != DefaultRegion {
		t.Errorf("Region = %q, State.Region = %q, want %q", sb.Region, sb.State.Region, DefaultRegion)
	}
	for name, addr := range map[string]string{"credentials": "https://" + sb.CredentialsEndpoint,
		"s3": sb.S3URL, "control": sb.ControlURL, "admin": sb.AdminURL} {
		if !strings.Contains(addr, "://127.0.0.1:") {
			t.Errorf("%s address %q is not on 127.0.0.1", name, addr)
		}
	}
	resp, err := http.Get(sb.AdminURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := sb.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(sb.AdminURL + "/healthz"); err == nil {
		t.Error("admin endpoint still answers after Close")
	}
}

func TestStartRefusesBadFaults(t *testing.T) {
	_, err := Start(context.Background(), Options{Faults: Faults{Mode: "teapot"}})
	if err == nil || !strings.Contains(err.Error(), "teapot") {
		t.Errorf("Start err = %v, want the bad mode named", err)
	}
}

func TestStartFaults(t *testing.T) {
	sb, _ := startSandbox(t, Options{Faults: Faults{Mode: FaultThrottled, RetryAfter: 9e9}})
	b, _ := json.Marshal(sb.Faults())
	if got, want := string(b), `{"mode":"429","retry_after":"9s"}`; got != want {
		t.Errorf("Faults() = %s, want %s", got, want)
	}
}
