package credserver

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFetch(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}})
	path := h.startUnix(t)
	ctx := context.Background()

	body, err := FetchCredentials(ctx, path, "process")
	if err != nil {
		t.Fatalf("FetchCredentials() = %v", err)
	}
	var pc struct {
		Version      int
		AccessKeyID  string `json:"AccessKeyId"`
		SessionToken string
	}
	if err := json.Unmarshal(body, &pc); err != nil || pc.Version != 1 || pc.SessionToken != testSess {
		t.Errorf("FetchCredentials(process) = %+v (%v), want Version 1 with the session token", pc.AccessKeyID, err)
	}

	body, err = FetchStatus(ctx, path)
	if err != nil || !json.Valid(body) {
		t.Errorf("FetchStatus() = %q, %v; want JSON", body, err)
	}

	h.src.set(Credentials{}, NewUnavailableError("configuration error: role alias does not exist", nil))
	_, err = FetchCredentials(ctx, path, "")
	apiErr, ok := errorsAsAPI(err)
	if !ok || apiErr.StatusCode != 503 || apiErr.Code != CodeCredentialsUnavailable ||
		apiErr.Message != "configuration error: role alias does not exist" {
		t.Errorf("FetchCredentials() while unavailable = %v, want *APIError 503 with the reason", err)
	}
}

func TestFetchErrors(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{4242}})
	forbidden := h.startUnix(t)
	stale := filepath.Join(t.TempDir(), "stale.sock")
	makeStaleSocket(t, stale)

	tests := []struct {
		name   string
		path   string
		wantIs error
		want   int
	}{
		{"missing socket", filepath.Join(t.TempDir(), "none.sock"), syscall.ENOENT, 0},
		{"nobody listening", stale, syscall.ECONNREFUSED, 0},
		{"peer refused", forbidden, nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FetchCredentials(context.Background(), tt.path, "process")

			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("FetchCredentials() = %v, want errors.Is %v", err, tt.wantIs)
			}
			if apiErr, ok := errorsAsAPI(err); tt.want != 0 && (!ok || apiErr.StatusCode != tt.want) {
				t.Errorf("FetchCredentials() = %v, want *APIError %d", err, tt.want)
			}
		})
	}
}
