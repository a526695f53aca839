package e2e

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/bootstrap"
	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// TestBootstrapVerify checks that --verify makes one real credentials call
// before installing, and that a refused call installs nothing.
func TestBootstrapVerify(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		fault   sandbox.FaultMode
		wantErr string
	}{
		{"accepted", sandbox.FaultNone, ""},
		{"policy refuses", "403", "Access Denied"},
		{"unknown role alias", "404", "Role alias does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.sb.SetFaults(sandbox.Faults{Mode: tc.fault}); err != nil {
				t.Fatalf("set faults: %v", err)
			}
			dir := filepath.Join(t.TempDir(), "identity")
			src, err := bootstrap.NewS3Source(ctx, bootstrap.S3Options{
				Bucket: bucket, Prefix: prefix, Region: h.sb.Region, EndpointURL: h.sb.S3URL,
			})
			if err != nil {
				t.Fatalf("s3 source: %v", err)
			}
			res, err := bootstrap.Run(ctx, bootstrap.Options{
				Source: src, IdentityDir: dir, ConfigPath: filepath.Join(t.TempDir(), "config.yaml"),
				Now: h.clock.Now, Verify: bootstrap.VerifyCredentials,
			})

			if tc.wantErr == "" {
				if err != nil || !res.Verified {
					t.Fatalf("got verified=%v err=%v, want verified", res.Verified, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
			if _, err := certstore.Load(dir, h.clock.Now()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after a refused verify: load got %v, want no identity installed", err)
			}
		})
	}
	h.assertNoSecrets()
}
