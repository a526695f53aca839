package credprovider

import (
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap/zapcore"
)

// redacted replaces a secret in every rendering meant for people or logs.
const redacted = "REDACTED"

// Credentials are temporary AWS credentials as returned by the AWS IoT
// credentials provider.
//
// The default renderings (fmt verbs, encoding/json and zap) show the access key
// id and the expiration only; the secret access key and the session token are
// written only by [Credentials.ContainerJSON] and [Credentials.ProcessJSON].
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Valid reports whether c has all three keys and does not expire within margin
// of now.
func (c Credentials) Valid(now time.Time, margin time.Duration) bool {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return false
	}

	return now.Add(margin).Before(c.Expiration)
}

// String returns a redacted, human-readable form of c.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKeyID: %q, SecretAccessKey: %s, SessionToken: %s, Expiration: %s}",
		c.AccessKeyID, redactedIfSet(c.SecretAccessKey), redactedIfSet(c.SessionToken), formatExpiration(c.Expiration))
}

// GoString returns the same redacted form as [Credentials.String], so that %#v
// does not print the secrets either.
func (c Credentials) GoString() string {
	return "credprovider." + c.String()
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x...) prints the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'v' && f.Flag('#') {
		s = c.GoString()
	}

	_, _ = f.Write([]byte(s))
}

// MarshalJSON writes a redacted object, so that credentials that end up in a
// JSON log line or a debug dump carry no secret. Use
// [Credentials.ContainerJSON] or [Credentials.ProcessJSON] to hand credentials
// to a client.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		SessionToken    string `json:"session_token"`
		Expiration      string `json:"expiration,omitempty"`
	}{c.AccessKeyID, redact(c.SecretAccessKey), redact(c.SessionToken), formatExpiration(c.Expiration)})
}

// MarshalLogObject implements zapcore.ObjectMarshaler: it logs the access key
// id and the expiration only.
func (c Credentials) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("access_key_id", c.AccessKeyID)
	if !c.Expiration.IsZero() {
		enc.AddString("expiration", formatExpiration(c.Expiration))
	}

	return nil
}

// ContainerJSON returns c in the container-credentials format that the AWS
// SDKs read from AWS_CONTAINER_CREDENTIALS_FULL_URI:
// {"AccessKeyId","SecretAccessKey","Token","Expiration"}, with Expiration in
// RFC 3339 UTC ending in Z. The result holds secrets: send it to an
// authorized client only, never to a log.
func (c Credentials) ContainerJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		Token           string `json:"Token"`
		Expiration      string `json:"Expiration"`
	}{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, formatExpiration(c.Expiration)})
}

// ProcessJSON returns c in the credential_process format:
// {"Version":1,"AccessKeyId","SecretAccessKey","SessionToken","Expiration"},
// with Expiration in RFC 3339 UTC ending in Z. The result holds secrets.
func (c Credentials) ProcessJSON() ([]byte, error) {
	return json.Marshal(struct {
		Version         int    `json:"Version"`
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		SessionToken    string `json:"SessionToken"`
		Expiration      string `json:"Expiration"`
	}{1, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, formatExpiration(c.Expiration)})
}

// formatExpiration renders t as RFC 3339 in UTC (ending in Z), whole seconds,
// or "" for the zero time. Dropping the fraction rounds down, so a client never
// sees a later expiry than the real one.
func formatExpiration(t time.Time) string {
	if t.IsZero() {
		return ""
	}

	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// redactedIfSet hides a non-empty secret and shows that an empty one is empty.
func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}

	return redacted
}

// redact hides a non-empty secret and keeps an empty one empty.
func redact(s string) string {
	if s == "" {
		return ""
	}

	return redacted
}
