package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// errKilled stands for a kill of admin between CreateCertificateFromCsr's
// answer and its record in the local state.
var errKilled = errors.New("killed after the certificate was created")

// certificates returns the sandbox's certificates: in all, and those
// attached to no thing.
func (e *env) certificates(t *testing.T) (total, orphans int) {
	t.Helper()
	e.sb.State.Do(func(s *sandbox.State) {
		for _, c := range s.Certificates {
			total++
			if len(c.Things) == 0 {
				orphans++
			}
		}
	})
	return total, orphans
}

// killAfterCreate makes the next CreateCertificateFromCsr answer be lost.
func (e *env) killAfterCreate() {
	e.admin.afterCreateCertificate = func(string) error {
		e.admin.afterCreateCertificate = nil
		return errKilled
	}
}

func TestKillBetweenCertificateAnswerAndRecordLeavesNoOrphan(t *testing.T) {
	first, second := testCSR(t), testCSR(t)
	tests := []struct {
		name string
		// csr is the device's CSR of the killed run and of the re-run.
		csr, rerunCSR []byte
		// wantCreates is how many certificates IoT makes in all.
		wantCreates int
	}{
		{name: "key made by admin", wantCreates: 1},
		{name: "device csr", csr: first, rerunCSR: first, wantCreates: 1},
		{name: "device sends a new csr", csr: first, rerunCSR: second, wantCreates: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			e.createFleet(t, FleetCreateOptions{})
			ctx := context.Background()
			o := e.deviceOptions("dev-1")
			o.CSR = tt.csr

			e.killAfterCreate()
			if _, err := e.admin.ProvisionDevice(ctx, o); !errors.Is(err, errKilled) {
				t.Fatalf("killed provision: got %v, want %v", err, errKilled)
			}
			if total, orphans := e.certificates(t); total != 1 || orphans != 1 {
				t.Fatalf("after the kill: got %d certificates (%d unattached), want the 1 whose answer was lost", total, orphans)
			}
			state, err := os.ReadFile(filepath.Join(e.admin.state.deviceDir(testFleet, "dev-1"), stateFile))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(state), "certificate_request") || strings.Contains(string(state), "PRIVATE KEY") {
				t.Errorf("state after the kill: got %s, want a recorded request and no key", state)
			}

			o.CSR = tt.rerunCSR
			if _, err := e.admin.ProvisionDevice(ctx, o); err != nil {
				t.Fatalf("re-run after the kill: %v", err)
			}
			if total, orphans := e.certificates(t); total != 1 || orphans != 0 {
				t.Errorf("after the re-run: got %d certificates (%d unattached), want 1 attached", total, orphans)
			}
			if got := e.principals(t, "dev-1"); got != 1 {
				t.Errorf("thing dev-1: got %d certificates, want 1", got)
			}
			if got := e.cp.Stats().Calls("iot:CreateCertificateFromCsr"); got != tt.wantCreates {
				t.Errorf("CreateCertificateFromCsr: got %d calls, want %d", got, tt.wantCreates)
			}
			checkPrivate(t, e.admin.state.deviceDir(testFleet, "dev-1"))
			if tt.csr != nil {
				return
			}
			v, err := e.admin.VerifyDevice(ctx, VerifyOptions{Fleet: testFleet, Device: "dev-1"})
			if err != nil || !v.OK {
				t.Errorf("verify after the re-run: got ok=%v, %v (%s), want ok", v.OK, err, v.CredentialsError)
			}
		})
	}
}

func TestKilledRunEndsLikeACleanRun(t *testing.T) {
	want := cleanDump(t, "")
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	e.killAfterCreate()
	if _, err := e.admin.ProvisionDevice(context.Background(), e.deviceOptions("dev-1")); !errors.Is(err, errKilled) {
		t.Fatalf("killed provision: got %v, want %v", err, errKilled)
	}
	if _, err := e.admin.ProvisionDevice(context.Background(), e.deviceOptions("dev-1")); err != nil {
		t.Fatalf("re-run after the kill: %v", err)
	}
	if got := e.dump(t); got != want {
		t.Errorf("after a kill and a re-run:\n got %s\nwant %s", got, want)
	}
}

func TestDeprovisionAfterAKillDeletesTheUnrecordedCertificate(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	ctx := context.Background()
	e.killAfterCreate()
	if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1")); !errors.Is(err, errKilled) {
		t.Fatalf("killed provision: got %v, want %v", err, errKilled)
	}
	if _, err := e.admin.DeprovisionDevice(ctx, DeprovisionOptions{Fleet: testFleet, Device: "dev-1"}); err != nil {
		t.Fatalf("deprovision: %v", err)
	}
	if total, _ := e.certificates(t); total != 0 {
		t.Errorf("after deprovision: got %d certificates, want 0", total)
	}
}
