package admin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

func TestRegionIsCheckedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag", "mars-1", "", `region "mars-1": must be an AWS region such as eu-west-1`},
		{"environment", "", "mars-1", `region "mars-1" (from AWS_REGION or the profile): must be an AWS region`},
		{"good", "us-gov-west-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.ClearAWS(t)
			if tt.env != "" {
				t.Setenv("AWS_REGION", tt.env)
			}

			_, err := New(context.Background(), Options{Region: tt.flag, StateDir: filepath.Join(t.TempDir(), "state")})

			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want it accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFleetCreateRefusesARoleOfAnotherPartition(t *testing.T) {
	e := newEnv(t, Limits{})

	_, err := e.admin.CreateFleet(context.Background(), FleetCreateOptions{Fleet: testFleet,
		RoleARN: "arn:aws-us-gov:iam::123456789012:role/EdgeFleet", Output: "s3://" + testBucket + "/out"})

	want := "is in partition aws-us-gov, but region us-east-1 is in partition aws"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if got := e.cp.Stats().Names(); len(got) != 0 {
		t.Errorf("got control-plane calls %v, want none", got)
	}
}
