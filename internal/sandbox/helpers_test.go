package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// startSandbox starts a sandbox with a fake clock and closes it at the end
// of the test.
func startSandbox(t *testing.T, o Options) (*Sandbox, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	if o.Now == nil {
		o.Now = clock.Now
	}
	sb, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb, clock
}

// mtlsClient returns an HTTP client that presents the device's certificate
// and trusts only the device's CA, as the agent does.
func mtlsClient(t *testing.T, files DeviceFiles) *http.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return clientWith(t, &tls.Config{Certificates: []tls.Certificate{cert}}, files.CA)
}

func clientWith(t *testing.T, conf *tls.Config, caPEM []byte) *http.Client {
	t.Helper()
	conf.RootCAs = poolOf(t, caPEM)
	tr := &http.Transport{TLSClientConfig: conf, Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// response is what the credentials provider answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v (%.200q)", err, r.body)
	}
	return m
}

// getCredentials calls the credentials provider as the agent does.
func getCredentials(ctx context.Context, c *http.Client, endpoint, alias, thing string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"https://"+endpoint+"/role-aliases/"+alias+"/credentials", nil)
	if err != nil {
		return response{}, err
	}
	if thing != "" {
		req.Header.Set("x-amzn-iot-thingname", thing)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body}, err
}

func mustGet(t *testing.T, c *http.Client, endpoint, alias, thing string) response {
	t.Helper()
	r, err := getCredentials(context.Background(), c, endpoint, alias, thing)
	if err != nil {
		t.Fatalf("GET credentials: %v", err)
	}
	return r
}

func poolOf(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM has no certificate")
	}
	return pool
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}
