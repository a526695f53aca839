package credserver

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestUnixRoutes(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}})
	c := unixHTTPClient(h.startUnix(t))

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
		wantBody           string // substring
		wantAllow          string
	}{
		{"container", "GET", "/v1/credentials", 200, "",
			`{"AccessKeyId":"` + testKeyID + `","SecretAccessKey":"` + testSecret + `","Token":"` + testSess + `","Expiration":"2026-08-01T13:00:00Z"}`, ""},
		{"container explicit", "GET", "/v1/credentials?format=container", 200, "", `"Token":"` + testSess, ""},
		{"process", "GET", "/v1/credentials?format=process", 200, "",
			`{"Version":1,"AccessKeyId":"` + testKeyID + `","SecretAccessKey":"` + testSecret + `","SessionToken":"` + testSess + `","Expiration":"2026-08-01T13:00:00Z"}`, ""},
		{"unknown format", "GET", "/v1/credentials?format=xml", 404, CodeNotFound, "", ""},
		{"status", "GET", "/v1/status", 200, "", `"state":"serving"`, ""},
		{"healthz", "GET", "/healthz", 200, "", "ok", ""},
		{"unknown path", "GET", "/v2/credentials", 404, CodeNotFound, "", ""},
		{"post", "POST", "/v1/credentials", 405, CodeMethodNotAllowed, "", "GET"},
		{"head", "HEAD", "/healthz", 405, "", "", "GET"},
		{"delete status", "DELETE", "/v1/status", 405, CodeMethodNotAllowed, "", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, c, newRequest(t, tt.method, "http://agent"+tt.path, nil, nil))

			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", got.status, tt.wantStatus, got.body)
			}
			if got.apiErr.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", got.apiErr.Code, tt.wantCode)
			}
			if !strings.Contains(got.body, tt.wantBody) {
				t.Errorf("body = %s, want it to contain %s", got.body, tt.wantBody)
			}
			if a := got.header.Get("Allow"); a != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", a, tt.wantAllow)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestCredentialsContentType(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}})
	c := unixHTTPClient(h.startUnix(t))

	got := do(t, c, newRequest(t, "GET", "http://agent/v1/credentials", nil, nil))

	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

func TestNeverServesInvalidCredentials(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}})
	c := unixHTTPClient(h.startUnix(t))

	expired := goodCreds()
	expired.Expiration = t0.Add(-time.Second)
	atNow := goodCreds()
	atNow.Expiration = t0
	noKey := goodCreds()
	noKey.AccessKeyID = ""
	noSecret := goodCreds()
	noSecret.SecretAccessKey = ""

	tests := []struct {
		name        string
		creds       Credentials
		err         error
		wantMessage string
	}{
		{"expired", expired, nil, "expired or are incomplete"},
		{"expiring this instant", atNow, nil, "expired or are incomplete"},
		{"empty key id", noKey, nil, "expired or are incomplete"},
		{"empty secret", noSecret, nil, "expired or are incomplete"},
		{"source reason", Credentials{}, NewUnavailableError("never fetched: the endpoint is unreachable", nil), "never fetched: the endpoint is unreachable"},
		{"opaque error", Credentials{}, errTest, "no valid credentials are held"},
	}
	paths := []string{"/v1/credentials", "/v1/credentials?format=process", "/healthz"}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.name+" "+p, func(t *testing.T) {
				h.src.set(tt.creds, tt.err)

				got := do(t, c, newRequest(t, "GET", "http://agent"+p, nil, nil))

				if got.status != 503 || got.apiErr.Code != CodeCredentialsUnavailable {
					t.Fatalf("got %d %q, want 503 %s", got.status, got.apiErr.Code, CodeCredentialsUnavailable)
				}
				if !strings.Contains(got.apiErr.Message, tt.wantMessage) {
					t.Errorf("message = %q, want it to contain %q", got.apiErr.Message, tt.wantMessage)
				}
				if strings.Contains(got.body, testSecret) || strings.Contains(got.body, testSess) {
					t.Errorf("503 body carries a secret: %s", got.body)
				}
			})
		}
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("cache broken")

func TestPeerNotAllowed(t *testing.T) {
	tests := []struct {
		name       string
		uids, gids []int
		wantStatus int
	}{
		{"root listed", []int{0}, nil, 200},
		{"root via gid", nil, []int{0}, 200},
		{"root not listed", []int{4242}, nil, 403},
		{"empty lists refuse root even when the agent is root", nil, nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{AllowedUIDs: tt.uids, AllowedGIDs: tt.gids})
			h.srv.ownUID = 0 // the test runs as root; say so even when it does not
			c := unixHTTPClient(h.startUnix(t))

			got := do(t, c, newRequest(t, "GET", "http://agent/v1/credentials", nil, nil))

			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", got.status, tt.wantStatus)
			}
			if tt.wantStatus == 403 {
				if got.apiErr.Code != CodeForbidden {
					t.Errorf("code = %q, want %s", got.apiErr.Code, CodeForbidden)
				}
				for _, want := range []string{"uid 0", "socket.allowed_uids"} {
					if !strings.Contains(got.apiErr.Message, want) {
						t.Errorf("message = %q, want it to contain %q", got.apiErr.Message, want)
					}
				}
				if strings.Contains(got.body, testSecret) {
					t.Errorf("403 body carries the secret")
				}
			}
		})
	}
}

func TestOwnNonRootUIDAllowed(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.ownUID = 1000

	tests := []struct {
		name string
		p    peer
		want bool
	}{
		{"agent's own uid", peer{uid: 1000, gid: 1000}, true},
		{"other uid", peer{uid: 1001, gid: 1000}, false},
		{"root", peer{uid: 0, gid: 0}, false},
		{"unreadable peer", peer{uid: 1000, err: errTest}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.srv.allowed(tt.p); got != tt.want {
				t.Errorf("allowed(%+v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestTCPToken(t *testing.T) {
	h := newHarness(t, Options{Token: []byte(testToken)})
	base := h.startTCP(t, h.srv.ServeTCP)
	c := &http.Client{}

	tests := []struct {
		name       string
		auth       []string
		wantStatus int
		wantMsg    string
	}{
		{"right token", []string{testToken}, 200, ""},
		{"missing", nil, 401, "missing Authorization"},
		{"wrong", []string{"nope"}, 401, "wrong Authorization"},
		{"bearer prefix", []string{"Bearer " + testToken}, 401, "wrong Authorization"},
		{"prefix of token", []string{testToken[:10]}, 401, "wrong Authorization"},
		{"twice", []string{testToken, testToken}, 401, "wrong Authorization"},
	}
	for _, tt := range tests {
		for _, p := range []string{"/v1/credentials", "/v1/status", "/healthz", "/nope"} {
			t.Run(tt.name+p, func(t *testing.T) {
				req := newRequest(t, "GET", base+p, nil, nil)
				for _, a := range tt.auth {
					req.Header.Add("Authorization", a)
				}

				got := do(t, c, req)

				want := tt.wantStatus
				if want == 200 && p == "/nope" {
					want = 404
				}
				if got.status != want {
					t.Fatalf("status = %d, want %d", got.status, want)
				}
				if want == 401 && (got.apiErr.Code != CodeUnauthorized || !strings.Contains(got.apiErr.Message, tt.wantMsg)) {
					t.Errorf("error = %+v, want %s with %q", got.apiErr, CodeUnauthorized, tt.wantMsg)
				}
			})
		}
	}
}

func TestServeTCPNeedsToken(t *testing.T) {
	h := newHarness(t, Options{})
	lns, err := ListenLoopback([]string{"127.0.0.1"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lns[0].Close()

	if err := h.srv.ServeTCP(lns[0]); err == nil {
		t.Errorf("ServeTCP() without a token = nil, want an error")
	}
}

func TestRequestTooLarge(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}, Token: []byte(testToken)})
	unix := unixHTTPClient(h.startUnix(t))
	base := h.startTCP(t, h.srv.ServeTCP)

	tests := []struct {
		name       string
		body       string
		header     string
		wantStatus int
		wantCode   string
	}{
		{"small", "", strings.Repeat("a", 1000), 200, ""},
		{"header over 8 KiB", "", strings.Repeat("a", 9<<10), 413, CodeRequestTooLarge},
		{"body", `{"x":1}`, "", 413, CodeRequestTooLarge},
		// net/http's own limit used to answer these with a plain-text 431.
		{"header over 36 KiB", "", strings.Repeat("a", 40<<10), 413, CodeRequestTooLarge},
		{"header of 512 KiB", "", strings.Repeat("a", 512<<10), 413, CodeRequestTooLarge},
	}
	for _, tt := range tests {
		for _, side := range []string{"unix", "tcp"} {
			t.Run(tt.name+" "+side, func(t *testing.T) {
				c, url := unix, "http://agent/v1/credentials"
				if side == "tcp" {
					c, url = http.DefaultClient, base+"/v1/credentials"
				}
				hdr := map[string]string{"Authorization": testToken, "X-Pad": tt.header}
				var req *http.Request
				if tt.body != "" {
					req = newRequest(t, "GET", url, strings.NewReader(tt.body), hdr)
				} else {
					req = newRequest(t, "GET", url, nil, hdr)
				}

				got := do(t, c, req)

				if got.status != tt.wantStatus || got.apiErr.Code != tt.wantCode {
					t.Errorf("got %d %q, want %d %q", got.status, got.apiErr.Code, tt.wantStatus, tt.wantCode)
				}
			})
		}
	}
}

func TestStatusIsSourceStatus(t *testing.T) {
	h := newHarness(t, Options{AllowedUIDs: []int{0}})
	c := unixHTTPClient(h.startUnix(t))

	got := do(t, c, newRequest(t, "GET", "http://agent/v1/status", nil, nil))

	var m map[string]any
	if err := json.Unmarshal([]byte(got.body), &m); err != nil {
		t.Fatalf("status body %q: %v", got.body, err)
	}
	if m["thing_name"] != "sensor-0042" || m["role_alias"] != "fleet-a" {
		t.Errorf("status = %v, want the source's fields", m)
	}
	if h.src.calls.Load() != 0 {
		t.Errorf("status called Get %d times, want 0", h.src.calls.Load())
	}
}

func TestNoSecretInLogs(t *testing.T) {
	// The IMDS door serves only listed uids, so this process is listed; the
	// unix refusal is then a POST, which still logs the peer's ids.
	h := newHarness(t, Options{AllowedUIDs: []int{os.Getuid()}, Token: []byte(testToken), RoleName: "fleet-a"})
	unix := unixHTTPClient(h.startUnix(t))
	base := h.startTCP(t, h.srv.ServeTCP)
	imds := h.startTCP(t, h.srv.ServeIMDS)

	// A mix of refused and served requests.
	do(t, unix, newRequest(t, "POST", "http://agent/v1/credentials", nil, nil))
	do(t, unix, newRequest(t, "GET", "http://agent/v1/credentials", nil, nil))
	for _, tok := range []string{testToken, testToken + "x", ""} {
		for _, p := range []string{"/v1/credentials", "/v1/credentials?format=process", "/healthz", "/x"} {
			do(t, http.DefaultClient, newRequest(t, "GET", base+p, nil, map[string]string{"Authorization": tok}))
		}
	}
	h.src.set(Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSess, Expiration: t0.Add(-time.Minute)}, nil)
	do(t, http.DefaultClient, newRequest(t, "GET", base+"/v1/credentials", nil, map[string]string{"Authorization": testToken}))
	h.src.set(goodCreds(), nil)
	tok := do(t, http.DefaultClient, newRequest(t, "PUT", imds+imdsTokenPath, nil, map[string]string{imdsTTLHeader: "60"})).body
	do(t, http.DefaultClient, newRequest(t, "GET", imds+imdsCredsPath+"fleet-a", nil, map[string]string{imdsTokHeader: tok}))
	do(t, http.DefaultClient, newRequest(t, "GET", imds+imdsCredsPath+"fleet-a", nil, map[string]string{imdsTokHeader: tok + "x"}))

	logs := h.logs.String()
	if !strings.Contains(logs, "refused request") || !strings.Contains(logs, testKeyID) {
		t.Fatalf("logs lack the expected lines; the capture is broken:\n%s", logs)
	}
	for _, secret := range []string{testSecret, testSess, testToken, tok} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %.6s...:\n%s", secret, logs)
		}
	}
}

func TestCredentialsStringRedacts(t *testing.T) {
	c := goodCreds()
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, testSecret) || strings.Contains(s, testSess) {
			t.Errorf("String() = %q, want secrets redacted", s)
		}
	}
}
