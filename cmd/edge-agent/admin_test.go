//go:build !noadmin

package main

import (
	"bytes"
	"context"
	"os"
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
	return sb, []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--iot-rate", "1000", "--sagemaker-rate", "1000"}
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

func TestAdminNamesTheRepair(t *testing.T) {
	sb, common := adminSandbox(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, sb.CA, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		t.Helper()
		return runCLISplit(t, append(args, common...)...)
	}
	if _, _, err := run("admin", "fleet", "create", "--fleet", "f1", "--create-role", "--output", "s3://"+adminTestBucket+"/f1"); err != nil {
		t.Fatalf("fleet create: %v", err)
	}
	provision := []string{"admin", "device", "provision", "--fleet", "f1", "--device", "d1", "--root-ca", caFile}
	if _, _, err := run(provision...); err != nil {
		t.Fatalf("provision: %v", err)
	}

	t.Run("provision re-run", func(t *testing.T) {
		stdout, _, err := run(provision...)

		want := "nothing to do: already provisioned according to the local state; add --recheck"
		if err != nil || !strings.Contains(stdout, want) {
			t.Errorf("got (%q, %v), want %q", stdout, err, want)
		}
	})
	t.Run("verify with a condition missing", func(t *testing.T) {
		sb.State.Do(func(s *sandbox.State) {
			for _, c := range s.Certificates {
				c.Policies = nil
			}
		})

		_, _, err := run("admin", "device", "verify", "--fleet", "f1", "--device", "d1")

		want := "; re-run `edge-agent admin device provision --fleet f1 --device d1 --recheck` to repair it"
		if err == nil || !strings.Contains(err.Error(), "missing policy attached to certificate") || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("got %v, want the missing policy and %q", err, want)
		}
	})
	t.Run("the repair works", func(t *testing.T) {
		if _, _, err := run(append(provision, "--recheck")...); err != nil {
			t.Fatalf("provision --recheck: %v", err)
		}

		stdout, _, err := run("admin", "device", "verify", "--fleet", "f1", "--device", "d1")

		if err != nil || !strings.HasPrefix(stdout, "ok: device d1") {
			t.Errorf("got (%q, %v), want ok", stdout, err)
		}
	})
}

func TestAdminTeardownSaysWhatWasNotFound(t *testing.T) {
	_, common := adminSandbox(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fleet delete", []string{"admin", "fleet", "delete", "--fleet", "typo"}, "fleet typo not found (nothing to remove)\n"},
		{"device deprovision", []string{"admin", "device", "deprovision", "--fleet", "typo", "--device", "d1"},
			"device d1 not found in fleet typo (nothing to remove)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCLISplit(t, append(tt.args, common...)...)

			if err != nil || stdout != tt.want {
				t.Errorf("got (%q, %v), want (%q, nil)", stdout, err, tt.want)
			}
		})
	}
}
