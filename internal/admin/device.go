package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/edge-agent/edge-agent/internal/certstore"
)

// The steps of a device provision, in the guide's order. Their names are
// recorded in the local state and shown in plans and results.
const (
	stepThingType   = "thing-type"
	stepThing       = "thing"
	stepRegister    = "register-device"
	stepCertificate = "certificate"
	stepPolicy      = "fleet-policy"
	stepAttachPol   = "attach-policy"
	stepAttachThing = "attach-thing-principal"
	stepEndpoint    = "credentials-endpoint"
	stepUpload      = "upload"
)

var allSteps = []string{stepThingType, stepThing, stepRegister, stepCertificate, stepPolicy,
	stepAttachPol, stepAttachThing, stepEndpoint, stepUpload}

// Thing attributes that tie a thing to its fleet, so that fleet delete
// finds every device even without the local state. IoT allows three
// attributes on a thing without a type.
const (
	attrFleet  = "edge-agent-fleet"
	attrDevice = "edge-agent-device"
	attrBucket = "edge-agent-bucket"
)

// AuthorizationPrefix returns the S3 prefix of a device's files.
func AuthorizationPrefix(device string) string { return "authorization-files/" + device + "/" }

// DeviceOptions describes admin device provision.
type DeviceOptions struct {
	Fleet, Device string
	// Thing is the IoT thing name; default the device name.
	Thing string
	// ThingType is created when absent; empty for none.
	ThingType string
	// Bucket receives the authorization files; default the bucket of the
	// fleet's output.
	Bucket string
	// CSR, when set, is a PEM certificate signing request made on the
	// device: the private key never leaves it and is not uploaded.
	CSR []byte
	// RootCA is uploaded as AmazonRootCA1.pem; default Amazon Root CA 1
	// (and 3). For the sandbox, pass the sandbox CA.
	RootCA []byte
	// Recheck verifies steps recorded as done with read calls instead of
	// trusting the local state.
	Recheck bool
	// DryRun returns the plan without calling AWS.
	DryRun bool
}

func (o *DeviceOptions) validate() error {
	if err := ValidateFleetName(o.Fleet); err != nil {
		return err
	}
	if err := ValidateDeviceName(o.Device); err != nil {
		return err
	}
	if o.Thing == "" {
		o.Thing = o.Device
	}
	if err := ValidateThingName("thing name", o.Thing); err != nil {
		return err
	}
	if o.ThingType != "" {
		if err := ValidateThingName("thing type name", o.ThingType); err != nil {
			return err
		}
	}
	if o.Bucket != "" {
		return ValidateBucketName(o.Bucket)
	}
	return nil
}

// DeviceResult is what a device provision did.
type DeviceResult struct {
	Fleet          string   `json:"fleet"`
	Device         string   `json:"device"`
	Thing          string   `json:"thing"`
	RoleAlias      string   `json:"role_alias,omitempty"`
	CertificateID  string   `json:"certificate_id,omitempty"`
	CertificateARN string   `json:"certificate_arn,omitempty"`
	Endpoint       string   `json:"credentials_endpoint,omitempty"`
	Bucket         string   `json:"bucket,omitempty"`
	Prefix         string   `json:"prefix,omitempty"`
	Actions        []string `json:"actions"`
	Skipped        []string `json:"skipped,omitempty"`
	Plan           []string `json:"plan,omitempty"`
	// FailedStep names the step that failed, when one did.
	FailedStep string `json:"failed_step,omitempty"`
}

// ProvisionDevice runs the guide's steps for one device, skipping those the
// local state records as done. After a failure, re-running it finishes the
// rest; re-running a finished provision changes nothing.
func (a *Admin) ProvisionDevice(ctx context.Context, o DeviceOptions) (DeviceResult, error) {
	if err := o.validate(); err != nil {
		return DeviceResult{}, err
	}
	st, err := a.state.loadDevice(o.Fleet, o.Device)
	if err != nil {
		return DeviceResult{}, err
	}
	res := DeviceResult{Fleet: o.Fleet, Device: o.Device, Thing: o.Thing, Prefix: AuthorizationPrefix(o.Device)}
	if o.DryRun {
		res.Plan = devicePlan(st, o)
		return res, nil
	}

	fleet, err := a.LookupFleet(ctx, o.Fleet)
	if err != nil {
		return res, err
	}
	p := a.newProvisioner(fleet, o.RootCA, o.Recheck)
	if err := p.adopt(st, &o); err != nil {
		return res, err
	}
	err = p.runWith(ctx, st, allSteps, o.CSR, &res)
	return res, err
}

func devicePlan(st *deviceState, o DeviceOptions) []string {
	var plan []string
	for _, step := range allSteps {
		status := "to do"
		if st.done(step) && !o.Recheck {
			status = "done (local state)"
		}
		plan = append(plan, step+": "+status)
	}
	return plan
}

// provisioner runs device steps for one fleet; it memoizes the per-fleet
// calls (policy, endpoint, thing types) across devices.
type provisioner struct {
	a       *Admin
	fleet   Fleet
	rootCA  []byte
	recheck bool

	mu         sync.Mutex
	endpoint   string
	policyOK   bool
	thingTypes map[string]bool
	// seenCerts holds the certificates described while looking for those
	// of interrupted requests, by ID.
	seenCerts map[string]seenCertificate
}

func (a *Admin) newProvisioner(f Fleet, rootCA []byte, recheck bool) *provisioner {
	if len(rootCA) == 0 {
		rootCA = certstore.DefaultRootsPEM()
	}
	return &provisioner{a: a, fleet: f, rootCA: rootCA, recheck: recheck, thingTypes: map[string]bool{}}
}

// adopt fills a fresh state from the options, or checks that the options
// agree with what an earlier run recorded.
func (p *provisioner) adopt(st *deviceState, o *DeviceOptions) error {
	if o.Bucket == "" {
		o.Bucket = st.Bucket
	}
	if o.Bucket == "" {
		o.Bucket = p.fleet.Bucket()
	}
	if o.Bucket == "" {
		return fmt.Errorf("device %s: pass --bucket (fleet %s records no output bucket)", o.Device, o.Fleet)
	}
	if len(st.Done) == 0 && st.CertificateID == "" {
		st.Thing, st.ThingType, st.Bucket, st.CSR = o.Thing, o.ThingType, o.Bucket, len(o.CSR) > 0
		return nil
	}
	switch {
	case st.Thing != o.Thing:
		return fmt.Errorf("device %s was provisioned with thing %s, not %s: deprovision it first", o.Device, st.Thing, o.Thing)
	case st.Bucket != o.Bucket:
		return fmt.Errorf("device %s was provisioned to bucket %s, not %s: deprovision it first", o.Device, st.Bucket, o.Bucket)
	case st.CSR != (len(o.CSR) > 0) && st.CertificateID != "":
		return fmt.Errorf("device %s already has a certificate made %s: deprovision it first", o.Device, map[bool]string{true: "from a CSR", false: "with its key"}[st.CSR])
	}
	st.ThingType = o.ThingType
	st.CSR = len(o.CSR) > 0
	return nil
}

// stepFunc runs one step; it returns what it changed, or "" for nothing.
type stepFunc func(ctx context.Context, st *deviceState, csr []byte) (string, error)

// runWith runs steps in order, recording each in the local state as it
// ends; csr is the device's CSR, if any.
func (p *provisioner) runWith(ctx context.Context, st *deviceState, steps []string, csr []byte, res *DeviceResult) error {
	defer p.fillResult(st, res)

	for _, step := range steps {
		if st.done(step) && !p.recheck {
			res.Skipped = append(res.Skipped, step)
			continue
		}
		if err := ctx.Err(); err != nil {
			res.FailedStep = step
			return err
		}
		action, err := p.step(step)(ctx, st, csr)
		if err != nil {
			res.FailedStep = step
			return fmt.Errorf("device %s: step %s: %w", st.Device, step, err)
		}
		if action != "" {
			res.Actions = append(res.Actions, action)
		}
		st.Done[step] = true
		if err := p.a.state.saveDevice(st); err != nil {
			return err
		}
	}
	return nil
}

func (p *provisioner) fillResult(st *deviceState, res *DeviceResult) {
	res.RoleAlias = p.fleet.RoleAlias
	res.CertificateID, res.CertificateARN = st.CertificateID, st.CertificateARN
	res.Bucket, res.Thing = st.Bucket, st.Thing
	res.Endpoint = st.Endpoint
}

func (p *provisioner) step(name string) stepFunc {
	switch name {
	case stepThingType:
		return p.thingTypeStep
	case stepThing:
		return p.thingStep
	case stepRegister:
		return p.registerStep
	case stepCertificate:
		return p.certificateStep
	case stepPolicy:
		return func(ctx context.Context, _ *deviceState, _ []byte) (string, error) { return p.ensurePolicy(ctx) }
	case stepAttachPol:
		return p.attachPolicyStep
	case stepAttachThing:
		return p.attachThingStep
	case stepEndpoint:
		return func(ctx context.Context, st *deviceState, _ []byte) (string, error) {
			ep, err := p.credentialsEndpoint(ctx)
			st.Endpoint = ep
			return "", err
		}
	case stepUpload:
		return p.uploadStep
	}
	return func(context.Context, *deviceState, []byte) (string, error) {
		return "", fmt.Errorf("unknown step %s", name)
	}
}

func (p *provisioner) thingTypeStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	if st.ThingType == "" {
		return "", nil
	}
	p.mu.Lock()
	known := p.thingTypes[st.ThingType]
	p.mu.Unlock()
	if known {
		return "", nil
	}

	action := ""
	_, err := p.a.iot.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: aws.String(st.ThingType)})
	if isNotFound(err) {
		_, err = p.a.iot.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String(st.ThingType)})
		if isAlreadyExists(err) {
			err = nil
		} else if err == nil {
			action = "created thing type " + st.ThingType
		}
	}
	if err != nil {
		return "", fmt.Errorf("thing type %s: %w", st.ThingType, err)
	}
	p.mu.Lock()
	p.thingTypes[st.ThingType] = true
	p.mu.Unlock()
	return action, nil
}

func (p *provisioner) thingAttributes(st *deviceState) map[string]string {
	return map[string]string{attrFleet: p.fleet.Name, attrDevice: st.Device, attrBucket: st.Bucket}
}

func (p *provisioner) thingStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	if p.recheck {
		d, err := p.a.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(st.Thing)})
		if err == nil {
			return "", p.checkThing(st, d)
		}
		if !isNotFound(err) {
			return "", fmt.Errorf("describe thing %s: %w", st.Thing, err)
		}
	}
	in := &iot.CreateThingInput{ThingName: aws.String(st.Thing),
		AttributePayload: &iottypes.AttributePayload{Attributes: p.thingAttributes(st)}}
	if st.ThingType != "" {
		in.ThingTypeName = aws.String(st.ThingType)
	}
	_, err := p.a.iot.CreateThing(ctx, in)
	if isAlreadyExists(err) {
		d, derr := p.a.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(st.Thing)})
		if derr != nil {
			return "", fmt.Errorf("describe thing %s: %w", st.Thing, derr)
		}
		return "", p.checkThing(st, d)
	}
	if err != nil {
		return "", fmt.Errorf("create thing %s: %w", st.Thing, err)
	}
	return "created thing " + st.Thing, nil
}

// checkThing accepts an existing thing only if it is this device's.
func (p *provisioner) checkThing(st *deviceState, d *iot.DescribeThingOutput) error {
	want := p.thingAttributes(st)
	for k, v := range want {
		if d.Attributes[k] != v {
			return fmt.Errorf("thing %s already exists and is not this device's (attribute %s is %q, want %q): "+
				"pick another --thing or delete it", st.Thing, k, d.Attributes[k], v)
		}
	}
	if got := aws.ToString(d.ThingTypeName); got != st.ThingType {
		return fmt.Errorf("thing %s already exists with thing type %q, not %q", st.Thing, got, st.ThingType)
	}
	return nil
}

func (p *provisioner) registerStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	if !p.fleet.SageMaker {
		return "", nil
	}
	if p.recheck {
		if ok, err := p.registered(ctx, st); err != nil || ok {
			return "", err
		}
	}
	_, err := p.a.sm.RegisterDevices(ctx, &sagemaker.RegisterDevicesInput{DeviceFleetName: aws.String(p.fleet.Name),
		Devices: []smtypes.Device{{DeviceName: aws.String(st.Device), IotThingName: aws.String(st.Thing)}}})
	if err != nil {
		if ok, derr := p.registered(ctx, st); derr == nil && ok {
			return "", nil
		}
		return "", fmt.Errorf("register device %s with fleet %s: %w", st.Device, p.fleet.Name, err)
	}
	return "registered device " + st.Device + " with SageMaker fleet " + p.fleet.Name, nil
}

// registered reports whether the device is registered with the fleet and
// the thing; a registration with another thing is an error.
func (p *provisioner) registered(ctx context.Context, st *deviceState) (bool, error) {
	d, err := p.a.sm.DescribeDevice(ctx, &sagemaker.DescribeDeviceInput{
		DeviceFleetName: aws.String(p.fleet.Name), DeviceName: aws.String(st.Device)})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe device %s: %w", st.Device, err)
	}
	if got := aws.ToString(d.IotThingName); got != st.Thing {
		return false, fmt.Errorf("device %s is registered with thing %s, not %s", st.Device, got, st.Thing)
	}
	return true, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// errUnknownPrincipal means a thing has a certificate admin holds no key for.
var errUnknownPrincipal = errors.New("certificate attached that admin has no record of")
