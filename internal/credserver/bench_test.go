package credserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"go.uber.org/zap"
)

// benchGet runs cached GETs of url in parallel, each goroutine on its own
// kept-alive connection.
func benchGet(b *testing.B, c *http.Client, url string, hdr http.Header) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header = hdr
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// benchTransport returns a keep-alive transport whose connections are closed
// before the server shuts down (cleanups run last-in first-out).
func benchTransport(b *testing.B) *http.Transport {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	return tr
}

func BenchmarkUnixGet(b *testing.B) {
	h := newHarness(b, Options{AllowedUIDs: []int{0}})
	h.srv.log = zap.NewNop() // as at the default info level: no line per request
	path := h.startUnix(b)
	tr := benchTransport(b)
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}

	benchGet(b, &http.Client{Transport: tr}, "http://agent/v1/credentials", http.Header{})
}

func BenchmarkTCPGet(b *testing.B) {
	h := newHarness(b, Options{Token: []byte(testToken)})
	h.srv.log = zap.NewNop()
	base := h.startTCP(b, h.srv.ServeTCP)

	benchGet(b, &http.Client{Transport: benchTransport(b)}, base+"/v1/credentials",
		http.Header{"Authorization": {testToken}})
}
