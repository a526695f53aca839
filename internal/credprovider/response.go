package credprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxResponseBytes caps the response body: a larger body is an error and is
// never read whole.
const MaxResponseBytes = 64 << 10

// maxSnippet is the most of a non-JSON body an error may quote.
const maxSnippet = 80

// maxRetryAfter caps a Retry-After, so that a garbled header cannot stop
// refreshes for days.
const maxRetryAfter = time.Hour

// credentialsBody is the 200 answer of the credentials provider.
type credentialsBody struct {
	Credentials *struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
		Expiration      string `json:"expiration"`
	} `json:"credentials"`
}

// readResponse turns a response into a result or a classified error.
func readResponse(resp *http.Response) (Result, error) {
	date, _ := http.ParseTime(resp.Header.Get("Date"))

	body, err := readCapped(resp)
	if err != nil {
		return Result{}, err
	}

	if resp.StatusCode != http.StatusOK {
		return Result{}, statusError(resp, body, date)
	}

	creds, err := parseCredentials(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return Result{}, err
	}

	return Result{Credentials: creds, ServerDate: date}, nil
}

// readCapped reads at most MaxResponseBytes; a longer body is an error, and
// what is left of it is never read.
func readCapped(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > MaxResponseBytes {
		return nil, tooLarge(resp.StatusCode)
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, &Error{Class: ClassTransient, StatusCode: resp.StatusCode, Message: "read response", Err: err}
	}
	if len(body) > MaxResponseBytes {
		return nil, tooLarge(resp.StatusCode)
	}

	return body, nil
}

func tooLarge(status int) *Error {
	return &Error{
		Class:      ClassTransient,
		StatusCode: status,
		Message:    fmt.Sprintf("response body larger than %d KiB", MaxResponseBytes>>10),
		Hint:       "is credential_endpoint the credentials endpoint?",
	}
}

// parseCredentials decodes a 200 body and checks that every field is there.
func parseCredentials(contentType string, body []byte) (Credentials, error) {
	if !looksLikeJSON(body) {
		return Credentials{}, notJSON(http.StatusOK, contentType, body)
	}

	var b credentialsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Credentials{}, malformed("decode credentials JSON: " + jsonProblem(err))
	}
	if b.Credentials == nil {
		return Credentials{}, malformed(`no "credentials" object in the response`)
	}

	c := b.Credentials
	if missing := missingFields(c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration); missing != "" {
		return Credentials{}, malformed("response lacks " + missing)
	}

	exp, err := parseExpiration(c.Expiration)
	if err != nil {
		return Credentials{}, malformed(err.Error())
	}

	return Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: exp}, nil
}

func malformed(msg string) *Error {
	return &Error{Class: ClassTransient, StatusCode: http.StatusOK, Message: msg}
}

// jsonProblem describes a decode error without quoting the input: a syntax
// error gives its offset, a type error the field.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError

	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &syn) && strings.Contains(syn.Error(), "unexpected end"):
		return "truncated JSON"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s is a JSON %s", typ.Field, typ.Value)
	}

	return "invalid JSON"
}

func missingFields(id, secret, token, exp string) string {
	var names []string
	for _, f := range []struct{ name, v string }{
		{"accessKeyId", id}, {"secretAccessKey", secret}, {"sessionToken", token}, {"expiration", exp},
	} {
		if strings.TrimSpace(f.v) == "" {
			names = append(names, f.name)
		}
	}

	return strings.Join(names, ", ")
}

// parseExpiration accepts RFC 3339 with Z or any offset, with or without
// fractional seconds, and returns UTC.
func parseExpiration(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("expiration %q is not an RFC 3339 time", sanitize(s, 40))
	}

	return t.UTC(), nil
}

// statusError classifies a non-200 answer.
func statusError(resp *http.Response, body []byte, date time.Time) *Error {
	code := resp.StatusCode
	e := &Error{Class: classify(code), StatusCode: code}

	msg, ok := serviceMessage(body)
	switch {
	case ok:
		e.Message = msg
	case len(bytes.TrimSpace(body)) > 0:
		nj := notJSON(code, resp.Header.Get("Content-Type"), body)
		e.Message, e.NotJSON, e.MediaType = nj.Message, nj.NotJSON, nj.MediaType
	default:
		e.Message = http.StatusText(code)
	}

	e.Hint = hint(code, msg)
	if code == http.StatusTooManyRequests {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), date)
	}

	return e
}

func classify(code int) Class {
	switch {
	case code == http.StatusTooManyRequests:
		return ClassThrottled
	case code >= 500, code == http.StatusRequestTimeout:
		return ClassTransient
	}

	return ClassConfiguration
}

// hint says what to fix for a refusal; it is keyed on the status and, where
// the service uses one status for several causes, on its message.
func hint(code int, msg string) string {
	lower := strings.ToLower(msg)

	switch {
	case code == http.StatusBadRequest && strings.Contains(lower, "thing"):
		return "check thing_name: the thing must exist and be attached to the device certificate"
	case code == http.StatusBadRequest:
		return "check thing_name and role_alias"
	case code == http.StatusUnauthorized:
		return "the device certificate was not accepted: check that it is registered in this account and region and ACTIVE"
	case code == http.StatusForbidden:
		return "check that the certificate is ACTIVE, that the thing is attached to the certificate, and that a policy attached to the certificate allows iot:AssumeRoleWithCertificate on the role alias ARN"
	case code == http.StatusNotFound:
		return "check role_alias: it must name a role alias in the endpoint's account and region, and credential_endpoint must be the credentials endpoint"
	case code == http.StatusTooManyRequests:
		return "the service is throttling this device; the agent backs off"
	case code >= 500:
		return "the service failed; the agent retries with backoff"
	case code >= 300 && code < 400:
		return "the endpoint redirected the request: is credential_endpoint the credentials endpoint?"
	}

	return "is credential_endpoint the credentials endpoint?"
}

// serviceMessage returns the "message" of a JSON error body, sanitized.
func serviceMessage(body []byte) (string, bool) {
	if !looksLikeJSON(body) {
		return "", false
	}

	var m struct {
		Message      string `json:"message"`
		MessageUpper string `json:"Message"`
	}
	if json.Unmarshal(body, &m) != nil {
		return "", false
	}

	msg := m.Message
	if msg == "" {
		msg = m.MessageUpper
	}
	if msg == "" {
		return "", false
	}

	return sanitize(msg, 200), true
}

// notJSON explains a body that is not JSON, quoting at most a short,
// sanitized start of it.
func notJSON(code int, contentType string, body []byte) *Error {
	kind, mediaType := "a body", ""
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		kind, mediaType = mt, mt
	}

	msg := fmt.Sprintf("endpoint answered %s, not JSON: is credential_endpoint the credentials endpoint?", kind)
	if snip := snippet(body); snip != "" {
		msg += fmt.Sprintf(" (body starts %q)", snip)
	}

	return &Error{Class: bodyClass(code), StatusCode: code, Message: msg, NotJSON: true, MediaType: mediaType}
}

// bodyClass keeps the class of a non-200 status and treats an unreadable
// 200 as transient.
func bodyClass(code int) Class {
	if code == http.StatusOK {
		return ClassTransient
	}

	return classify(code)
}

// snippet returns a short, printable start of a body, or "" when the body
// might hold credentials.
func snippet(body []byte) string {
	lower := bytes.ToLower(body)
	for _, k := range []string{"secretaccesskey", "sessiontoken", "accesskeyid"} {
		if bytes.Contains(lower, []byte(k)) {
			return ""
		}
	}

	head := body
	if len(head) > maxSnippet*2 {
		head = head[:maxSnippet*2]
	}

	return sanitize(string(head), maxSnippet)
}

// sanitize keeps printable characters, folds whitespace and cuts s to max
// runes.
func sanitize(s string, max int) string {
	var b strings.Builder
	n, space := 0, false
	for _, r := range s {
		if n >= max {
			b.WriteString("...")
			break
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}

	return b.String()
}

func looksLikeJSON(body []byte) bool {
	t := bytes.TrimSpace(body)

	return len(t) > 0 && t[0] == '{'
}

// parseRetryAfter reads delay-seconds or an HTTP-date. A date is measured
// from the server's own Date header when there is one, so that a wrong device
// clock does not distort it.
func parseRetryAfter(v string, serverDate time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}

	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(max(secs, 0)) * time.Second
		if secs > int64(maxRetryAfter/time.Second) {
			d = maxRetryAfter
		}
	} else if at, err := http.ParseTime(v); err == nil {
		now := serverDate
		if now.IsZero() {
			now = time.Now()
		}
		d = at.Sub(now)
	}

	return min(max(d, 0), maxRetryAfter)
}
