package admin

import (
	"context"
	"strings"
	"testing"
)

func TestFleetCreateRefusesADifferentOutput(t *testing.T) {
	tests := []struct {
		name             string
		withoutSageMaker bool
		output           string
		want             string // "" means accepted
	}{
		{"sagemaker, other prefix", false, "s3://" + testBucket + "/other",
			"fleet fleet-a already has output s3://" + testBucket + "/output, not s3://" + testBucket + "/other"},
		{"sagemaker, other bucket", false, "s3://other-bucket/output", "re-run with --output s3://" + testBucket + "/output"},
		{"sagemaker, same output", false, "s3://" + testBucket + "/output/", ""},
		{"iot only, other prefix", true, "s3://" + testBucket + "/other", "already has output s3://" + testBucket + "/output"},
		{"iot only, no output", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			e.createFleet(t, FleetCreateOptions{WithoutSageMaker: tt.withoutSageMaker})
			before := e.dump(t)

			_, err := e.admin.CreateFleet(context.Background(), FleetCreateOptions{Fleet: testFleet, CreateRole: true,
				WithoutSageMaker: tt.withoutSageMaker, Output: tt.output})

			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if after := e.dump(t); after != before {
				t.Errorf("the account changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
