package e2e

import (
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/sandbox"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

// TestWatchdogSeesAStuckLoop hangs a refresh at the credentials provider and
// moves the clock on: the agent must stop reporting itself healthy, so that
// the systemd watchdog restarts it, while a loop that keeps going round stays
// healthy however long it idles.
func TestWatchdogSeesAStuckLoop(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start()
	waitReady(t, a.Ready())
	if !a.Healthy() {
		t.Fatal("a fresh agent reports itself unhealthy")
	}

	for range 10 { // ten idle minutes, the loop going round each one
		waitTimers(t, h.clock)
		h.clock.Advance(time.Minute)
	}
	waitTimers(t, h.clock)
	if !a.Healthy() {
		t.Fatal("an idle agent reports itself unhealthy")
	}

	if err := h.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultSlow, Delay: time.Hour}); err != nil {
		t.Fatalf("set faults: %v", err)
	}
	h.clock.Advance(25 * time.Minute) // past the refresh time: the call hangs
	testenv.Eventually(t, 10*time.Second, "no refresh started", func() bool {
		return h.sb.CredentialCalls() == 2
	})
	h.clock.Advance(4 * time.Minute)
	if a.Healthy() {
		t.Error("an agent whose refresh loop is stuck reports itself healthy")
	}
}
