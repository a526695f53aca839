package credprovider

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// fakeFetcher counts calls and answers with fn. When gate is set, each call
// waits for it to be closed first.
type fakeFetcher struct {
	calls atomic.Int64
	gate  chan struct{}

	mu sync.Mutex
	fn func(n int64) (Result, error)
}

func (f *fakeFetcher) Fetch(ctx context.Context) (Result, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}

	f.mu.Lock()
	fn := f.fn
	f.mu.Unlock()

	return fn(n)
}

func (f *fakeFetcher) set(fn func(n int64) (Result, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn = fn
}

// issuing returns a fetcher answer with credentials valid for lifetime from
// clk's now, with a matching Date header.
func issuing(clk Clock, lifetime time.Duration) func(int64) (Result, error) {
	return func(int64) (Result, error) {
		now := clk.Now()
		return Result{Credentials: testCreds(now.Add(lifetime)), ServerDate: now}, nil
	}
}

func failing(err error) func(int64) (Result, error) {
	return func(int64) (Result, error) { return Result{}, err }
}

var (
	err403 = &Error{Class: ClassConfiguration, StatusCode: 403, Message: "Access Denied"}
	err503 = &Error{Class: ClassTransient, StatusCode: 503, Message: "Service Unavailable"}
)

// newFakeClock returns a manual clock: time moves only on Advance, which
// fires the After channels that come due.
func newFakeClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 8, 12, 10, 0, 0, 0, time.UTC))
}

// advance moves a synctest bubble's clock by d and lets every goroutine
// settle. It waits on a timer, which inside a bubble takes no real time.
func advance(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
	synctest.Wait()
}

// runCache starts c.Run in the bubble and returns a stop function that ends
// it and waits for it.
func runCache(t *testing.T, c *Cache) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	synctest.Wait()

	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	}
}

// newLogBuffer returns a zap logger that writes JSON lines to a buffer, at
// debug level, so that tests can search everything that was logged.
func newLogBuffer() (*testenv.Buffer, *zap.Logger) {
	b := &testenv.Buffer{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())

	return b, zap.New(zapcore.NewCore(enc, zapcore.AddSync(b), zapcore.DebugLevel))
}

func fixedRand(r float64) func() float64 { return func() float64 { return r } }
