package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testAlias = "fleet-a"
	testRole  = "arn:aws:iam::123456789012:role/edge-fleet-a"
)

func TestCredentialsIssued(t *testing.T) {
	sb, clock := startSandbox(t, Options{CredentialDuration: 2 * time.Hour})
	sb.AddRoleAlias(testAlias, testRole, 15*time.Minute)
	sb.AddRoleAlias("fleet-default", testRole, 0)
	files, err := sb.NewDevice(context.Background(), "sensor-1", testAlias)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sb.NewDevice(context.Background(), "sensor-2", "fleet-default")
	if err != nil {
		t.Fatal(err)
	}
	client := mtlsClient(t, files)

	tests := []struct {
		name, alias, thing string
		lifetime           time.Duration
	}{
		{"with thing name", testAlias, "sensor-1", 15 * time.Minute},
		{"without thing name", testAlias, "", 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := clock.Now()
			r := mustGet(t, client, sb.CredentialsEndpoint, tt.alias, tt.thing)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d %s, want 200", r.status, r.body)
			}
			c := checkCredentialsJSON(t, r)
			if got, want := c["expiration"], now.Add(tt.lifetime).Format("2006-01-02T15:04:05Z"); got != want {
				t.Errorf("expiration = %q, want %q", got, want)
			}
			if got, want := r.header.Get("Date"), now.Format(http.TimeFormat); got != want {
				t.Errorf("Date = %q, want %q", got, want)
			}
			checkIssued(t, sb, c, tt.thing)
		})
	}

	t.Run("fresh credentials each call", func(t *testing.T) {
		a := checkCredentialsJSON(t, mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1"))
		clock.Advance(time.Minute)
		b := checkCredentialsJSON(t, mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1"))
		if a["accessKeyId"] == b["accessKeyId"] || a["secretAccessKey"] == b["secretAccessKey"] ||
			a["sessionToken"] == b["sessionToken"] {
			t.Errorf("two calls returned the same credentials")
		}
		if a["expiration"] == b["expiration"] {
			t.Errorf("expiration did not follow the clock: both %v", a["expiration"])
		}
	})

	t.Run("alias without duration uses the default", func(t *testing.T) {
		now := clock.Now()
		c := checkCredentialsJSON(t, mustGet(t, mtlsClient(t, other), sb.CredentialsEndpoint, "fleet-default", "sensor-2"))
		if got, want := c["expiration"], now.Add(2*time.Hour).Format("2006-01-02T15:04:05Z"); got != want {
			t.Errorf("expiration = %q, want %q", got, want)
		}
	})

	if got, want := sb.CredentialCalls(), int64(5); got != want {
		t.Errorf("CredentialCalls() = %d, want %d", got, want)
	}
	if got, want := sb.CredentialCallsByStatus(200), int64(5); got != want {
		t.Errorf("CredentialCallsByStatus(200) = %d, want %d", got, want)
	}
}

// checkCredentialsJSON checks the IoT answer's shape and returns its
// credentials object.
func checkCredentialsJSON(t *testing.T, r response) map[string]any {
	t.Helper()
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	m := r.json(t)
	if len(m) != 1 {
		t.Errorf("top-level keys = %v, want only credentials", m)
	}
	c, ok := m["credentials"].(map[string]any)
	if !ok {
		t.Fatalf("credentials = %v, want an object", m["credentials"])
	}
	for _, k := range []string{"accessKeyId", "secretAccessKey", "sessionToken", "expiration"} {
		if s, _ := c[k].(string); s == "" {
			t.Errorf("%s = %v, want a non-empty string", k, c[k])
		}
	}
	if len(c) != 4 {
		t.Errorf("credentials has %d keys, want 4: %v", len(c), c)
	}
	if id, _ := c["accessKeyId"].(string); !strings.HasPrefix(id, "ASIA") || len(id) != 20 {
		t.Errorf("accessKeyId = %q, want ASIA and 16 more characters", id)
	}
	if _, err := time.Parse("2006-01-02T15:04:05Z", c["expiration"].(string)); err != nil {
		t.Errorf("expiration: %v", err)
	}
	return c
}

func checkIssued(t *testing.T, sb *Sandbox, c map[string]any, thing string) {
	t.Helper()
	got, ok := sb.Issued.Lookup(c["accessKeyId"].(string))
	if !ok {
		t.Fatalf("Issued.Lookup(%v) found nothing", c["accessKeyId"])
	}
	if got.SecretAccessKey != c["secretAccessKey"] || got.SessionToken != c["sessionToken"] ||
		got.Expiration.Format("2006-01-02T15:04:05Z") != c["expiration"] {
		t.Errorf("registry holds %v with other secrets or expiry than the answer", got)
	}
	if got.RoleARN != testRole || got.RoleAlias != testAlias || got.ThingName != thing {
		t.Errorf("registry: role %q alias %q thing %q, want %q %q %q",
			got.RoleARN, got.RoleAlias, got.ThingName, testRole, testAlias, thing)
	}
	if s := got.String() + got.GoString(); strings.Contains(s, got.SecretAccessKey) ||
		strings.Contains(s, got.SessionToken) {
		t.Errorf("String() leaks a secret: %s", s)
	}
}

func TestCredentialsRefused(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	sb.AddRoleAlias(testAlias, testRole, 0)
	ctx := context.Background()

	good, err := sb.NewDevice(ctx, "sensor-1", testAlias)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.NewDevice(ctx, "sensor-2", testAlias); err != nil {
		t.Fatal(err)
	}
	inactive, err := sb.NewDeviceWith(ctx, DeviceOptions{Thing: "sensor-3", RoleAlias: testAlias, Status: "INACTIVE"})
	if err != nil {
		t.Fatal(err)
	}
	noPolicy, err := sb.NewDeviceWith(ctx, DeviceOptions{Thing: "sensor-4"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := sb.Authority.DeviceCertificate("stranger", KeyRSA, sb.Now().Add(-time.Hour), sb.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	unregistered := DeviceFiles{Cert: certPEM, Key: keyPEM, CA: sb.CA}

	tests := []struct {
		name         string
		files        DeviceFiles
		alias, thing string
		path         string
		wantStatus   int
		wantMessage  string
	}{
		{"signed by the CA but not registered", unregistered, testAlias, "", "", 403, "Access Denied"},
		{"inactive certificate", inactive, testAlias, "sensor-3", "", 403, "Access Denied"},
		{"unknown role alias", good, "no-such-alias", "sensor-1", "", 404, "Role alias does not exist"},
		{"thing of another certificate", good, testAlias, "sensor-2", "", 400, "Invalid thing name passed"},
		{"unknown thing", good, testAlias, "no-such-thing", "", 400, "Invalid thing name passed"},
		{"no policy attached", noPolicy, testAlias, "sensor-4", "", 403, "Access Denied"},
		{"unknown path", good, "", "", "/role-aliases/fleet-a", 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mtlsClient(t, tt.files)
			var r response
			if tt.path != "" {
				r = rawGet(t, c, "https://"+sb.CredentialsEndpoint+tt.path)
			} else {
				r = mustGet(t, c, sb.CredentialsEndpoint, tt.alias, tt.thing)
			}
			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if got := r.json(t)["message"]; got != tt.wantMessage {
				t.Errorf("message = %q, want %q", got, tt.wantMessage)
			}
		})
	}

	if got, want := sb.Issued.Len(), 0; got != want {
		t.Errorf("Issued.Len() = %d, want %d", got, want)
	}
	if got, want := sb.CredentialCallsByStatus(403), int64(3); got != want {
		t.Errorf("CredentialCallsByStatus(403) = %d, want %d", got, want)
	}
}

func rawGet(t *testing.T, c *http.Client, url string) response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var r response
	r.status, r.header = resp.StatusCode, resp.Header
	r.body = readAll(t, resp)
	return r
}

func TestCredentialsHandshakeRefused(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	sb.AddRoleAlias(testAlias, testRole, 0)
	good, err := sb.NewDevice(context.Background(), "sensor-1", testAlias)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := other.DeviceCertificate("sensor-1", KeyECDSA, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	goodCert, err := tls.X509KeyPair(good.Cert, good.Key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		client *http.Client
	}{
		{"certificate of another CA", mtlsClient(t, DeviceFiles{Cert: certPEM, Key: keyPEM, CA: sb.CA})},
		{"no client certificate", clientWith(t, &tls.Config{}, sb.CA)},
		{"TLS 1.1", clientWith(t, &tls.Config{Certificates: []tls.Certificate{goodCert},
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, sb.CA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := getCredentials(context.Background(), tt.client, sb.CredentialsEndpoint, testAlias, "")
			if err == nil {
				t.Fatal("call succeeded, want a TLS error")
			}
		})
	}
	if got := sb.CredentialCalls(); got != 0 {
		t.Errorf("CredentialCalls() = %d, want 0 (refused in the handshake)", got)
	}
}

func TestCredentialsServerNames(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	sb.AddRoleAlias(testAlias, testRole, 0)
	files, err := sb.NewDeviceWith(context.Background(), DeviceOptions{Thing: "sensor-1", RoleAlias: testAlias, KeyType: KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"", "localhost", "127.0.0.1", "::1"} {
		t.Run("server name "+name, func(t *testing.T) {
			c := clientWith(t, &tls.Config{Certificates: []tls.Certificate{cert}, ServerName: name}, files.CA)
			if r := mustGet(t, c, sb.CredentialsEndpoint, testAlias, "sensor-1"); r.status != 200 {
				t.Errorf("status = %d %s, want 200", r.status, r.body)
			}
		})
	}
	t.Run("a name not in the certificate", func(t *testing.T) {
		c := clientWith(t, &tls.Config{Certificates: []tls.Certificate{cert}, ServerName: "example.com"}, files.CA)
		_, err := getCredentials(context.Background(), c, sb.CredentialsEndpoint, testAlias, "")
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("err = %v, want a certificate verification error", err)
		}
	})
}
