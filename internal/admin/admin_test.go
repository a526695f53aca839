package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/sandbox"
)

func TestProvisionDeviceRunsTheGuidesSteps(t *testing.T) {
	e := newEnv(t, Limits{})
	ctx := context.Background()
	fleet := e.createFleet(t, FleetCreateOptions{})
	if got, want := fleet.RoleAlias, "SageMakerEdge-"+testFleet; got != want {
		t.Errorf("role alias: got %q, want %q", got, want)
	}
	if !fleet.SageMaker {
		t.Errorf("fleet: got SageMaker false, want true")
	}

	res, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1"))
	if err != nil {
		t.Fatalf("ProvisionDevice: %v", err)
	}
	if got, want := res.Endpoint, e.sb.CredentialsEndpoint; got != want {
		t.Errorf("endpoint: got %q, want %q", got, want)
	}
	for _, call := range []string{"iot:CreateThing", "sagemaker:RegisterDevices", "iot:CreateCertificateFromCsr",
		"iot:CreatePolicy", "iot:AttachPolicy", "iot:AttachThingPrincipal", "iot:DescribeEndpoint"} {
		if got := e.cp.Stats().Calls(call); got != 1 {
			t.Errorf("%s: got %d calls, want 1", call, got)
		}
	}

	prefix := AuthorizationPrefix("dev-1")
	for _, name := range []string{"device.pem.crt", "private.pem.key", "AmazonRootCA1.pem", "edge-agent.yaml"} {
		head, err := e.sb.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(prefix + name)})
		if err != nil {
			t.Errorf("head %s: %v", name, err)
			continue
		}
		_ = head
	}
	if got, want := string(e.object(t, prefix+"AmazonRootCA1.pem")), string(e.sb.CA); got != want {
		t.Errorf("uploaded CA is not the sandbox CA")
	}
	cfg, err := config.Parse(e.object(t, prefix+ConfigFile), ConfigFile)
	if err != nil {
		t.Fatalf("parse uploaded config: %v", err)
	}
	if cfg.ThingName != "dev-1" || cfg.RoleAlias != fleet.RoleAlias || cfg.CredentialEndpoint != e.sb.CredentialsEndpoint || !cfg.AllowCustomEndpoint {
		t.Errorf("uploaded config: got %+v", cfg)
	}

	checkPrivate(t, e.admin.state.deviceDir(testFleet, "dev-1"))

	v, err := e.admin.VerifyDevice(ctx, VerifyOptions{Fleet: testFleet, Device: "dev-1"})
	if err != nil {
		t.Fatalf("VerifyDevice: %v", err)
	}
	if !v.OK || len(v.Missing) != 0 {
		t.Errorf("verify: got ok=%v missing=%v (%s), want ok", v.OK, v.Missing, v.CredentialsError)
	}
}

// checkPrivate fails when a state file is wider than 0600 or a folder
// wider than 0700.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		limit := os.FileMode(stateFileMode)
		if fi.IsDir() {
			limit = stateDirMode
		}
		if fi.Mode().Perm()&^limit != 0 {
			t.Errorf("%s: mode %v, want at most %v", path, fi.Mode().Perm(), limit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRerunOfAFinishedProvisionChangesNothing(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	ctx := context.Background()
	if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1")); err != nil {
		t.Fatal(err)
	}
	before := e.dump(t)

	for _, recheck := range []bool{false, true} {
		o := e.deviceOptions("dev-1")
		o.Recheck = recheck
		res, err := e.admin.ProvisionDevice(ctx, o)
		if err != nil {
			t.Fatalf("re-run (recheck %v): %v", recheck, err)
		}
		if len(res.Actions) != 0 {
			t.Errorf("re-run (recheck %v): got actions %v, want none", recheck, res.Actions)
		}
		if got := e.dump(t); got != before {
			t.Errorf("re-run (recheck %v) changed the account:\n got %s\nwant %s", recheck, got, before)
		}
	}
	if again := e.createFleet(t, FleetCreateOptions{}); len(again.Actions) != 0 {
		t.Errorf("fleet create re-run: got actions %v, want none", again.Actions)
	}
}

// cleanDump provisions one device in a fresh sandbox and returns the dump.
func cleanDump(t *testing.T, thingType string) string {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	o := e.deviceOptions("dev-1")
	o.ThingType = thingType
	if _, err := e.admin.ProvisionDevice(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return e.dump(t)
}

func TestFailureAtEachStepThenRerunEndsAsACleanRun(t *testing.T) {
	want := cleanDump(t, "sensor")
	// Calls of fleet create, whose fault comes before the fleet exists.
	fleetCalls := []string{"s3:HeadBucket", "iam:GetRole", "iam:CreateRole", "iam:ListAttachedRolePolicies",
		"iam:AttachRolePolicy", "sagemaker:DescribeDeviceFleet", "sagemaker:CreateDeviceFleet",
		"iot:DescribeRoleAlias", "iot:TagResource"}
	deviceCalls := []string{"iot:DescribeRoleAlias", "iot:DescribeThingType", "iot:CreateThingType", "iot:CreateThing",
		"sagemaker:RegisterDevices", "iot:ListThingPrincipals", "iot:CreateCertificateFromCsr", "iot:GetPolicy",
		"iot:CreatePolicy", "iot:AttachPolicy", "iot:AttachThingPrincipal", "iot:DescribeEndpoint", "s3:PutObject"}
	type tc struct {
		call  string
		fleet bool
	}
	var tests []tc
	for _, c := range fleetCalls {
		tests = append(tests, tc{c, true})
	}
	for _, c := range deviceCalls {
		tests = append(tests, tc{c, false})
	}
	for _, tt := range tests {
		name := "device/" + tt.call
		if tt.fleet {
			name = "fleet/" + tt.call
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			o := e.deviceOptions("dev-1")
			o.ThingType = "sensor"
			f := faultAt(tt.call)
			if tt.fleet && strings.HasPrefix(tt.call, "sagemaker:") {
				// A 4xx from SageMaker's fleet calls is a refusal that fleet
				// create answers by going without SageMaker; a failure is a
				// 5xx the SDK's three attempts all get.
				f = sandbox.CallFault{Code: "InternalFailure", Times: 3}
			}
			inject := func() { e.cp.InjectFault(tt.call, f) }

			if tt.fleet {
				inject()
				if _, err := e.admin.CreateFleet(context.Background(), FleetCreateOptions{Fleet: testFleet,
					Output: "s3://" + testBucket + "/output", CreateRole: true}); err == nil {
					t.Fatalf("fleet create with a fault at %s: got no error", tt.call)
				}
				e.createFleet(t, FleetCreateOptions{})
			} else {
				e.createFleet(t, FleetCreateOptions{})
				inject()
				if _, err := e.admin.ProvisionDevice(context.Background(), o); err == nil {
					t.Fatalf("provision with a fault at %s: got no error", tt.call)
				}
			}
			if _, err := e.admin.ProvisionDevice(context.Background(), o); err != nil {
				t.Fatalf("re-run: %v", err)
			}
			if got := e.dump(t); got != want {
				t.Errorf("after a fault at %s and a re-run:\n got %s\nwant %s", tt.call, got, want)
			}
		})
	}
}

// faultAt returns a fault the SDK does not retry, in the terms of call's
// service.
func faultAt(call string) sandbox.CallFault {
	switch service, _, _ := strings.Cut(call, ":"); service {
	case "sagemaker":
		return sandbox.CallFault{Code: "ValidationException", Times: 1}
	case "iam":
		return sandbox.CallFault{Code: "InvalidInput", Times: 1}
	case "s3":
		return sandbox.CallFault{Code: "AccessDenied", Times: 1}
	}
	return sandbox.CallFault{Code: "InvalidRequestException", Times: 1}
}

func TestVerifyNamesTheMissingCondition(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		brk   func(t *testing.T, e *env, res DeviceResult)
		wantM string
	}{
		{"certificate inactive", func(t *testing.T, e *env, res DeviceResult) {
			if err := e.sb.SetCertificateStatus(res.CertificateID, "INACTIVE"); err != nil {
				t.Fatal(err)
			}
		}, CondCertificateActive},
		{"policy not attached", func(t *testing.T, e *env, res DeviceResult) {
			e.sb.State.Do(func(s *sandbox.State) { s.Certificates[res.CertificateID].Policies = nil })
		}, CondPolicyAttached},
		{"policy lacks the action", func(t *testing.T, e *env, res DeviceResult) {
			e.sb.State.Do(func(s *sandbox.State) {
				s.Policies[PolicyName(testFleet)].Document = `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
			})
		}, CondPolicyAllows},
		{"thing not attached", func(t *testing.T, e *env, res DeviceResult) {
			e.sb.State.Do(func(s *sandbox.State) { s.Certificates[res.CertificateID].Things = nil })
		}, CondThingAttached},
		{"wrong endpoint", func(t *testing.T, e *env, res DeviceResult) {
			cfg := AgentConfig("dev-1", res.RoleAlias, "127.0.0.1:1", e.sb.Region)
			_, err := e.sb.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket),
				Key: aws.String(AuthorizationPrefix("dev-1") + ConfigFile), Body: strings.NewReader(string(cfg))})
			if err != nil {
				t.Fatal(err)
			}
		}, CondEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			e.createFleet(t, FleetCreateOptions{})
			res, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1"))
			if err != nil {
				t.Fatal(err)
			}
			tt.brk(t, e, res)

			v, err := e.admin.VerifyDevice(ctx, VerifyOptions{Fleet: testFleet, Device: "dev-1"})
			if err != nil {
				t.Fatalf("VerifyDevice: %v", err)
			}
			if v.OK {
				t.Errorf("verify: got ok, want a failure")
			}
			if !slices.Contains(v.Missing, tt.wantM) {
				t.Errorf("missing: got %v, want %q (credentials error %q)", v.Missing, tt.wantM, v.CredentialsError)
			}
		})
	}
}

func TestTeardownLeavesNothingBehind(t *testing.T) {
	e := newEnv(t, Limits{})
	ctx := context.Background()
	empty := e.dump(t)
	e.createFleet(t, FleetCreateOptions{})
	for _, d := range []string{"dev-1", "dev-2", "dev-3"} {
		if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions(d)); err != nil {
			t.Fatal(err)
		}
	}

	for range 2 {
		res, err := e.admin.DeprovisionDevice(ctx, DeprovisionOptions{Fleet: testFleet, Device: "dev-1"})
		if err != nil {
			t.Fatalf("DeprovisionDevice: %v", err)
		}
		_ = res
	}
	if _, err := os.Stat(e.admin.state.deviceDir(testFleet, "dev-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local state of dev-1: got %v, want removed", err)
	}

	// dev-3 has lost its local state: fleet delete still finds it.
	if err := e.admin.state.removeDevice(testFleet, "dev-3"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.admin.DeleteFleet(ctx, FleetDeleteOptions{Fleet: testFleet}); err != nil {
			t.Fatalf("DeleteFleet: %v", err)
		}
	}
	if got := e.dump(t); got != empty {
		t.Errorf("after fleet delete:\n got %s\nwant %s", got, empty)
	}
}

func TestFleetWithoutSageMaker(t *testing.T) {
	tests := []struct {
		name   string
		opts   FleetCreateOptions
		refuse bool
	}{
		{"--without-sagemaker", FleetCreateOptions{WithoutSageMaker: true, CredentialDuration: 900}, false},
		{"sagemaker refuses", FleetCreateOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			if tt.refuse {
				e.cp.InjectFault("sagemaker:CreateDeviceFleet", sandbox.CallFault{Code: "ValidationException",
					Message: "SageMaker Edge Manager is not available"})
			}
			fleet := e.createFleet(t, tt.opts)
			if fleet.SageMaker {
				t.Errorf("fleet: got SageMaker true, want false")
			}
			if tt.refuse && len(fleet.Notes) == 0 {
				t.Errorf("fleet: got no note about the SageMaker refusal")
			}
			if _, err := e.admin.ProvisionDevice(context.Background(), e.deviceOptions("dev-1")); err != nil {
				t.Fatal(err)
			}
			if got := e.cp.Stats().Calls("sagemaker:RegisterDevices"); got != 0 {
				t.Errorf("RegisterDevices: got %d calls, want 0", got)
			}
			v, err := e.admin.VerifyDevice(context.Background(), VerifyOptions{Fleet: testFleet, Device: "dev-1"})
			if err != nil || !v.OK {
				t.Errorf("verify: got %+v, %v; want ok", v, err)
			}
		})
	}
}

func TestCSRKeepsTheKeyOnTheDevice(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	o := e.deviceOptions("dev-1")
	o.CSR = testCSR(t)
	if _, err := e.admin.ProvisionDevice(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if e.cp.Stats().Calls("iot:CreateCertificateFromCsr") != 1 || e.cp.Stats().Calls("iot:CreateKeysAndCertificate") != 0 {
		t.Errorf("certificate calls: want one CreateCertificateFromCsr and no CreateKeysAndCertificate")
	}
	if _, err := e.admin.state.read(testFleet, "dev-1", keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local key: got %v, want none", err)
	}
	_, err := e.sb.S3Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(testBucket),
		Key: aws.String(AuthorizationPrefix("dev-1") + "private.pem.key")})
	if err == nil {
		t.Errorf("private.pem.key was uploaded in the CSR flow")
	}
}

// principals returns the certificates attached to thing in the sandbox.
func (e *env) principals(t *testing.T, thing string) int {
	t.Helper()
	n := 0
	e.sb.State.Do(func(s *sandbox.State) {
		for _, c := range s.Certificates {
			if slices.Contains(c.Things, thing) {
				n++
			}
		}
	})
	return n
}

func TestProvisionWithLostStateReusesTheAttachedCertificate(t *testing.T) {
	want := cleanDump(t, "")
	tests := []struct {
		name string
		// lose removes what the operator lost besides the state folder.
		lose    func(t *testing.T, e *env)
		wantErr string
	}{
		{name: "files in S3", lose: func(*testing.T, *env) {}},
		{name: "key lost everywhere", wantErr: "deprovision", lose: func(t *testing.T, e *env) {
			_, err := e.sb.S3Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{
				Bucket: aws.String(testBucket), Key: aws.String(AuthorizationPrefix("dev-1") + "private.pem.key")})
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			e.createFleet(t, FleetCreateOptions{})
			ctx := context.Background()
			if _, err := e.admin.ProvisionDevice(ctx, e.deviceOptions("dev-1")); err != nil {
				t.Fatal(err)
			}
			tt.lose(t, e)
			fresh := newAdmin(t, filepath.Join(t.TempDir(), "fresh-state"), Limits{})

			_, err := fresh.ProvisionDevice(ctx, e.deviceOptions("dev-1"))
			if got := e.principals(t, "dev-1"); got != 1 {
				t.Errorf("thing dev-1: got %d certificates attached, want 1", got)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "certificate attached") {
					t.Fatalf("provision with the key lost: got %v, want an error saying a certificate is attached and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("provision with a fresh state folder: %v", err)
			}
			if got := e.dump(t); got != want {
				t.Errorf("after a provision with a fresh state folder:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestFleetProvisionWithLostStateKeepsOneCertificatePerThing(t *testing.T) {
	e := newEnv(t, Limits{})
	e.createFleet(t, FleetCreateOptions{})
	const n = 5
	manifest := make([]ManifestEntry, n)
	for i := range manifest {
		manifest[i] = ManifestEntry{Device: fmt.Sprintf("dev-%d", i)}
	}
	opts := BulkOptions{Fleet: testFleet, Manifest: manifest, RootCA: e.sb.CA}
	if _, err := e.admin.ProvisionFleet(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	before := e.dump(t)

	fresh := newAdmin(t, filepath.Join(t.TempDir(), "fresh-state"), Limits{})
	if _, err := fresh.ProvisionFleet(context.Background(), opts); err != nil {
		t.Fatalf("fleet provision with a fresh state folder: %v", err)
	}
	checkOneCertificatePerThing(t, e, n)
	if got := e.dump(t); got != before {
		t.Errorf("fleet provision with a fresh state folder changed the account:\n got %s\nwant %s", got, before)
	}
}
