package credserver

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestIMDSFlow(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, RoleName: "fleet-a"})
	base := h.startTCP(t, h.srv.ServeIMDS)
	c := http.DefaultClient

	put := do(t, c, newRequest(t, "PUT", base+imdsTokenPath, nil, map[string]string{imdsTTLHeader: "60"}))
	if put.status != 200 || put.body == "" {
		t.Fatalf("token PUT = %d %q, want 200 and a token", put.status, put.body)
	}
	if got := put.header.Get(imdsTTLHeader); got != "60" {
		t.Errorf("TTL header = %q, want 60", got)
	}
	tok := map[string]string{imdsTokHeader: put.body}

	list := do(t, c, newRequest(t, "GET", base+imdsCredsPath, nil, tok))
	if list.status != 200 || list.body != "fleet-a" {
		t.Errorf("role list = %d %q, want 200 fleet-a", list.status, list.body)
	}

	got := do(t, c, newRequest(t, "GET", base+imdsCredsPath+"fleet-a", nil, tok))
	var creds imdsCreds
	if err := json.Unmarshal([]byte(got.body), &creds); err != nil || got.status != 200 {
		t.Fatalf("credentials = %d %q (%v), want 200 JSON", got.status, got.body, err)
	}
	want := imdsCreds{"Success", "2026-08-01T12:00:00Z", "AWS-HMAC", testKeyID, testSecret, testSess, "2026-08-01T13:00:00Z"}
	if creds != want {
		t.Errorf("credentials = %+v, want %+v", creds, want)
	}

	h.clock.Advance(60 * time.Second)
	expired := do(t, c, newRequest(t, "GET", base+imdsCredsPath+"fleet-a", nil, tok))
	if expired.status != 401 {
		t.Errorf("with an expired token: %d, want 401", expired.status)
	}
}

func TestIMDSRefusals(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, RoleName: "fleet-a"})
	base := h.startTCP(t, h.srv.ServeIMDS)
	tok := h.srv.imdsIssue(t0.Add(time.Hour))
	other := New(Options{Source: h.src, Now: h.clock.Now}).imdsIssue(t0.Add(time.Hour))

	tests := []struct {
		name, method, path string
		hdr                map[string]string
		host               string
		wantStatus         int
		wantCode           string
	}{
		{"IMDSv1 list", "GET", imdsCredsPath, nil, "", 401, CodeUnauthorized},
		{"IMDSv1 role", "GET", imdsCredsPath + "fleet-a", nil, "", 401, CodeUnauthorized},
		{"IMDSv1 other path", "GET", "/latest/meta-data/instance-id", nil, "", 401, CodeUnauthorized},
		{"garbage token", "GET", imdsCredsPath, map[string]string{imdsTokHeader: "abc"}, "", 401, CodeUnauthorized},
		{"token of another process", "GET", imdsCredsPath, map[string]string{imdsTokHeader: other}, "", 401, CodeUnauthorized},
		{"forwarded PUT", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "60", "X-Forwarded-For": "10.0.0.1"}, "", 403, CodeForbidden},
		{"forwarded GET", "GET", imdsCredsPath + "fleet-a", map[string]string{imdsTokHeader: tok, "X-Forwarded-For": "10.0.0.1"}, "", 403, CodeForbidden},
		{"rebound host", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "60"}, "evil.example:80", 403, CodeForbidden},
		{"localhost host", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "60"}, "localhost:1234", 200, ""},
		{"no TTL", "PUT", imdsTokenPath, nil, "", 400, CodeBadRequest},
		{"TTL 0", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "0"}, "", 400, CodeBadRequest},
		{"TTL too long", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "21601"}, "", 400, CodeBadRequest},
		{"TTL max", "PUT", imdsTokenPath, map[string]string{imdsTTLHeader: "21600"}, "", 200, ""},
		{"GET token", "GET", imdsTokenPath, map[string]string{imdsTTLHeader: "60"}, "", 405, CodeMethodNotAllowed},
		{"PUT credentials", "PUT", imdsCredsPath, map[string]string{imdsTokHeader: tok}, "", 405, CodeMethodNotAllowed},
		{"other role", "GET", imdsCredsPath + "other", map[string]string{imdsTokHeader: tok}, "", 404, CodeNotFound},
		{"other path", "GET", "/latest/meta-data/instance-id", map[string]string{imdsTokHeader: tok}, "", 404, CodeNotFound},
		{"big header", "GET", imdsCredsPath, map[string]string{imdsTokHeader: tok, "X-Pad": strings.Repeat("a", 9<<10)}, "", 413, CodeRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, tt.method, base+tt.path, nil, tt.hdr)
			if tt.host != "" {
				req.Host = tt.host
			}

			got := do(t, http.DefaultClient, req)

			if got.status != tt.wantStatus || got.apiErr.Code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", got.status, got.apiErr.Code, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestIMDSExpiredCredentials(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, RoleName: "fleet-a"})
	base := h.startTCP(t, h.srv.ServeIMDS)
	c := goodCreds()
	c.Expiration = t0.Add(-time.Second)
	h.src.set(c, nil)

	got := do(t, http.DefaultClient, newRequest(t, "GET", base+imdsCredsPath+"fleet-a", nil,
		map[string]string{imdsTokHeader: h.srv.imdsIssue(t0.Add(time.Hour))}))

	if got.status != 503 || strings.Contains(got.body, testSecret) {
		t.Errorf("got %d %s, want 503 without the secret", got.status, got.body)
	}
}

func TestServeIMDSNeedsRole(t *testing.T) {
	h := newHarness(t, Options{})
	if err := h.srv.ServeIMDS(nil); err == nil {
		t.Errorf("ServeIMDS() without a role name = nil, want an error")
	}
}

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1", true},
		{"[::1]:8080", true},
		{"localhost:1", true},
		{"LOCALHOST", true},
		{"169.254.169.254", false},
		{"evil.example", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := loopbackHost(tt.host); got != tt.want {
			t.Errorf("loopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
