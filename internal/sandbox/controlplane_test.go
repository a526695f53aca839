package sandbox

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/edge-agent/edge-agent/internal/testenv"
)

// cpClients are the real SDK clients pointed at a sandbox's control plane.
type cpClients struct {
	iot *iot.Client
	sm  *sagemaker.Client
	iam *iam.Client
}

func newCPClients(t *testing.T, sb *Sandbox, attempts int) cpClients {
	t.Helper()
	testenv.ClearAWS(t)
	cfg := aws.Config{
		Region:       sb.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", ""),
		BaseEndpoint: aws.String(sb.ControlURL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts })
		},
	}
	return cpClients{iot: iot.NewFromConfig(cfg), sm: sagemaker.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg)}
}

// apiCode returns the AWS error code and HTTP status of err.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", 0
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func TestControlPlaneProvisionsADeviceTheCredentialsProviderAccepts(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	c := newCPClients(t, sb, 1)
	ctx := context.Background()

	ra, err := c.iot.CreateRoleAlias(ctx, &iot.CreateRoleAliasInput{RoleAlias: aws.String("a1"),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/r1"), CredentialDurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("CreateRoleAlias: %v", err)
	}
	if _, err := c.iot.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String("tt")}); err != nil {
		t.Fatalf("CreateThingType: %v", err)
	}
	if _, err := c.iot.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("t1"), ThingTypeName: aws.String("tt")}); err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	kc, err := c.iot.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	doc := PolicyDocument(*ra.RoleAliasArn)
	if _, err := c.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p1"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	if _, err := c.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("p1"), Target: kc.CertificateArn}); err != nil {
		t.Fatalf("AttachPolicy: %v", err)
	}
	if _, err := c.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String("t1"), Principal: kc.CertificateArn}); err != nil {
		t.Fatalf("AttachThingPrincipal: %v", err)
	}
	ep, err := c.iot.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:CredentialProvider")})
	if err != nil {
		t.Fatalf("DescribeEndpoint: %v", err)
	}
	if got, want := *ep.EndpointAddress, sb.CredentialsEndpoint; got != want {
		t.Errorf("credentials endpoint: got %q, want %q", got, want)
	}

	files := DeviceFiles{Cert: []byte(*kc.CertificatePem), Key: []byte(*kc.KeyPair.PrivateKey), CA: sb.CA}
	resp := mustGet(t, mtlsClient(t, files), *ep.EndpointAddress, "a1", "t1")
	if got, want := resp.status, http.StatusOK; got != want {
		t.Fatalf("credentials status: got %d, want %d (%s)", got, want, resp.body)
	}

	lp, err := c.iot.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: kc.CertificateArn})
	if err != nil || len(lp.Policies) != 1 || *lp.Policies[0].PolicyName != "p1" {
		t.Errorf("ListAttachedPolicies: got %+v, %v; want p1", lp, err)
	}
	pt, err := c.iot.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: kc.CertificateArn})
	if err != nil || len(pt.Things) != 1 || pt.Things[0] != "t1" {
		t.Errorf("ListPrincipalThings: got %+v, %v; want t1", pt, err)
	}
	tp, err := c.iot.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("t1")})
	if err != nil || len(tp.Principals) != 1 || tp.Principals[0] != *kc.CertificateArn {
		t.Errorf("ListThingPrincipals: got %+v, %v", tp, err)
	}
	dc, err := c.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: kc.CertificateId})
	if err != nil || dc.CertificateDescription.Status != iottypes.CertificateStatusActive {
		t.Errorf("DescribeCertificate: got %+v, %v; want ACTIVE", dc, err)
	}
}

func TestControlPlaneIoTErrors(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	c := newCPClients(t, sb, 1)
	ctx := context.Background()

	kc, err := c.iot.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	doc := PolicyDocument("arn:aws:iot:us-east-1:123456789012:rolealias/x")
	mustIoT(t, func() error {
		_, err := c.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
		return err
	})
	mustIoT(t, func() error {
		_, err := c.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("p"), Target: kc.CertificateArn})
		return err
	})

	tests := []struct {
		name       string
		call       func() error
		wantCode   string
		wantStatus int
	}{
		{"duplicate policy", func() error {
			_, err := c.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
			return err
		}, "ResourceAlreadyExistsException", 409},
		{"missing thing", func() error {
			_, err := c.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404},
		{"delete active certificate", func() error {
			_, err := c.iot.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: kc.CertificateId})
			return err
		}, "CertificateStateException", 406},
		{"delete attached policy", func() error {
			_, err := c.iot.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String("p")})
			return err
		}, "DeleteConflictException", 409},
		{"malformed policy", func() error {
			_, err := c.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("q"), PolicyDocument: aws.String("{")})
			return err
		}, "MalformedPolicyException", 400},
		{"duration out of range", func() error {
			_, err := c.iot.CreateRoleAlias(ctx, &iot.CreateRoleAliasInput{RoleAlias: aws.String("a"),
				RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), CredentialDurationSeconds: aws.Int32(60)})
			return err
		}, "InvalidRequestException", 400},
		{"missing role alias", func() error {
			_, err := c.iot.DeleteRoleAlias(ctx, &iot.DeleteRoleAliasInput{RoleAlias: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404},
		{"bad thing name", func() error {
			_, err := c.iot.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("a b")})
			return err
		}, "InvalidRequestException", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, status := apiCode(tt.call())
			if code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("got %s %d, want %s %d", code, status, tt.wantCode, tt.wantStatus)
			}
		})
	}
}

func mustIoT(t *testing.T, call func() error) {
	t.Helper()
	if err := call(); err != nil {
		t.Fatal(err)
	}
}

func TestControlPlaneSageMakerFleetBringsItsRoleAlias(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	c := newCPClients(t, sb, 1)
	ctx := context.Background()

	in := &sagemaker.CreateDeviceFleetInput{DeviceFleetName: aws.String("fleet-a"),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/r"),
		OutputConfig:       &smtypes.EdgeOutputConfig{S3OutputLocation: aws.String("s3://b/p")},
		EnableIotRoleAlias: aws.Bool(true)}
	if _, err := c.sm.CreateDeviceFleet(ctx, in); err != nil {
		t.Fatalf("CreateDeviceFleet: %v", err)
	}
	if code, _ := apiCode(func() error { _, err := c.sm.CreateDeviceFleet(ctx, in); return err }()); code != "ResourceInUse" {
		t.Errorf("duplicate fleet: got %q, want ResourceInUse", code)
	}
	df, err := c.sm.DescribeDeviceFleet(ctx, &sagemaker.DescribeDeviceFleetInput{DeviceFleetName: aws.String("fleet-a")})
	if err != nil {
		t.Fatalf("DescribeDeviceFleet: %v", err)
	}
	if got, want := aws.ToString(df.IotRoleAlias), "arn:aws:iot:us-east-1:123456789012:rolealias/SageMakerEdge-fleet-a"; got != want {
		t.Errorf("IotRoleAlias: got %q, want %q", got, want)
	}
	if _, err := c.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String("SageMakerEdge-fleet-a")}); err != nil {
		t.Errorf("DescribeRoleAlias of the fleet's alias: %v", err)
	}

	_, err = c.sm.RegisterDevices(ctx, &sagemaker.RegisterDevicesInput{DeviceFleetName: aws.String("fleet-a"),
		Devices: []smtypes.Device{{DeviceName: aws.String("d1"), IotThingName: aws.String("t1")}}})
	if err != nil {
		t.Fatalf("RegisterDevices: %v", err)
	}
	dd, err := c.sm.DescribeDevice(ctx, &sagemaker.DescribeDeviceInput{DeviceFleetName: aws.String("fleet-a"), DeviceName: aws.String("d1")})
	if err != nil || aws.ToString(dd.IotThingName) != "t1" {
		t.Errorf("DescribeDevice: got %+v, %v; want thing t1", dd, err)
	}
	ld, err := c.sm.ListDevices(ctx, &sagemaker.ListDevicesInput{DeviceFleetName: aws.String("fleet-a")})
	if err != nil || len(ld.DeviceSummaries) != 1 {
		t.Errorf("ListDevices: got %+v, %v; want one device", ld, err)
	}
	del := &sagemaker.DeleteDeviceFleetInput{DeviceFleetName: aws.String("fleet-a")}
	if code, _ := apiCode(func() error { _, err := c.sm.DeleteDeviceFleet(ctx, del); return err }()); code != "ResourceInUse" {
		t.Errorf("delete fleet with devices: got %q, want ResourceInUse", code)
	}
	_, err = c.sm.DeregisterDevices(ctx, &sagemaker.DeregisterDevicesInput{DeviceFleetName: aws.String("fleet-a"), DeviceNames: []string{"d1"}})
	if err != nil {
		t.Fatalf("DeregisterDevices: %v", err)
	}
	if _, err := c.sm.DeleteDeviceFleet(ctx, del); err != nil {
		t.Errorf("DeleteDeviceFleet: %v", err)
	}
	_, err = c.sm.DescribeDevice(ctx, &sagemaker.DescribeDeviceInput{DeviceFleetName: aws.String("fleet-a"), DeviceName: aws.String("d1")})
	if code, _ := apiCode(err); code != "ResourceNotFound" {
		t.Errorf("DescribeDevice after deregister: got %q, want ResourceNotFound", code)
	}
}

func TestControlPlaneIAMRole(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	c := newCPClients(t, sb, 1)
	ctx := context.Background()

	create := &iam.CreateRoleInput{RoleName: aws.String("r1"), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)}
	cr, err := c.iam.CreateRole(ctx, create)
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	if got, want := aws.ToString(cr.Role.Arn), "arn:aws:iam::123456789012:role/r1"; got != want {
		t.Errorf("role ARN: got %q, want %q", got, want)
	}
	if code, status := apiCode(func() error { _, err := c.iam.CreateRole(ctx, create); return err }()); code != "EntityAlreadyExists" || status != 409 {
		t.Errorf("duplicate role: got %s %d, want EntityAlreadyExists 409", code, status)
	}
	if code, status := apiCode(func() error {
		_, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
		return err
	}()); code != "NoSuchEntity" || status != 404 {
		t.Errorf("missing role: got %s %d, want NoSuchEntity 404", code, status)
	}
	_, err = c.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r1"), PolicyName: aws.String("inline"), PolicyDocument: aws.String("{}")})
	if err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	_, err = c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r1"), PolicyArn: aws.String("arn:aws:iam::aws:policy/P")})
	if err != nil {
		t.Fatalf("AttachRolePolicy: %v", err)
	}
	lp, err := c.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("r1")})
	if err != nil || len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "inline" {
		t.Errorf("ListRolePolicies: got %+v, %v", lp, err)
	}
	la, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("r1")})
	if err != nil || len(la.AttachedPolicies) != 1 || aws.ToString(la.AttachedPolicies[0].PolicyName) != "P" {
		t.Errorf("ListAttachedRolePolicies: got %+v, %v", la, err)
	}
	if code, _ := apiCode(func() error {
		_, err := c.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r1")})
		return err
	}()); code != "DeleteConflict" {
		t.Errorf("delete role with policies: got %q, want DeleteConflict", code)
	}
}

func TestControlPlaneFaultsAndThrottle(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	cp := sb.ControlPlane()
	c := newCPClients(t, sb, 1)
	ctx := context.Background()
	describe := func() error {
		_, err := c.iot.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:CredentialProvider")})
		return err
	}

	cp.InjectFault("iot:DescribeEndpoint", CallFault{Code: "InternalFailureException", Times: 1})
	if code, status := apiCode(describe()); code != "InternalFailureException" || status != 500 {
		t.Errorf("injected fault: got %s %d, want InternalFailureException 500", code, status)
	}
	if err := describe(); err != nil {
		t.Errorf("after the fault: %v", err)
	}

	cp.SetThrottle("iot", 0.001, 1)
	if err := describe(); err != nil {
		t.Errorf("first call under throttle: %v", err)
	}
	if code, status := apiCode(describe()); code != "ThrottlingException" || status != 429 {
		t.Errorf("throttled: got %s %d, want ThrottlingException 429", code, status)
	}
	cp.SetThrottle("iot", 0, 0)

	if got, want := cp.Stats().Calls("iot:DescribeEndpoint"), 4; got != want {
		t.Errorf("calls: got %d, want %d", got, want)
	}
	if got, want := cp.Stats().Throttled("iot"), 1; got != want {
		t.Errorf("throttled: got %d, want %d", got, want)
	}
}

func TestControlPlaneInjectsS3Faults(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	ctx := context.Background()
	if err := sb.CreateBucket(ctx, "faults"); err != nil {
		t.Fatal(err)
	}
	cp := sb.ControlPlane()
	c := sb.S3Client()
	put := func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("faults"), Key: aws.String("d/x"),
			Body: strings.NewReader("x")})
		return err
	}
	get := func() error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("faults"), Key: aws.String("d/x")})
		return err
	}

	cp.InjectFault("s3:PutObject", CallFault{Code: "AccessDenied", Times: 1})
	if code, status := apiCode(put()); code != "AccessDenied" || status != http.StatusForbidden {
		t.Errorf("put with a fault: got %s %d, want AccessDenied 403", code, status)
	}
	if err := put(); err != nil {
		t.Errorf("put after the fault: %v", err)
	}
	if err := get(); err != nil {
		t.Errorf("get, no fault at it: %v", err)
	}
	cp.InjectFault("s3:GetObject", CallFault{Code: "AccessDenied", Times: 1})
	if code, _ := apiCode(get()); code != "AccessDenied" {
		t.Errorf("get with a fault: got %q, want AccessDenied", code)
	}
}
