package credprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	testKeyID  = "ASIATESTKEYID0000001"
	testSecret = "s3cr3t/KEY+do-not-log-0123456789abcdefgh"
	testToken  = "T0KEN-session-do-not-log-IQoJb3JpZ2luX2VjE"
)

func testCreds(exp time.Time) Credentials {
	return Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken, Expiration: exp}
}

// assertNoSecret fails when s holds the test secret key or session token.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSecret, testToken, "do-not-log"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s holds a secret (%q): %s", what, secret, s)
		}
	}
}

func TestCredentialsRenderingsRedact(t *testing.T) {
	c := testCreds(time.Date(2026, 8, 12, 10, 0, 0, 0, time.UTC))
	jsonOut, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	nested, err := json.Marshal(map[string]any{"creds": c, "ptr": &c})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		got  string
	}{
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", c)},
		{"%#v", fmt.Sprintf("%#v", c)},
		{"%s", fmt.Sprintf("%s", c)},
		{"%q", fmt.Sprintf("%q", c)},
		{"%x", fmt.Sprintf("%x", c)},
		{"pointer %v", fmt.Sprintf("%v", &c)},
		{"in a slice", fmt.Sprintf("%v", []Credentials{c})},
		{"in a struct %+v", fmt.Sprintf("%+v", struct{ C Credentials }{c})},
		{"String", c.String()},
		{"GoString", c.GoString()},
		{"json", string(jsonOut)},
		{"json nested", string(nested)},
		{"zap", zapRender(t, zap.Object("credentials", c), zap.Any("any", c), zap.Any("ptr", &c))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertNoSecret(t, tt.name, tt.got)
			if !strings.Contains(tt.got, testKeyID) {
				t.Errorf("got %s, want the access key id in it", tt.got)
			}
		})
	}
}

func zapRender(t *testing.T, fields ...zap.Field) string {
	t.Helper()
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel)
	zap.New(core).Info("test", fields...)

	return buf.String()
}

func TestCredentialsClientFormats(t *testing.T) {
	exp := time.Date(2026, 8, 12, 12, 0, 0, 500_000_000, time.FixedZone("CEST", 2*3600))
	c := testCreds(exp)

	tests := []struct {
		name string
		fn   func() ([]byte, error)
		want string
	}{
		{"container", c.ContainerJSON,
			`{"AccessKeyId":"` + testKeyID + `","SecretAccessKey":"` + testSecret + `","Token":"` + testToken + `","Expiration":"2026-08-12T10:00:00Z"}`},
		{"process", c.ProcessJSON,
			`{"Version":1,"AccessKeyId":"` + testKeyID + `","SecretAccessKey":"` + testSecret + `","SessionToken":"` + testToken + `","Expiration":"2026-08-12T10:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCredentialsValid(t *testing.T) {
	now := time.Date(2026, 8, 12, 10, 0, 0, 0, time.UTC)
	full := testCreds(now.Add(time.Hour))

	tests := []struct {
		name   string
		c      Credentials
		margin time.Duration
		want   bool
	}{
		{"fresh", full, time.Minute, true},
		{"inside margin", full, time.Hour, false},
		{"expired", testCreds(now.Add(-time.Second)), 0, false},
		{"expires now", testCreds(now), 0, false},
		{"no key id", Credentials{SecretAccessKey: "s", SessionToken: "t", Expiration: full.Expiration}, 0, false},
		{"no secret", Credentials{AccessKeyID: "a", SessionToken: "t", Expiration: full.Expiration}, 0, false},
		{"no token", Credentials{AccessKeyID: "a", SecretAccessKey: "s", Expiration: full.Expiration}, 0, false},
		{"zero", Credentials{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Valid(now, tt.margin); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
