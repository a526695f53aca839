package admin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyWithoutFleetFindsIt(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	ctx := context.Background()
	if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1")); err != nil {
		t.Fatal(err)
	}
	fresh := newAdmin(t, filepath.Join(t.TempDir(), "fresh-state"), Limits{})

	tests := []struct {
		name    string
		admin   *Admin
		device  string
		wantErr string
	}{
		{name: "from the local state", admin: e.admin, device: "dev-1"},
		{name: "from the thing's attribute", admin: fresh, device: "dev-1"},
		{name: "unknown device", admin: fresh, device: "dev-2", wantErr: "pass --fleet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.admin.VerifyDevice(ctx, VerifyOptions{Device: tt.device})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("verify: got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if res.Fleet != testFleet || !res.OK {
				t.Errorf("verify: got fleet %q ok=%v (%s), want %q ok", res.Fleet, res.OK, res.CredentialsError, testFleet)
			}
		})
	}
}
