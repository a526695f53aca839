package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Keys of the S3 tests. The temporary ones play the part of credentials the
// sandbox's credentials provider issued.
const (
	tAdminKey    = "AKIASIGV4ADMIN000001"
	tAdminSecret = "admin-secret"
	tTempKey     = "ASIASIGV4TEMP0000001"
	tTempSecret  = "temp-secret/with+odd=chars"
	tTempToken   = "session-token-1"
	tOldKey      = "ASIASIGV4EXPIRED0001"
	tOldSecret   = "expired-secret"
	tOldToken    = "session-token-0"
	tBucket      = "fleet-bucket"
	tRegion      = "eu-west-1"
)

// newSigV4S3 starts gofakes3 behind the verifier on loopback and returns its
// URL, with a bucket holding objects whose keys need URI encoding.
func newSigV4S3(t *testing.T, now func() time.Time) string {
	t.Helper()
	keys := map[string]SigV4Key{
		tTempKey: {SecretAccessKey: tTempSecret, SessionToken: tTempToken, Expiration: now().Add(time.Hour)},
		tOldKey:  {SecretAccessKey: tOldSecret, SessionToken: tOldToken, Expiration: now().Add(-time.Second)},
	}
	v := NewSigV4Verifier(SigV4Options{
		Lookup: func(id string) (SigV4Key, bool) {
			k, ok := keys[id]
			return k, ok
		},
		StaticKeys: map[string]string{tAdminKey: tAdminSecret},
		Now:        now,
	})

	backend := s3mem.New()
	if err := backend.CreateBucket(tBucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	srv := httptest.NewServer(v.Wrap(gofakes3.New(backend).Server()))
	t.Cleanup(srv.Close)
	return srv.URL
}

// s3For returns a real SDK client that signs with the given credentials.
func s3For(url, key, secret, token string) *s3.Client {
	return s3.New(s3.Options{
		Region:                     tRegion,
		BaseEndpoint:               aws.String(url),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(key, secret, token),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// apiError returns the S3 error code and HTTP status of err ("" and 0 when
// err is nil).
func apiError(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	code, status := "no-api-error", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func TestSigV4WithSDKClient(t *testing.T) {
	now := time.Now
	url := newSigV4S3(t, now)
	ctx := context.Background()

	odd := "dir/a b+c~d!e'(f)*,;=@$&é.txt"
	admin := s3For(url, tAdminKey, tAdminSecret, "")
	_, err := admin.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(tBucket), Key: aws.String(odd), Body: strings.NewReader("hello"),
	})
	if err != nil {
		t.Fatalf("admin put %q: %v", odd, err)
	}

	tests := []struct {
		name               string
		key, secret, token string
		wantCode           string
		wantStatus         int
	}{
		{"temporary key", tTempKey, tTempSecret, tTempToken, "", 0},
		{"static admin key", tAdminKey, tAdminSecret, "", "", 0},
		{"wrong secret", tTempKey, "not-the-secret", tTempToken, "SignatureDoesNotMatch", 403},
		{"unknown key", "ASIAUNKNOWN000000000", tTempSecret, tTempToken, "InvalidAccessKeyId", 403},
		{"expired", tOldKey, tOldSecret, tOldToken, "ExpiredToken", 400},
		{"missing token", tTempKey, tTempSecret, "", "InvalidToken", 403},
		{"another key's token", tTempKey, tTempSecret, tOldToken, "InvalidToken", 403},
		{"token on a static key", tAdminKey, tAdminSecret, tTempToken, "InvalidToken", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s3For(url, tt.key, tt.secret, tt.token)

			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
				Bucket: aws.String(tBucket), Prefix: aws.String("dir/a b+c"),
			})
			code, status := apiError(err)
			if code != tt.wantCode || status != tt.wantStatus {
				t.Fatalf("list: got %q %d, want %q %d (err %v)", code, status, tt.wantCode, tt.wantStatus, err)
			}
			if err != nil {
				return
			}
			if got := len(out.Contents); got != 1 {
				t.Fatalf("list: got %d objects, want 1", got)
			}

			get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tBucket), Key: aws.String(odd)})
			if err != nil {
				t.Fatalf("get %q: %v", odd, err)
			}
			body, _ := io.ReadAll(get.Body)
			_ = get.Body.Close()
			if string(body) != "hello" {
				t.Fatalf("get: got %q, want %q", body, "hello")
			}

			_, err = c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(tBucket), Key: aws.String("up/" + tt.name), Body: bytes.NewReader([]byte("x")),
			})
			if err != nil {
				t.Fatalf("put: %v", err)
			}
		})
	}
}

func TestSigV4Presigned(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	clock := start
	url := newSigV4S3(t, func() time.Time { return clock })
	c := s3For(url, tTempKey, tTempSecret, tTempToken)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(tBucket), Key: aws.String("p/file name.txt"), Body: strings.NewReader("presigned"),
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}

	ps := s3.NewPresignClient(c, s3.WithPresignExpires(10*time.Minute))
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tBucket), Key: aws.String("p/file name.txt")})
	if err != nil {
		t.Fatalf("presign: %v", err)
	}

	tests := []struct {
		name       string
		url        string
		at         time.Time
		wantStatus int
		wantCode   string
	}{
		{"good", req.URL, start, 200, ""},
		{"tampered signature", strings.Replace(req.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1), start, 403, "SignatureDoesNotMatch"},
		{"past its expiry", req.URL, start.Add(11 * time.Minute), 403, "AccessDenied"},
		{"anonymous", url + "/" + tBucket + "/p/file%20name.txt", start, 403, "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = tt.at
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode != "" && !strings.Contains(string(body), "<Code>"+tt.wantCode+"</Code>") {
				t.Fatalf("got body %s, want code %s", body, tt.wantCode)
			}
		})
	}
}

// The known-answer tests below are the examples of the S3 SigV4
// documentation ("Signature calculations for the Authorization header" and
// "Authenticating requests: using query parameters").
const (
	docKey    = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func docVerifier() *SigV4Verifier {
	return NewSigV4Verifier(SigV4Options{
		StaticKeys: map[string]string{docKey: docSecret},
		Now:        func() time.Time { return time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC) },
	})
}

func TestSigV4DocumentationExamples(t *testing.T) {
	chunked := func(sigs ...string) []byte {
		var b bytes.Buffer
		for i, n := range []int{65536, 1024, 0} {
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", n, sigs[i], strings.Repeat("a", n))
		}
		return b.Bytes()
	}
	good := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	badSecond := append([]string{}, good...)
	badSecond[1] = strings.Repeat("0", 64)

	tests := []struct {
		name     string
		req      func() *http.Request
		wantCode string
	}{
		{"get object with range", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
			r.Header.Set("Range", "bytes=0-9")
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
			return r
		}, ""},
		{"presigned get", func() *http.Request {
			return httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil)
		}, ""},
		{"chunked upload", func() *http.Request { return chunkedDocRequest(chunked(good...)) }, ""},
		{"chunked upload, second chunk altered", func() *http.Request { return chunkedDocRequest(chunked(badSecond...)) }, "SignatureDoesNotMatch"},
		{"header value with extra spaces", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
			r.Header.Set("Range", "  bytes=0-9  ")
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
			return r
		}, ""},
		{"signed body that differs", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", strings.NewReader("x"))
			r.Header.Set("Range", "bytes=0-9")
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
			return r
		}, "XAmzContentSHA256Mismatch"},
		{"no x-amz-content-sha256", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=00")
			return r
		}, "InvalidRequest"},
		{"scope date differs from x-amz-date", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=00")
			return r
		}, "AuthorizationHeaderMalformed"},
		{"signature version 2", func() *http.Request {
			r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
			r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
			return r
		}, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := docVerifier().Verify(tt.req())
			got := ""
			if e != nil {
				got = e.Code
			}
			if got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, e, tt.wantCode)
			}
		})
	}
}

func chunkedDocRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Content-Sha256", streamingSigned)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	return r
}

func TestSigV4ClockSkew(t *testing.T) {
	tests := []struct {
		name     string
		offset   time.Duration
		wantCode string
	}{
		{"14 minutes behind", -14 * time.Minute, ""},
		{"16 minutes behind", -16 * time.Minute, "RequestTimeTooSkewed"},
		{"16 minutes ahead", 16 * time.Minute, "RequestTimeTooSkewed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := time.Now()
			url := newSigV4S3(t, func() time.Time { return signed.Add(-tt.offset) })
			_, err := s3For(url, tAdminKey, tAdminSecret, "").ListObjectsV2(context.Background(),
				&s3.ListObjectsV2Input{Bucket: aws.String(tBucket)})
			// The SDK retries a skewed request once with its clock adjusted
			// from the Date header, so a small skew passes.
			got, _ := apiError(err)
			if got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestSigV4ErrorBodyHasNoSecret(t *testing.T) {
	url := newSigV4S3(t, time.Now)
	req, _ := http.NewRequest("GET", url+"/"+tBucket+"?list-type=2", nil)
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDateFormat))
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req.Header.Set("X-Amz-Security-Token", tTempToken)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+tTempKey+"/"+
		time.Now().UTC().Format("20060102")+"/"+tRegion+"/s3/aws4_request,SignedHeaders=host;x-amz-date;x-amz-security-token,Signature=00")

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()

	if resp.StatusCode != 403 || !strings.Contains(string(body), "SignatureDoesNotMatch") {
		t.Fatalf("got %d %s, want 403 SignatureDoesNotMatch", resp.StatusCode, body)
	}
	for _, secret := range []string{tTempSecret, tTempToken} {
		if strings.Contains(string(body), secret) {
			t.Errorf("error body holds a secret: %s", body)
		}
	}
}

func TestStartRequireSigV4(t *testing.T) {
	tests := []struct {
		name        string
		require     bool
		key, secret string
		wantCode    string
	}{
		{"on, admin key", true, AdminAccessKeyID, AdminSecretAccessKey, ""},
		{"on, unknown key", true, "AKIAUNKNOWN000000000", "x", "InvalidAccessKeyId"},
		{"on, admin key with a wrong secret", true, AdminAccessKeyID, "x", "SignatureDoesNotMatch"},
		{"off, unknown key", false, "AKIAUNKNOWN000000000", "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			sb, err := Start(ctx, Options{RequireSigV4: tt.require})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			defer sb.Close()
			if err := sb.CreateBucket(ctx, tBucket); err != nil {
				t.Fatal(err)
			}

			_, err = s3For(sb.S3URL, tt.key, tt.secret, "").ListObjectsV2(ctx,
				&s3.ListObjectsV2Input{Bucket: aws.String(tBucket)})
			if got, _ := apiError(err); got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}
