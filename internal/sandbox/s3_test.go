package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// sdkDefaultClient returns an S3 client built as an application would, with
// LoadDefaultConfig and the SDK's default checksum behaviour (CRC32 on
// every upload).
func sdkDefaultClient(t *testing.T, sb *Sandbox) *s3.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(sb.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAANY", "any-secret", "")))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(sb.S3URL)
		o.UsePathStyle = true
	})
}

func TestS3RoundTrip(t *testing.T) {
	testenv.ClearAWS(t)
	sb, _ := startSandbox(t, Options{})
	ctx := context.Background()
	if err := sb.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20+17)
	_, _ = rand.Read(big)

	clients := []struct {
		name   string
		client *s3.Client
	}{
		{"S3Client", sb.S3Client()},
		{"SDK defaults", sdkDefaultClient(t, sb)},
	}
	bodies := []struct {
		name string
		body []byte
	}{
		{"empty", []byte{}},
		{"pem", []byte("-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----")},
		{"3 MiB random", big},
	}
	for _, c := range clients {
		for _, b := range bodies {
			t.Run(c.name+"/"+b.name, func(t *testing.T) {
				key := "dir/" + c.name + "/" + b.name
				_, err := c.client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(b.body)})
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				if got := getObject(t, c.client, "bucket", key); !bytes.Equal(got, b.body) {
					t.Errorf("GetObject returned %d bytes, want the %d put", len(got), len(b.body))
				}
				stored, err := sb.GetObject(ctx, "bucket", key)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(stored, b.body) {
					t.Errorf("backend holds %d bytes, want the %d put", len(stored), len(b.body))
				}
			})
		}
	}
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func TestSeedAuthorizationFiles(t *testing.T) {
	testenv.ClearAWS(t)
	sb, _ := startSandbox(t, Options{})
	ctx := context.Background()
	files, err := sb.NewDevice(ctx, "sensor-1", testAlias)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sb.AgentConfig("sensor-1", testAlias)

	tests := []struct {
		name, prefix string
		files        DeviceFiles
		config       []byte
		want         map[string][]byte
	}{
		{"all files", "authorization-files/sensor-1/", files, cfg, map[string][]byte{
			"authorization-files/sensor-1/device.pem.crt":    files.Cert,
			"authorization-files/sensor-1/private.pem.key":   files.Key,
			"authorization-files/sensor-1/AmazonRootCA1.pem": files.CA,
			"authorization-files/sensor-1/edge-agent.yaml":   cfg,
		}},
		{"csr flow, no key or config", "csr", DeviceFiles{Cert: files.Cert, CA: files.CA}, nil, map[string][]byte{
			"csr/device.pem.crt":    files.Cert,
			"csr/AmazonRootCA1.pem": files.CA,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket := "seed-" + map[bool]string{true: "a", false: "b"}[tt.config != nil]
			if err := sb.SeedAuthorizationFiles(ctx, bucket, tt.prefix, tt.files, tt.config); err != nil {
				t.Fatalf("SeedAuthorizationFiles: %v", err)
			}
			c := sb.S3Client()
			keys := listKeys(t, c, bucket)
			if got, want := keys, sortedKeys(tt.want); !equalStrings(got, want) {
				t.Errorf("keys = %v, want %v", got, want)
			}
			for k, want := range tt.want {
				if got := getObject(t, c, bucket, k); !bytes.Equal(got, want) {
					t.Errorf("%s differs from what was seeded", k)
				}
			}
		})
	}

	t.Run("missing certificate", func(t *testing.T) {
		if err := sb.SeedAuthorizationFiles(ctx, "seed-c", "p", DeviceFiles{CA: files.CA}, nil); err == nil {
			t.Error("err = nil, want an error for the empty certificate")
		}
	})
}

func listKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys(m map[string][]byte) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestS3Middleware(t *testing.T) {
	// A middleware registered like issue 5's SigV4 check sees every request.
	seen := make(chan string, 16)
	registerS3Middleware(func(sb *Sandbox, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Mark") != "" {
				seen <- r.Method + " " + r.URL.Path
			}
			next.ServeHTTP(w, r)
		})
	})
	sb, _ := startSandbox(t, Options{})
	req, _ := http.NewRequest(http.MethodGet, sb.S3URL+"/", nil)
	req.Header.Set("X-Test-Mark", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := <-seen, "GET /"; got != want {
		t.Errorf("middleware saw %q, want %q", got, want)
	}
}
