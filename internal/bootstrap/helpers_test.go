package bootstrap

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

var testNow = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// cleanAWSEnv clears the machine's AWS variables for the test with
// [testenv.ClearAWS] and gives the SDK static credentials through the
// environment, so that the default credential chain is what is used.
func cleanAWSEnv(t *testing.T) {
	t.Helper()
	testenv.ClearAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-access-key")
}

// fakeS3 is gofakes3 with an in-memory backend, over plain HTTP on
// loopback.
type fakeS3 struct {
	backend *s3mem.Backend
	srv     *httptest.Server
}

const testBucket = "authorization-files"

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	if err := be.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	return &fakeS3{backend: be, srv: srv}
}

func (f *fakeS3) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := f.backend.PutObject(testBucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeS3) putFiles(t *testing.T, prefix string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		f.put(t, prefix+name, data)
	}
}

func (f *fakeS3) source(t *testing.T, prefix string) *S3Source {
	t.Helper()
	src, err := NewS3Source(context.Background(), S3Options{
		Bucket: testBucket, Prefix: prefix, Region: "eu-west-1", EndpointURL: f.srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// device is a set of valid authorization files.
type device struct {
	ca   *certtest.CA
	leaf *certtest.Leaf
	root *certtest.CA
}

func newDevice(t *testing.T) device {
	t.Helper()
	ca := certtest.NewCAWithValidity("device CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))
	root := certtest.NewCAWithValidity("root", testNow.AddDate(-1, 0, 0), testNow.AddDate(10, 0, 0))
	return device{ca: ca, root: root,
		leaf: ca.Issue("sensor-0042", certtest.ECP256, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))}
}

func (d device) files() map[string][]byte {
	return map[string][]byte{
		certstore.CertFile: d.leaf.CertPEM,
		certstore.KeyFile:  d.leaf.KeyPEM,
		certstore.CAFile:   d.root.CertPEM,
	}
}

func (d device) fingerprint(t *testing.T) string {
	t.Helper()
	f := d.files()
	id, err := certstore.Parse(certstore.Files{Cert: f[certstore.CertFile], Key: f[certstore.KeyFile], CA: f[certstore.CAFile]}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return id.Fingerprint
}

func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// target is where a test installs: an identity folder and a config path.
type target struct{ identity, config string }

func newTarget(t *testing.T) target {
	dir := t.TempDir()
	return target{identity: filepath.Join(dir, "identity"), config: filepath.Join(dir, "etc", "config.yaml")}
}

func (tg target) options(src Source) Options {
	return Options{Source: src, IdentityDir: tg.identity, ConfigPath: tg.config, Now: clock}
}

func (tg target) fingerprint(t *testing.T) string {
	t.Helper()
	id, err := certstore.Load(tg.identity, testNow)
	if err != nil {
		t.Fatalf("load installed identity: %v", err)
	}
	return id.Fingerprint
}

// failSource fails the test if anything is fetched.
type failSource struct{ t *testing.T }

func (f failSource) Fetch(context.Context, string, int64) ([]byte, error) {
	f.t.Error("fetched although a valid identity is installed")
	return nil, ErrNotFound
}
func (failSource) String() string { return "nowhere" }
