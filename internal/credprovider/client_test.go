package credprovider

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var serverDate = time.Date(2026, 8, 12, 10, 0, 0, 0, time.UTC)

// credentialsJSON is a well-formed answer of the credentials provider.
func credentialsJSON(exp string) string {
	return fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":%q,"sessionToken":%q,"expiration":%q}}`,
		testKeyID, testSecret, testToken, exp)
}

// answer writes a fixed response with the Date header of serverDate.
func answer(status int, contentType, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", serverDate.Format(http.TimeFormat))
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestClientFetchParsesExpiration(t *testing.T) {
	ca := newTestCA(t)
	want := time.Date(2026, 8, 12, 11, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		exp  string
		want time.Time
	}{
		{"Z", "2026-08-12T11:00:00Z", want},
		{"+00:00", "2026-08-12T11:00:00+00:00", want},
		{"other offset", "2026-08-12T13:00:00+02:00", want},
		{"negative offset", "2026-08-12T06:30:00-04:30", want},
		{"fractional", "2026-08-12T11:00:00.123456Z", want.Add(123456 * time.Microsecond)},
		{"fractional offset", "2026-08-12T12:00:00.5+01:00", want.Add(500 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMTLSServer(t, ca, answer(200, "application/json", credentialsJSON(tt.exp)))
			c := newTestClient(t, ca, srv.endpoint(), nil)

			got, err := c.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !got.Expiration.Equal(tt.want) || got.Expiration.Location() != time.UTC {
				t.Errorf("got expiration %v, want %v in UTC", got.Expiration, tt.want)
			}
			if got.AccessKeyID != testKeyID || got.SecretAccessKey != testSecret || got.SessionToken != testToken {
				t.Errorf("got %v, want the test keys", got.Credentials)
			}
			if !got.ServerDate.Equal(serverDate) {
				t.Errorf("got server date %v, want %v", got.ServerDate, serverDate)
			}
		})
	}
}

func TestClientSendsRequest(t *testing.T) {
	ca := newTestCA(t)
	type seen struct{ path, thing, accept, cn string }
	got := make(chan seen, 1)
	srv := newMTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.Header.Get(ThingNameHeader), r.Header.Get("Accept"), r.TLS.PeerCertificates[0].Subject.CommonName}
		answer(200, "application/json", credentialsJSON("2026-08-12T11:00:00Z"))(w, r)
	}))

	tests := []struct {
		name  string
		thing string
		want  seen
	}{
		{"with thing", "sensor-0042", seen{"/role-aliases/fleet-a/credentials", "sensor-0042", "application/json", "sensor-0042"}},
		{"without thing", "", seen{"/role-aliases/fleet-a/credentials", "", "application/json", "sensor-0042"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, ca, srv.endpoint(), func(o *ClientOptions) { o.ThingName = tt.thing })
			if _, err := c.Fetch(context.Background()); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if s := <-got; s != tt.want {
				t.Errorf("got request %+v, want %+v", s, tt.want)
			}
		})
	}
}

func TestClientErrorClasses(t *testing.T) {
	ca := newTestCA(t)
	retryDate := serverDate.Add(90 * time.Second).Format(http.TimeFormat)

	tests := []struct {
		name       string
		handler    http.HandlerFunc
		class      Class
		status     int
		retryAfter time.Duration
		contains   []string
	}{
		{"400 thing", answer(400, "application/json", `{"message":"Invalid thing name passed"}`),
			ClassConfiguration, 400, 0, []string{"Invalid thing name passed", "thing_name", "attached"}},
		{"401", answer(401, "application/json", `{"message":"Unauthorized"}`),
			ClassConfiguration, 401, 0, []string{"Unauthorized", "ACTIVE"}},
		{"403", answer(403, "application/json", `{"message":"Access Denied"}`),
			ClassConfiguration, 403, 0, []string{"Access Denied", "iot:AssumeRoleWithCertificate", "role alias ARN", "attached"}},
		{"404", answer(404, "application/json", `{"message":"Role alias does not exist"}`),
			ClassConfiguration, 404, 0, []string{"Role alias does not exist", "role_alias"}},
		{"404 html", answer(404, "text/html; charset=utf-8", "<html><body><h1>Not Found</h1>"+strings.Repeat("x", 5000)+"</body></html>"),
			ClassConfiguration, 404, 0, []string{"endpoint answered text/html, not JSON", "is credential_endpoint the credentials endpoint?", "<html><body><h1>Not Found"}},
		{"429 seconds", answer(429, "application/json", `{"message":"Rate exceeded"}`, "Retry-After", "7"),
			ClassThrottled, 429, 7 * time.Second, []string{"Rate exceeded"}},
		{"429 http date", answer(429, "application/json", `{"message":"Rate exceeded"}`, "Retry-After", retryDate),
			ClassThrottled, 429, 90 * time.Second, []string{"Rate exceeded"}},
		{"429 garbage retry-after", answer(429, "", "", "Retry-After", "soon"),
			ClassThrottled, 429, 0, []string{"Too Many Requests"}},
		{"500", answer(500, "application/json", `{"message":"Internal failure"}`),
			ClassTransient, 500, 0, []string{"Internal failure"}},
		{"503 empty", answer(503, "", ""),
			ClassTransient, 503, 0, []string{"Service Unavailable"}},
		{"302 redirect not followed", answer(302, "", "", "Location", "https://example.com/"),
			ClassConfiguration, 302, 0, []string{"redirected"}},
		{"200 html", answer(200, "text/html", "<!DOCTYPE html>\n<html>\n\t<title>AWS IoT</title>"),
			ClassTransient, 200, 0, []string{"endpoint answered text/html, not JSON", `body starts "<!DOCTYPE html> <html> <title>AWS IoT</title>"`}},
		{"200 plain text", answer(200, "text/plain", "hello\x00\x01world"),
			ClassTransient, 200, 0, []string{"endpoint answered text/plain", `hello??world`}},
		{"200 garbage JSON", answer(200, "application/json", `{"credentials":{"accessKeyId":"`+testKeyID+`","secretAccessKey":"`+testSecret),
			ClassTransient, 200, 0, []string{"truncated JSON"}},
		{"200 wrong types", answer(200, "application/json", `{"credentials":{"accessKeyId":1}}`),
			ClassTransient, 200, 0, []string{"credentials.accessKeyId is a JSON number"}},
		{"200 no credentials object", answer(200, "application/json", `{"creds":{}}`),
			ClassTransient, 200, 0, []string{`no "credentials" object`}},
		{"200 empty fields", answer(200, "application/json", `{"credentials":{"accessKeyId":"A","secretAccessKey":"","expiration":"2026-08-12T11:00:00Z"}}`),
			ClassTransient, 200, 0, []string{"lacks secretAccessKey, sessionToken"}},
		{"200 bad expiration", answer(200, "application/json", credentialsJSON("tomorrow")),
			ClassTransient, 200, 0, []string{`expiration "tomorrow" is not an RFC 3339 time`}},
		{"200 empty body", answer(200, "application/json", ""),
			ClassTransient, 200, 0, []string{"endpoint answered application/json, not JSON"}},
		{"200 oversized declared", answer(200, "application/json", strings.Repeat(" ", MaxResponseBytes+1)),
			ClassTransient, 200, 0, []string{"larger than 64 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMTLSServer(t, ca, tt.handler)
			c := newTestClient(t, ca, srv.endpoint(), nil)

			_, err := c.Fetch(context.Background())
			e := asError(t, err)
			if e.Class != tt.class || e.StatusCode != tt.status || e.RetryAfter != tt.retryAfter {
				t.Errorf("got class %s status %d retry-after %v, want %s %d %v", e.Class, e.StatusCode, e.RetryAfter, tt.class, tt.status, tt.retryAfter)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got %q, want it to contain %q", err, s)
				}
			}
			assertNoSecret(t, "error", err.Error())
			if len(err.Error()) > 600 {
				t.Errorf("got a %d-byte error, want a short one: %s", len(err.Error()), err)
			}
		})
	}
}

func TestClientMarksNonJSONAnswers(t *testing.T) {
	ca := newTestCA(t)

	tests := []struct {
		name          string
		handler       http.HandlerFunc
		wantNotJSON   bool
		wantMediaType string
	}{
		{"captive portal page", answer(200, "text/html; charset=utf-8", "<html><body>Log in to the hotel Wi-Fi</body></html>"), true, "text/html"},
		{"proxy refusal page", answer(403, "text/html", "<html>Blocked by policy</html>"), true, "text/html"},
		{"plain text (the test server sniffs the type)", answer(200, "", "hello"), true, "text/plain"},
		{"service refusal", answer(403, "application/json", `{"message":"Access Denied"}`), false, ""},
		{"empty 503", answer(503, "", ""), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMTLSServer(t, ca, tt.handler)
			c := newTestClient(t, ca, srv.endpoint(), nil)

			_, err := c.Fetch(context.Background())

			e := asError(t, err)
			if e.NotJSON != tt.wantNotJSON || e.MediaType != tt.wantMediaType {
				t.Errorf("got NotJSON %v MediaType %q, want %v %q (%v)", e.NotJSON, e.MediaType, tt.wantNotJSON, tt.wantMediaType, err)
			}
		})
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}

	return e
}

// TestClientEndlessBodyIsCapped serves a body that claims 2 GB, or has no
// length and never ends, and checks that the client stops after 64 KiB.
func TestClientEndlessBodyIsCapped(t *testing.T) {
	ca := newTestCA(t)

	tests := []struct {
		name          string
		contentLength string
	}{
		{"declared 2 GB", "2147483648"},
		{"chunked endless", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			written := 0
			srv := newMTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength != "" {
					w.Header().Set("Content-Length", tt.contentLength)
				}
				w.Header().Set("Content-Type", "application/json")
				chunk := []byte(`{"credentials":` + strings.Repeat(" ", 32<<10))
				for written < 2<<30 {
					n, err := w.Write(chunk)
					mu.Lock()
					written += n
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}))
			c := newTestClient(t, ca, srv.endpoint(), nil)

			_, err := c.Fetch(context.Background())
			if e := asError(t, err); e.Class != ClassTransient || !strings.Contains(err.Error(), "larger than 64 KiB") {
				t.Errorf("got %v, want a transient too-large error", err)
			}
			srv.CloseClientConnections()
			mu.Lock()
			defer mu.Unlock()
			if written > 64<<20 {
				t.Errorf("server wrote %d bytes, want the client to hang up early", written)
			}
		})
	}
}

func TestClientThroughConnectProxy(t *testing.T) {
	ca := newTestCA(t)
	srv := newMTLSServer(t, ca, answer(200, "application/json", credentialsJSON("2026-08-12T11:00:00Z")))
	proxy := newConnectProxy(t)
	c := newTestClient(t, ca, srv.endpoint(), func(o *ClientOptions) { o.Proxy = http.ProxyURL(proxy.url()) })

	got, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch through proxy: %v", err)
	}
	if got.AccessKeyID != testKeyID {
		t.Errorf("got key id %q, want %q", got.AccessKeyID, testKeyID)
	}
	if seen := proxy.seen(); len(seen) != 1 || seen[0] != srv.endpoint() {
		t.Errorf("got proxy CONNECT targets %v, want [%s]", seen, srv.endpoint())
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("got %d requests at the server, want 1", n)
	}
}

func TestClientTransportFailuresAreTransient(t *testing.T) {
	ca := newTestCA(t)
	otherCA := newTestCA(t)
	ok := answer(200, "application/json", credentialsJSON("2026-08-12T11:00:00Z"))
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	_ = closed.Close()

	tests := []struct {
		name     string
		endpoint func(t *testing.T) string
		mod      func(*ClientOptions)
		contains string
	}{
		{"connection refused", func(*testing.T) string { return refused }, nil, "check the network"},
		{"server cert from another CA", func(t *testing.T) string { return newMTLSServer(t, ca, ok).endpoint() },
			func(o *ClientOptions) { o.Roots = otherCA.pool }, "not signed by the configured root CA"},
		{"client cert from another CA", func(t *testing.T) string { return newMTLSServer(t, ca, ok).endpoint() },
			func(o *ClientOptions) { o.Certificate = otherCA.issue(t, "stranger", false) }, "refused the TLS handshake"},
		{"server too slow", func(t *testing.T) string {
			return newMTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-hang:
				case <-r.Context().Done():
				}
			})).endpoint()
		}, func(o *ClientOptions) { o.Timeout = 200 * time.Millisecond }, "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, ca, tt.endpoint(t), tt.mod)

			_, err := c.Fetch(context.Background())
			if e := asError(t, err); e.Class != ClassTransient {
				t.Errorf("got class %s, want transient: %v", e.Class, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("got %q, want it to contain %q", err, tt.contains)
			}
		})
	}
}

func TestClientRefusesTLS11(t *testing.T) {
	ca := newTestCA(t)
	srv := newMTLSServer(t, ca, answer(200, "application/json", credentialsJSON("2026-08-12T11:00:00Z")))
	srv.TLS.MinVersion = tls.VersionTLS10
	srv.TLS.MaxVersion = tls.VersionTLS11
	c := newTestClient(t, ca, srv.endpoint(), nil)

	_, err := c.Fetch(context.Background())
	if err == nil {
		t.Fatal("got credentials over TLS 1.1, want an error")
	}
}

func TestNewClientValidates(t *testing.T) {
	ca := newTestCA(t)
	good := ClientOptions{Endpoint: "x.credentials.iot.eu-west-1.amazonaws.com", RoleAlias: "a", Certificate: ca.issue(t, "d", false), Roots: ca.pool}

	tests := []struct {
		name string
		mod  func(*ClientOptions)
		want string
	}{
		{"ok", func(*ClientOptions) {}, ""},
		{"with port", func(o *ClientOptions) { o.Endpoint = "127.0.0.1:8443" }, ""},
		{"no endpoint", func(o *ClientOptions) { o.Endpoint = "" }, "no credentials endpoint"},
		{"scheme", func(o *ClientOptions) { o.Endpoint = "https://x" }, "without scheme or path"},
		{"no alias", func(o *ClientOptions) { o.RoleAlias = "" }, "no role alias"},
		{"no cert", func(o *ClientOptions) { o.Certificate = tls.Certificate{} }, "no device certificate"},
		{"no roots", func(o *ClientOptions) { o.Roots = nil }, "no root CAs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mod(&o)
			_, err := NewClient(o)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// answerFresh answers with credentials valid for lifetime from now.
func answerFresh(lifetime time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, credentialsJSON(now.Add(lifetime).Format(time.RFC3339)))
	}
}

// BenchmarkClientFetch measures one credentials call over loopback mTLS
// with a kept-alive connection (what a refresh costs, minus the network).
func BenchmarkClientFetch(b *testing.B) {
	ca := newTestCA(b)
	srv := newMTLSServer(b, ca, answerFresh(time.Hour))
	c := newTestClient(b, ca, srv.endpoint(), nil)

	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Fetch(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientDefaultProxyIsFromEnvironment: without ClientOptions.Proxy the
// client uses HTTPS_PROXY and NO_PROXY. (The proxy path itself is tested
// with an explicit proxy, since http.ProxyFromEnvironment never proxies
// loopback addresses and reads the environment once per process.)
func TestClientDefaultProxyIsFromEnvironment(t *testing.T) {
	ca := newTestCA(t)
	c := newTestClient(t, ca, "127.0.0.1:1", func(o *ClientOptions) { o.Proxy = nil })

	got := reflect.ValueOf(c.http.Transport.(*http.Transport).Proxy).Pointer()
	if want := reflect.ValueOf(http.ProxyFromEnvironment).Pointer(); got != want {
		t.Errorf("got proxy func %x, want http.ProxyFromEnvironment %x", got, want)
	}
}
