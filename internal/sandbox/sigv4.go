package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Values of X-Amz-Content-Sha256 and of the SigV4 algorithm fields.
const (
	sigV4Algorithm        = "AWS4-HMAC-SHA256"
	sigV4ChunkAlgorithm   = "AWS4-HMAC-SHA256-PAYLOAD"
	unsignedPayload       = "UNSIGNED-PAYLOAD"
	streamingSigned       = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingPrefix       = "STREAMING-"
	amzDateFormat         = "20060102T150405Z"
	emptySHA256           = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	defaultMaxSkew        = 15 * time.Minute
	defaultMaxBodyBuffer  = 64 << 20
	maxPresignedExpirySec = 7 * 24 * 3600
)

// SigV4Key is what the verifier knows about one access key: the secret it
// signs with and, for temporary credentials, the session token the request
// must carry and the time the key stops working.
type SigV4Key struct {
	SecretAccessKey string
	SessionToken    string    // empty for long-term keys
	Expiration      time.Time // zero for keys that do not expire
}

// SigV4Lookup returns the key with the given access key ID and whether the
// sandbox knows it.
type SigV4Lookup func(accessKeyID string) (SigV4Key, bool)

// SigV4Options configures a [SigV4Verifier].
type SigV4Options struct {
	// Lookup finds the temporary credentials the sandbox issued.
	Lookup SigV4Lookup
	// StaticKeys maps long-term access key IDs to their secrets, so that
	// admin and bootstrap flows that sign with fixed keys keep working.
	StaticKeys map[string]string
	// Region, when set, is the only region accepted in the credential scope.
	Region string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now; 15 minutes when zero.
	MaxSkew time.Duration
	// MaxBodyBuffer bounds the body buffered to check a signed payload hash
	// or chunk signatures; 64 MiB when zero.
	MaxBodyBuffer int64
	// Logger receives one debug line per refused request; none when nil.
	Logger *zap.Logger
}

// SigV4Verifier checks AWS Signature Version 4 on S3 requests, both the
// Authorization header form and presigned query strings, and answers refused
// requests with S3's XML errors.
//
// Known limits: the trailing checksum and trailer signature of
// STREAMING-*-TRAILER uploads are not checked (only the seed signature is),
// and SigV4A and SigV2 are refused as unsupported.
type SigV4Verifier struct {
	o SigV4Options
}

// NewSigV4Verifier returns a verifier for the keys that o describes.
func NewSigV4Verifier(o SigV4Options) *SigV4Verifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = defaultMaxSkew
	}
	if o.MaxBodyBuffer == 0 {
		o.MaxBodyBuffer = defaultMaxBodyBuffer
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &SigV4Verifier{o: o}
}

// Wrap returns a handler that passes only correctly signed requests to next.
func (v *SigV4Verifier) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := v.Verify(r); e != nil {
			v.o.Logger.Debug("s3 request refused",
				zap.String("code", e.Code), zap.String("access_key_id", e.AccessKeyID),
				zap.String("method", r.Method), zap.String("path", r.URL.Path))
			e.write(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// S3Error is a refusal in the shape S3 answers with.
type S3Error struct {
	Status      int      `xml:"-"`
	XMLName     struct{} `xml:"Error"`
	Code        string   `xml:"Code"`
	Message     string   `xml:"Message"`
	AccessKeyID string   `xml:"AWSAccessKeyId,omitempty"`
	// StringToSign is returned on SignatureDoesNotMatch, as S3 does, to help
	// find the difference; it holds no secret (only a hash of the request).
	StringToSign string `xml:"StringToSign,omitempty"`
	RequestID    string `xml:"RequestId"`
}

// Error returns the code and message.
func (e *S3Error) Error() string { return e.Code + ": " + e.Message }

func (e *S3Error) write(w http.ResponseWriter, r *http.Request) {
	e.RequestID = requestID()
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", e.RequestID)
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(e)
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func s3Err(status int, code, format string, args ...any) *S3Error {
	return &S3Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// sigV4Request is the parsed authentication of one request.
type sigV4Request struct {
	accessKeyID   string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
	amzDate       time.Time
	amzDateRaw    string
	token         string
	payloadHash   string
	presigned     bool
	expires       time.Duration
}

func (s *sigV4Request) scope() string {
	return s.date + "/" + s.region + "/" + s.service + "/aws4_request"
}

// Verify checks the signature of r and returns nil when it is good, or the
// S3 error to answer with. It may replace r.Body with a buffered copy.
func (v *SigV4Verifier) Verify(r *http.Request) *S3Error {
	req, e := parseSigV4(r)
	if e != nil {
		return e
	}

	key, e := v.key(req)
	if e != nil {
		e.AccessKeyID = req.accessKeyID
		return e
	}

	if e := v.checkScopeAndTime(req); e != nil {
		return e
	}

	sk := signingKey(key.SecretAccessKey, req.date, req.region, req.service)
	sts := stringToSign(req, canonicalRequest(r, req))
	want := hex.EncodeToString(hmacSHA256(sk, []byte(sts)))
	if !hmac.Equal([]byte(want), []byte(req.signature)) {
		e := s3Err(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		e.AccessKeyID, e.StringToSign = req.accessKeyID, sts
		return e
	}

	return v.checkPayload(r, req, sk)
}

// key finds the access key and checks its session token and expiry.
func (v *SigV4Verifier) key(req *sigV4Request) (SigV4Key, *S3Error) {
	key, ok := SigV4Key{}, false
	if secret, found := v.o.StaticKeys[req.accessKeyID]; found {
		key, ok = SigV4Key{SecretAccessKey: secret}, true
	} else if v.o.Lookup != nil {
		key, ok = v.o.Lookup(req.accessKeyID)
	}
	if !ok {
		return key, s3Err(http.StatusForbidden, "InvalidAccessKeyId",
			"The AWS Access Key Id you provided does not exist in our records.")
	}

	if req.token != key.SessionToken {
		return key, s3Err(http.StatusForbidden, "InvalidToken",
			"The provided token is malformed or otherwise invalid.")
	}
	if !key.Expiration.IsZero() && !v.o.Now().Before(key.Expiration) {
		return key, s3Err(http.StatusBadRequest, "ExpiredToken",
			"The provided token has expired.")
	}
	return key, nil
}

func (v *SigV4Verifier) checkScopeAndTime(req *sigV4Request) *S3Error {
	if req.service != "s3" || req.date != req.amzDateRaw[:8] {
		return s3Err(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the credential scope %q does not match service s3 and date %s.",
			req.scope(), req.amzDateRaw[:8])
	}
	if v.o.Region != "" && req.region != v.o.Region {
		return s3Err(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region '%s' is wrong; expecting '%s'", req.region, v.o.Region)
	}

	now := v.o.Now()
	if req.presigned {
		if now.After(req.amzDate.Add(req.expires)) {
			return s3Err(http.StatusForbidden, "AccessDenied", "Request has expired")
		}
		if req.amzDate.After(now.Add(v.o.MaxSkew)) {
			return s3Err(http.StatusForbidden, "AccessDenied", "Request is not valid yet")
		}
		return nil
	}
	if d := now.Sub(req.amzDate); d > v.o.MaxSkew || d < -v.o.MaxSkew {
		return s3Err(http.StatusForbidden, "RequestTimeTooSkewed",
			"The difference between the request time (%s) and the current time (%s) is too large.",
			req.amzDate.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseSigV4 reads the authentication of r from the Authorization header or
// from a presigned query string.
func parseSigV4(r *http.Request) (*sigV4Request, *S3Error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parseAuthHeader(r, auth)
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") {
		return parsePresigned(r, q)
	}
	if q.Has("AWSAccessKeyId") {
		return nil, s3Err(http.StatusBadRequest, "InvalidRequest",
			"Signature Version 2 is not supported by this endpoint; sign with AWS4-HMAC-SHA256.")
	}
	return nil, s3Err(http.StatusForbidden, "AccessDenied", "Access Denied")
}

func parseAuthHeader(r *http.Request, auth string) (*sigV4Request, *S3Error) {
	malformed := func(why string) *S3Error {
		return s3Err(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; %s.", why)
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != sigV4Algorithm {
		return nil, s3Err(http.StatusBadRequest, "InvalidArgument",
			"Unsupported Authorization Type %q; sign with AWS4-HMAC-SHA256.", alg)
	}

	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformed("a component is not of the form name=value")
		}
		fields[k] = val
	}
	req := &sigV4Request{signature: fields["Signature"]}
	if e := req.setCredential(fields["Credential"]); e != nil {
		return nil, e
	}
	if fields["SignedHeaders"] == "" || req.signature == "" {
		return nil, malformed("SignedHeaders and Signature are required")
	}
	req.signedHeaders = strings.Split(fields["SignedHeaders"], ";")

	dateRaw := r.Header.Get("X-Amz-Date")
	if dateRaw == "" {
		dateRaw = r.Header.Get("Date")
	}
	if e := req.setDate(dateRaw); e != nil {
		return nil, e
	}
	req.token = r.Header.Get("X-Amz-Security-Token")

	req.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	if req.payloadHash == "" {
		return nil, s3Err(http.StatusBadRequest, "InvalidRequest",
			"Missing required header for this request: x-amz-content-sha256")
	}
	return req, nil
}

func parsePresigned(r *http.Request, q url.Values) (*sigV4Request, *S3Error) {
	if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
		return nil, s3Err(http.StatusBadRequest, "AuthorizationQueryParametersError",
			"X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	req := &sigV4Request{presigned: true, signature: q.Get("X-Amz-Signature")}
	if e := req.setCredential(q.Get("X-Amz-Credential")); e != nil {
		return nil, e
	}
	if e := req.setDate(q.Get("X-Amz-Date")); e != nil {
		return nil, e
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 0 || secs > maxPresignedExpirySec {
		return nil, s3Err(http.StatusBadRequest, "AuthorizationQueryParametersError",
			"X-Amz-Expires must be a number of seconds from 0 to %d", maxPresignedExpirySec)
	}
	req.expires = time.Duration(secs) * time.Second
	if q.Get("X-Amz-SignedHeaders") == "" || req.signature == "" {
		return nil, s3Err(http.StatusBadRequest, "AuthorizationQueryParametersError",
			"X-Amz-SignedHeaders and X-Amz-Signature are required")
	}
	req.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	req.token = q.Get("X-Amz-Security-Token")

	req.payloadHash = unsignedPayload
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && req.signs("x-amz-content-sha256") {
		req.payloadHash = h
	}
	return req, nil
}

// setCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func (s *sigV4Request) setCredential(c string) *S3Error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" {
		return s3Err(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the Credential is not of the form <key>/<date>/<region>/<service>/aws4_request.")
	}
	s.accessKeyID, s.date, s.region, s.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (s *sigV4Request) setDate(raw string) *S3Error {
	t, err := time.Parse(amzDateFormat, raw)
	if err != nil {
		t, err = http.ParseTime(raw)
		raw = t.UTC().Format(amzDateFormat)
	}
	if err != nil {
		return s3Err(http.StatusForbidden, "AccessDenied",
			"AWS authentication requires a valid Date or x-amz-date header")
	}
	s.amzDate, s.amzDateRaw = t.UTC(), raw
	return nil
}

func (s *sigV4Request) signs(header string) bool {
	for _, h := range s.signedHeaders {
		if h == header {
			return true
		}
	}
	return false
}

// canonicalRequest builds the SigV4 canonical request for r as S3 does: the
// path is encoded once (not twice as for other services).
func canonicalRequest(r *http.Request, req *sigV4Request) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalURI(r) + "\n")
	b.WriteString(canonicalQuery(r.URL.RawQuery, req.presigned) + "\n")
	for _, h := range req.signedHeaders {
		b.WriteString(h + ":" + headerValue(r, h) + "\n")
	}
	b.WriteString("\n" + strings.Join(req.signedHeaders, ";") + "\n")
	b.WriteString(req.payloadHash)
	return b.String()
}

// canonicalURI re-encodes each segment of the path as sent, so that a client
// that left a character unencoded and one that encoded it agree, while an
// encoded slash stays part of its segment.
func canonicalURI(r *http.Request) string {
	raw := r.URL.EscapedPath()
	if r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "http") {
		raw, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if raw == "" {
		return "/"
	}
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
		segs[i] = uriEncode(s, true)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts the encoded parameters by name, then value. It reads
// the raw query itself because url.ParseQuery turns '+' into a space.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		k, val = unescapeQuery(k), unescapeQuery(val)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(val, true))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func unescapeQuery(s string) string {
	if dec, err := url.PathUnescape(s); err == nil {
		return dec
	}
	return s
}

// uriEncode encodes every byte except the unreserved characters A-Z a-z 0-9
// - _ . ~, and '/' when encodeSlash is false, as SigV4 defines.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// headerValue returns the canonical value of a signed header: all values
// joined by commas, each trimmed with inner runs of spaces collapsed. Go's
// server moves Host, and for chunked bodies Transfer-Encoding, out of the
// header map.
func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "transfer-encoding":
		vals = r.TransferEncoding
	default:
		vals = r.Header.Values(name)
		if name == "content-length" && len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func stringToSign(req *sigV4Request, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return sigV4Algorithm + "\n" + req.amzDateRaw + "\n" + req.scope() + "\n" + hex.EncodeToString(sum[:])
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// checkPayload checks the body against a signed payload hash, or the chunk
// signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, and puts the
// buffered body back on r for the next handler.
func (v *SigV4Verifier) checkPayload(r *http.Request, req *sigV4Request, sk []byte) *S3Error {
	h := req.payloadHash
	switch {
	case h == unsignedPayload || (strings.HasPrefix(h, streamingPrefix) && h != streamingSigned):
		return nil
	case h != streamingSigned && !isHexSHA256(h):
		return s3Err(http.StatusBadRequest, "InvalidArgument",
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA-256 hex digest")
	}

	body, e := v.bufferBody(r)
	if e != nil {
		return e
	}
	if h == streamingSigned {
		return verifyChunks(body, req, sk)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != strings.ToLower(h) {
		return s3Err(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return nil
}

func isHexSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

func (v *SigV4Verifier) bufferBody(r *http.Request) ([]byte, *S3Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, v.o.MaxBodyBuffer+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, s3Err(http.StatusBadRequest, "IncompleteBody", "read request body: %v", err)
	}
	if int64(len(body)) > v.o.MaxBodyBuffer {
		return nil, s3Err(http.StatusBadRequest, "EntityTooLarge",
			"The sandbox checks signed bodies up to %d bytes; sign this one with UNSIGNED-PAYLOAD.", v.o.MaxBodyBuffer)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// verifyChunks checks each "<hex size>;chunk-signature=<sig>\r\n<data>\r\n"
// chunk of an aws-chunked body, each signed over the previous signature.
func verifyChunks(body []byte, req *sigV4Request, sk []byte) *S3Error {
	bad := func(why string) *S3Error {
		return s3Err(http.StatusForbidden, "SignatureDoesNotMatch",
			"The chunk signature we calculated does not match the one you provided (%s).", why)
	}
	prev := req.signature
	for {
		line, rest, ok := bytes.Cut(body, []byte("\r\n"))
		if !ok {
			return bad("chunk header missing")
		}
		sizeHex, sig, ok := strings.Cut(string(line), ";chunk-signature=")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if !ok || err != nil || size < 0 || int64(len(rest)) < size+2 {
			return bad("chunk header malformed")
		}
		data := rest[:size]
		sum := sha256.Sum256(data)
		sts := sigV4ChunkAlgorithm + "\n" + req.amzDateRaw + "\n" + req.scope() + "\n" +
			prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:])
		want := hex.EncodeToString(hmacSHA256(sk, []byte(sts)))
		if !hmac.Equal([]byte(want), []byte(sig)) {
			return bad("chunk of " + sizeHex + " bytes")
		}
		if size == 0 {
			return nil
		}
		prev, body = sig, rest[size+2:]
	}
}
