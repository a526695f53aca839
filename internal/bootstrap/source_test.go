package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func s3Error(status int, code, msg string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, msg)
	}
}

func TestS3ErrorMessages(t *testing.T) {
	cleanAWSEnv(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
		wantIs  error
	}{
		{"access denied", s3Error(403, "AccessDenied", "Access Denied", nil),
			[]string{"s3://authorization-files/dev/device.pem.crt", "access denied (AccessDenied)", "s3:GetObject on arn:aws:s3:::authorization-files/dev/device.pem.crt"}, ErrAccessDenied},
		{"wrong region redirect", s3Error(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.",
			map[string]string{"X-Amz-Bucket-Region": "ap-south-1"}),
			[]string{`bucket "authorization-files" is in region ap-south-1, not eu-west-1 (PermanentRedirect)`, "pass --region ap-south-1"}, nil},
		{"wrong region header malformed", s3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-west-2'", nil),
			[]string{"is in region us-west-2, not eu-west-1", "pass --region us-west-2"}, nil},
		{"wrong region without hint", s3Error(301, "PermanentRedirect", "moved", nil),
			[]string{"is not in region eu-west-1", "pass the bucket's region with --region"}, nil},
		{"no such bucket", s3Error(404, "NoSuchBucket", "The specified bucket does not exist", nil),
			[]string{`bucket "authorization-files" does not exist (NoSuchBucket); check --bucket`}, nil},
		{"no such key", s3Error(404, "NoSuchKey", "The specified key does not exist.", nil),
			[]string{`no object "dev/device.pem.crt" in bucket "authorization-files"`}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			src, err := NewS3Source(context.Background(), S3Options{
				Bucket: testBucket, Prefix: "/dev/", Region: "eu-west-1", EndpointURL: srv.URL,
			})
			if err != nil {
				t.Fatal(err)
			}

			_, err = src.Fetch(context.Background(), "device.pem.crt", MaxObjectSize)
			t.Log(err)

			if err == nil {
				t.Fatal("got no error, want one")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "test-secret-access-key") {
				t.Errorf("error contains the secret key: %q", err)
			}
		})
	}
}

func TestS3RegionDefault(t *testing.T) {
	cleanAWSEnv(t)
	src, err := NewS3Source(context.Background(), S3Options{Bucket: "bk1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := src.region, defaultS3Region; got != want {
		t.Errorf("got region %q, want %q", got, want)
	}
	if got, want := src.String(), "s3://bk1/"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestURLSourceErrorsHideQuery(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/expired":
			s3Error(403, "AccessDenied", "Request has expired", nil)(w, r)
		case "/missing":
			s3Error(404, "NoSuchKey", "nope", nil)(w, r)
		case "/broken":
			w.WriteHeader(500)
		case "/endless":
			w.Header().Set("Content-Type", "application/octet-stream")
			chunk := make([]byte, 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/big":
			w.Header().Set("Content-Length", "2147483648")
			w.WriteHeader(200)
		}
	}))
	defer srv.Close()
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	const query = "?X-Amz-Credential=AKIA&X-Amz-Signature=sig=s3cr3t"

	tests := []struct {
		name   string
		url    string
		want   string
		wantIs error
	}{
		{"expired", srv.URL + "/expired" + query, "HTTP 403 AccessDenied); the presigned URL has expired", ErrAccessDenied},
		{"missing", srv.URL + "/missing" + query, "HTTP 404 NoSuchKey", ErrNotFound},
		{"server error", srv.URL + "/broken" + query, "HTTP 500", nil},
		{"endless body", srv.URL + "/endless" + query, "more than the 1048576-byte limit", ErrTooLarge},
		{"2 GB announced", srv.URL + "/big" + query, "2147483648 bytes", ErrTooLarge},
		{"connection refused", closedURL + "/x" + query, "GET " + closedURL + "/x (device.pem.crt)", nil},
		{"plain http", "http://example.com/x" + query, "must be https", nil},
		{"unparsable", "https://exa mple.com/%zz" + query, "does not parse", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := URLSource{URLs: map[string]string{"device.pem.crt": tt.url}, Client: srv.Client()}

			_, err := src.Fetch(context.Background(), "device.pem.crt", MaxObjectSize)
			t.Log(err)

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to contain %q", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			for _, secret := range []string{"X-Amz-Signature", "s3cr3t", "AKIA"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the query string: %q", err)
				}
			}
		})
	}
}

func TestURLSourceUnknownName(t *testing.T) {
	_, err := URLSource{}.Fetch(context.Background(), ConfigFile, MaxObjectSize)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound for a file without URL", err)
	}
}

func TestDirSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, MaxObjectSize+1), 0o600)
	os.WriteFile(filepath.Join(dir, "ok"), []byte("x"), 0o600)
	tests := []struct {
		name   string
		want   string
		wantIs error
	}{
		{"ok", "", nil},
		{"big", "1048577 bytes", ErrTooLarge},
		{"missing", filepath.Join(dir, "missing") + ": not found", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DirSource{Dir: dir}.Fetch(context.Background(), tt.name, MaxObjectSize)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want %q wrapping %v", err, tt.want, tt.wantIs)
			}
		})
	}
}
