package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDryRunsCallNoWriteAndListTheWork(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	ctx := context.Background()
	if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1")); err != nil {
		t.Fatal(err)
	}
	e.killAfterCreate()
	if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-2")); !errors.Is(err, errKilled) {
		t.Fatalf("killed provision: got %v, want %v", err, errKilled)
	}
	before, calls := e.dump(t), e.cp.Stats().Total("iot")+e.cp.Stats().Total("sagemaker")

	bulk, err := e.admin.ProvisionFleet(ctx, BulkOptions{Fleet: testFleet, DryRun: true,
		Manifest: []ManifestEntry{{Device: "dev-1"}, {Device: "dev-2"}, {Device: "dev-3"}}})
	if err != nil {
		t.Fatalf("fleet provision --dry-run: %v", err)
	}
	if got := e.cp.Stats().Total("iot") + e.cp.Stats().Total("sagemaker"); got != calls {
		t.Errorf("fleet provision --dry-run: got %d calls, want none", got-calls)
	}
	dep, err := e.admin.DeprovisionDevice(ctx, DeprovisionOptions{Fleet: testFleet, Device: "dev-1", DryRun: true})
	if err != nil {
		t.Fatalf("device deprovision --dry-run: %v", err)
	}
	del, err := e.admin.DeleteFleet(ctx, FleetDeleteOptions{Fleet: testFleet, DryRun: true})
	if err != nil {
		t.Fatalf("fleet delete --dry-run: %v", err)
	}
	if got := e.dump(t); got != before {
		t.Errorf("the dry runs changed the account:\n got %s\nwant %s", got, before)
	}

	tests := []struct {
		name string
		plan []string
		want []string
	}{
		{"fleet provision", bulk.Plan, []string{"dev-1: done (local state)",
			"dev-2: to do: certificate, fleet-policy, attach-policy, attach-thing-principal, credentials-endpoint, upload (the certificate an interrupted run requested",
			"dev-3: to do: thing-type, thing, register-device, certificate"}},
		{"device deprovision", dep.Plan, []string{"delete certificate ", "delete thing dev-1", "deregister device dev-1",
			"delete 4 objects under s3://" + testBucket + "/authorization-files/dev-1/", "remove local state "}},
		{"fleet delete", del.Plan, []string{"delete thing dev-1", "delete thing dev-2", "delete policy " + PolicyName(testFleet),
			"delete SageMaker device fleet " + testFleet, "delete role alias " + RoleAliasName(testFleet), "delete IAM role "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Join(tt.plan, "\n")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("plan: got\n%s\nwant a line with %q", text, w)
				}
			}
		})
	}
	if got := strings.Count(strings.Join(del.Plan, "\n"), "delete certificate "); got != 2 {
		t.Errorf("fleet delete plan: got %d certificates, want 2 (dev-2's unrecorded one included)\n%s", got, strings.Join(del.Plan, "\n"))
	}

	if _, err := e.admin.DeleteFleet(ctx, FleetDeleteOptions{Fleet: testFleet}); err != nil {
		t.Fatalf("fleet delete: %v", err)
	}
	if total, _ := e.certificates(t); total != 0 {
		t.Errorf("after fleet delete: got %d certificates, want 0", total)
	}
}
