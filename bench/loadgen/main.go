// Command loadgen drives a fixed number of concurrent kept-alive clients
// against the agent's local API, over the unix socket or loopback TCP, and
// prints requests per second and latency percentiles. It exists because
// public HTTP load tools do not speak HTTP over a unix socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	socket := flag.String("unix", "", "unix socket path (instead of -url)")
	url := flag.String("url", "", "base URL over TCP, e.g. http://127.0.0.1:51080")
	tokenFile := flag.String("token-file", "", "file holding the Authorization token (TCP)")
	path := flag.String("path", "/v1/credentials", "request path")
	conc := flag.Int("c", 64, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration")
	flag.Parse()

	if err := run(*socket, *url, *tokenFile, *path, *conc, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(socket, base, tokenFile, path string, conc int, dur time.Duration) error {
	client, target, err := newClient(socket, base, conc)
	if err != nil {
		return err
	}
	hdr := http.Header{}
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		hdr.Set("Authorization", string(tok))
	}

	lat, errs := load(client, target+path, hdr, conc, dur)
	report(lat, errs, dur)
	if len(lat) == 0 {
		return fmt.Errorf("no request succeeded (%d errors)", errs)
	}
	return nil
}

func newClient(socket, base string, conc int) (*http.Client, string, error) {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc}
	switch {
	case socket != "":
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
		return &http.Client{Transport: tr}, "http://edge-agent", nil
	case base != "":
		return &http.Client{Transport: tr}, base, nil
	default:
		return nil, "", fmt.Errorf("give -unix or -url")
	}
}

// load runs conc workers for dur and returns every successful latency and
// the count of failures.
func load(c *http.Client, url string, hdr http.Header, conc int, dur time.Duration) ([]time.Duration, int) {
	deadline := time.Now().Add(dur)
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				if d, ok := one(c, url, hdr); ok {
					mine = append(mine, d)
				} else {
					bad++
				}
			}
			mu.Lock()
			all, errs = append(all, mine...), errs+bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs
}

func one(c *http.Client, url string, hdr http.Header) (time.Duration, bool) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = hdr
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == http.StatusOK
}

func report(lat []time.Duration, errs int, dur time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("requests %d  errors %d  req/s %.0f  p50 %s  p90 %s  p99 %s  max %s\n",
		len(lat), errs, float64(len(lat))/dur.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(1))
}
