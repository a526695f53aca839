//go:build !noadmin

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/sandbox"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

const adminTestBucket = "edge-fleet-files"

// adminSandbox starts a sandbox and points the SDK's standard chain at it,
// as an operator's environment would; it returns the sandbox and the
// flags every admin command of the test takes.
func adminSandbox(t *testing.T) (*sandbox.Sandbox, []string) {
	t.Helper()
	testenv.ClearAWS(t)
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": sandbox.AdminAccessKeyID, "AWS_SECRET_ACCESS_KEY": sandbox.AdminSecretAccessKey,
		"AWS_REGION": sb.Region, "AWS_ENDPOINT_URL_IOT": sb.ControlURL,
		"AWS_ENDPOINT_URL_SAGEMAKER": sb.ControlURL, "AWS_ENDPOINT_URL_IAM": sb.ControlURL,
		"AWS_ENDPOINT_URL_S3": sb.S3URL,
	} {
		t.Setenv(k, v)
	}
	if err := sb.CreateBucket(context.Background(), adminTestBucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return sb, []string{"--state-dir", filepath.Join(t.TempDir(), "state")}
}

// runCLISplit runs the command and returns its stdout and stderr apart.
func runCLISplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestAdminPrintsNothingOnStdoutOnError(t *testing.T) {
	sb, common := adminSandbox(t)
	tests := []struct {
		name       string
		fault      string // control-plane call that fails, if any
		args       []string
		wantErr    string
		wantStderr string
	}{
		{"provision in a missing fleet", "", []string{"admin", "device", "provision", "--fleet", "nofleet", "--device", "d1"},
			"fleet nofleet: role alias SageMakerEdge-nofleet does not exist", ""},
		{"provision in a missing fleet, json", "", []string{"admin", "device", "provision", "--fleet", "nofleet", "--device", "d1", "--json"},
			"fleet nofleet", ""},
		{"fleet create fails halfway", "iot:TagResource", []string{"admin", "fleet", "create", "--fleet", "f9", "--create-role",
			"--output", "s3://" + adminTestBucket + "/f9"}, "tag role alias", "done before the error: created SageMaker device fleet f9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != "" {
				sb.ControlPlane().InjectFault(tt.fault, sandbox.CallFault{Code: "InvalidRequestException"})
				t.Cleanup(sb.ControlPlane().ClearFaults)
			}

			stdout, stderr, err := runCLISplit(t, append(tt.args, common...)...)

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing on error", stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
