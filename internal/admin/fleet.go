package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/awsname"
)

// Tags on the fleet's role alias that record its settings.
const (
	tagFleet       = "edge-agent:fleet"
	tagSageMaker   = "edge-agent:sagemaker"
	tagOutput      = "edge-agent:output"
	tagCreatedRole = "edge-agent:created-role"
)

// SageMakerEdgeFleetPolicyARN is the AWS managed policy for the role of a
// SageMaker Edge Manager device fleet.
const SageMakerEdgeFleetPolicyARN = "arn:aws:iam::aws:policy/service-role/AmazonSageMakerEdgeDeviceFleetPolicy"

// Fleet is a fleet's settings, as recorded on its role alias.
type Fleet struct {
	Name         string `json:"fleet"`
	RoleAlias    string `json:"role_alias"`
	RoleAliasARN string `json:"role_alias_arn"`
	RoleARN      string `json:"role_arn"`
	// SageMaker reports whether the fleet is a SageMaker device fleet
	// (devices are registered with it).
	SageMaker bool `json:"sagemaker"`
	// Output is the fleet's s3://bucket/prefix; its bucket is the default
	// for device files.
	Output string `json:"output,omitempty"`
	// PolicyName is the IoT policy shared by the fleet's certificates.
	PolicyName string `json:"policy_name"`
	// CreatedRole reports whether admin created the IAM role (and so
	// deletes it with the fleet).
	CreatedRole bool `json:"created_role,omitempty"`
	// CredentialDuration is the role alias's credential lifetime, seconds.
	CredentialDuration int32 `json:"credential_duration_seconds"`
}

// Bucket returns the bucket of Output, or "".
func (f Fleet) Bucket() string {
	b, _, _ := strings.Cut(strings.TrimPrefix(f.Output, "s3://"), "/")
	return b
}

// RoleAliasName returns the name of a fleet's role alias, as SageMaker
// names it.
func RoleAliasName(fleet string) string { return "SageMakerEdge-" + fleet }

// PolicyName returns the stable name of a fleet's IoT policy.
func PolicyName(fleet string) string { return "edge-agent-" + fleet + "-assume-role" }

// PolicyDocument returns the fleet policy: iot:AssumeRoleWithCertificate on
// the fleet's role alias and nothing else.
func PolicyDocument(aliasARN string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": aliasARN,
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// FleetCreateOptions describes admin fleet create.
type FleetCreateOptions struct {
	Fleet string
	// RoleARN is the role the alias points to; required unless CreateRole.
	RoleARN string
	// Output is the SageMaker output location s3://bucket/prefix; its bucket
	// is the default for device files.
	Output string
	// WithoutSageMaker skips SageMaker: admin creates the role alias itself.
	WithoutSageMaker bool
	// CreateRole creates the IAM role (named RoleName, default
	// EdgeAgent-<fleet>) trusted by credentials.iot.amazonaws.com, with
	// PermissionsPolicy as its inline policy or, when empty, the SageMaker
	// edge fleet managed policy.
	CreateRole        bool
	RoleName          string
	PermissionsPolicy string
	// CredentialDuration is the role alias's credential lifetime, 900 to
	// 43200 seconds (default 3600). SageMaker sets its own alias to 3600.
	CredentialDuration int32
	// DryRun returns the plan without calling AWS.
	DryRun bool
}

// FleetResult is what fleet create did.
type FleetResult struct {
	Fleet
	// Actions lists the changes made, in order; empty when nothing changed.
	Actions []string `json:"actions"`
	// Notes are warnings for the operator, such as the SageMaker fallback.
	Notes []string `json:"notes,omitempty"`
	// Plan is set by a dry run.
	Plan []string `json:"plan,omitempty"`
}

func (o *FleetCreateOptions) validate() error {
	if err := ValidateFleetName(o.Fleet); err != nil {
		return err
	}
	if o.RoleARN == "" && !o.CreateRole {
		return errors.New("fleet create: pass --role-arn, or --create-role to create the role")
	}
	if o.RoleARN != "" {
		if err := ValidateRoleARN(o.RoleARN); err != nil {
			return err
		}
	}
	if o.Output == "" && !o.WithoutSageMaker {
		return errors.New("fleet create: pass --output s3://bucket/prefix (SageMaker requires it)")
	}
	if o.Output != "" {
		if _, _, err := ParseS3URI(o.Output); err != nil {
			return err
		}
	}
	if o.CredentialDuration == 0 {
		o.CredentialDuration = 3600
	}
	if o.CredentialDuration < 900 || o.CredentialDuration > 43200 {
		return fmt.Errorf("credential duration %d s: must be 900 to 43200 seconds", o.CredentialDuration)
	}
	if o.RoleName == "" {
		o.RoleName = "EdgeAgent-" + o.Fleet
	}
	return nil
}

// CreateFleet creates the fleet: the IAM role when asked, the SageMaker
// device fleet (or, without SageMaker, the role alias), and the tags that
// record its settings. Re-running it changes nothing.
func (a *Admin) CreateFleet(ctx context.Context, o FleetCreateOptions) (FleetResult, error) {
	if err := o.validate(); err != nil {
		return FleetResult{}, err
	}
	if o.RoleARN != "" {
		if err := awsname.ValidateARNPartition("role ARN", o.RoleARN, a.region); err != nil {
			return FleetResult{}, err
		}
	}
	if !o.DryRun {
		if err := a.checkOutput(ctx, &o); err != nil {
			return FleetResult{}, err
		}
	}
	res := FleetResult{Fleet: Fleet{Name: o.Fleet, RoleAlias: RoleAliasName(o.Fleet), RoleARN: o.RoleARN,
		SageMaker: !o.WithoutSageMaker, Output: o.Output, PolicyName: PolicyName(o.Fleet),
		CreatedRole: o.CreateRole, CredentialDuration: o.CredentialDuration}}
	if o.DryRun {
		res.Plan = fleetPlan(o)
		return res, nil
	}

	if err := a.ensureBucket(ctx, res.Bucket(), &res); err != nil {
		return res, err
	}
	if o.CreateRole {
		if err := a.ensureRole(ctx, o, &res); err != nil {
			return res, err
		}
	}
	if res.SageMaker {
		if err := a.ensureDeviceFleet(ctx, o, &res); err != nil {
			return res, err
		}
	}
	if !res.SageMaker {
		if err := a.ensureRoleAlias(ctx, o, &res); err != nil {
			return res, err
		}
	}
	if err := a.tagFleet(ctx, &res); err != nil {
		return res, err
	}
	return res, nil
}

// checkOutput refuses, before any change, an output other than the one an
// existing fleet has: SageMaker keeps a device fleet's S3OutputLocation,
// and the devices' files are in its bucket. An empty o.Output, or one that
// differs only by a final '/', takes the existing one.
func (a *Admin) checkOutput(ctx context.Context, o *FleetCreateOptions) error {
	have, err := a.existingOutput(ctx, *o)
	if err != nil || have == "" {
		return err
	}
	if o.Output != "" && strings.TrimSuffix(o.Output, "/") != strings.TrimSuffix(have, "/") {
		return fmt.Errorf("fleet %s already has output %s, not %s: the output of an existing fleet cannot be changed; "+
			"re-run with --output %s, or delete the fleet (admin fleet delete --fleet %s) and create it again",
			o.Fleet, have, o.Output, have, o.Fleet)
	}
	o.Output = have
	return nil
}

// existingOutput returns the output of the fleet if it exists: SageMaker's
// S3OutputLocation, else the one recorded on its role alias; "" for a new
// fleet.
func (a *Admin) existingOutput(ctx context.Context, o FleetCreateOptions) (string, error) {
	if !o.WithoutSageMaker {
		df, err := a.sm.DescribeDeviceFleet(ctx, &sagemaker.DescribeDeviceFleetInput{DeviceFleetName: aws.String(o.Fleet)})
		if err == nil && df.OutputConfig != nil && aws.ToString(df.OutputConfig.S3OutputLocation) != "" {
			return aws.ToString(df.OutputConfig.S3OutputLocation), nil
		}
		if err != nil && !isNotFound(err) && !isRefusal(err) {
			return "", fmt.Errorf("describe device fleet %s: %w", o.Fleet, err)
		}
	}
	ra, err := a.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(RoleAliasName(o.Fleet))})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describe role alias %s: %w", RoleAliasName(o.Fleet), err)
	}
	tags, err := a.aliasTags(ctx, aws.ToString(ra.RoleAliasDescription.RoleAliasArn))
	if err != nil {
		return "", err
	}
	return tags[tagOutput], nil
}

// ensureBucket creates the fleet's output bucket when it does not exist,
// so that a new account needs no other tool. Fleet delete keeps it: it may
// hold other data.
func (a *Admin) ensureBucket(ctx context.Context, bucket string, res *FleetResult) error {
	if bucket == "" {
		return nil
	}
	_, err := a.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil || !isNotFound(err) {
		if err != nil {
			return fmt.Errorf("head bucket %s: %w", bucket, err)
		}
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if a.region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(a.region)}
	}
	if _, err := a.s3.CreateBucket(ctx, in); err != nil && !hasCode(err, "BucketAlreadyOwnedByYou") {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	res.Actions = append(res.Actions, "created bucket "+bucket)
	return nil
}

func fleetPlan(o FleetCreateOptions) []string {
	var plan []string
	if o.Output != "" {
		plan = append(plan, "s3:CreateBucket for "+o.Output+" (when absent)")
	}
	if o.CreateRole {
		plan = append(plan, "iam:CreateRole "+o.RoleName+" trusted by credentials.iot.amazonaws.com (when absent)")
		if o.PermissionsPolicy != "" {
			plan = append(plan, "iam:PutRolePolicy edge-agent-device-permissions")
		} else {
			plan = append(plan, "iam:AttachRolePolicy "+SageMakerEdgeFleetPolicyARN)
		}
	}
	if !o.WithoutSageMaker {
		plan = append(plan, "sagemaker:CreateDeviceFleet "+o.Fleet+" with its IoT role alias (when absent)",
			"sagemaker:DescribeDeviceFleet "+o.Fleet+" for IotRoleAlias")
	} else {
		plan = append(plan, fmt.Sprintf("iot:CreateRoleAlias %s, %d s (when absent)", RoleAliasName(o.Fleet), o.CredentialDuration))
	}
	return append(plan, "iot:TagResource "+RoleAliasName(o.Fleet)+" with the fleet's settings")
}

// trustPolicy lets the IoT credentials provider (and SageMaker) assume the
// fleet's role.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"Service":["credentials.iot.amazonaws.com","sagemaker.amazonaws.com"]},` +
	`"Action":"sts:AssumeRole"}]}`

func (a *Admin) ensureRole(ctx context.Context, o FleetCreateOptions, res *FleetResult) error {
	got, err := a.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(o.RoleName)})
	switch {
	case err == nil:
		res.RoleARN = aws.ToString(got.Role.Arn)
	case isNotFound(err):
		cr, err := a.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(o.RoleName),
			AssumeRolePolicyDocument: aws.String(trustPolicy),
			Description:              aws.String("edge-agent fleet " + o.Fleet)})
		if err != nil {
			return fmt.Errorf("create role %s: %w", o.RoleName, err)
		}
		res.RoleARN = aws.ToString(cr.Role.Arn)
		res.Actions = append(res.Actions, "created IAM role "+res.RoleARN)
	default:
		return fmt.Errorf("get role %s: %w", o.RoleName, err)
	}
	return a.ensureRolePermissions(ctx, o, res)
}

func (a *Admin) ensureRolePermissions(ctx context.Context, o FleetCreateOptions, res *FleetResult) error {
	if o.PermissionsPolicy != "" {
		_, err := a.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(o.RoleName),
			PolicyName: aws.String("edge-agent-device-permissions"), PolicyDocument: aws.String(o.PermissionsPolicy)})
		if err != nil {
			return fmt.Errorf("put permissions policy on role %s: %w", o.RoleName, err)
		}
		return nil
	}
	list, err := a.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(o.RoleName)})
	if err != nil {
		return fmt.Errorf("list policies of role %s: %w", o.RoleName, err)
	}
	for _, p := range list.AttachedPolicies {
		if aws.ToString(p.PolicyArn) == SageMakerEdgeFleetPolicyARN {
			return nil
		}
	}
	_, err = a.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(o.RoleName),
		PolicyArn: aws.String(SageMakerEdgeFleetPolicyARN)})
	if err != nil {
		return fmt.Errorf("attach %s to role %s: %w", SageMakerEdgeFleetPolicyARN, o.RoleName, err)
	}
	res.Actions = append(res.Actions, "attached "+SageMakerEdgeFleetPolicyARN)
	return nil
}

// ensureDeviceFleet creates the SageMaker device fleet with its role alias.
// When SageMaker refuses (accounts without Edge Manager), it falls back to
// an IoT-only fleet and says so in a note.
func (a *Admin) ensureDeviceFleet(ctx context.Context, o FleetCreateOptions, res *FleetResult) error {
	df, err := a.sm.DescribeDeviceFleet(ctx, &sagemaker.DescribeDeviceFleetInput{DeviceFleetName: aws.String(o.Fleet)})
	if err != nil && !isNotFound(err) {
		if isRefusal(err) {
			return a.fallBack(res, "DescribeDeviceFleet", err)
		}
		return fmt.Errorf("describe device fleet %s: %w", o.Fleet, err)
	}
	if err != nil {
		_, err = a.sm.CreateDeviceFleet(ctx, &sagemaker.CreateDeviceFleetInput{
			DeviceFleetName: aws.String(o.Fleet), RoleArn: aws.String(res.RoleARN),
			OutputConfig:       &smtypes.EdgeOutputConfig{S3OutputLocation: aws.String(o.Output)},
			EnableIotRoleAlias: aws.Bool(true), Description: aws.String("edge-agent fleet"),
		})
		if isRefusal(err) && !isAlreadyExists(err) && !mentionsRole(err) {
			return a.fallBack(res, "CreateDeviceFleet", err)
		}
		if err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("create device fleet %s: %w", o.Fleet, err)
		}
		if err == nil {
			res.Actions = append(res.Actions, "created SageMaker device fleet "+o.Fleet)
		}
		if df, err = a.sm.DescribeDeviceFleet(ctx, &sagemaker.DescribeDeviceFleetInput{DeviceFleetName: aws.String(o.Fleet)}); err != nil {
			return fmt.Errorf("describe device fleet %s: %w", o.Fleet, err)
		}
	}
	return a.takeFleetAlias(ctx, df, res)
}

// fallBack turns a SageMaker refusal into an IoT-only fleet.
func (a *Admin) fallBack(res *FleetResult, call string, err error) error {
	res.SageMaker = false
	note := fmt.Sprintf("SageMaker refused %s (%v); SageMaker Edge Manager was discontinued in April 2024, "+
		"so the fleet continues without SageMaker: admin creates the IoT role alias %s itself and skips device registration",
		call, err, res.RoleAlias)
	res.Notes = append(res.Notes, note)
	a.log.Warn("sagemaker refused the fleet call; continuing without sagemaker", zap.String("call", call), zap.Error(err))
	return nil
}

// mentionsRole reports whether a refusal is about the role (for example a
// role that IAM has not propagated yet), which a retry cures and which must
// not turn the fleet into an IoT-only one.
func mentionsRole(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.ErrorMessage()), "role")
}

// takeFleetAlias reads the role alias that SageMaker made for the fleet.
func (a *Admin) takeFleetAlias(ctx context.Context, df *sagemaker.DescribeDeviceFleetOutput, res *FleetResult) error {
	arn := aws.ToString(df.IotRoleAlias)
	if arn == "" {
		return fmt.Errorf("device fleet %s has no IoT role alias (it was created without EnableIotRoleAlias); "+
			"delete it or use --without-sagemaker", res.Name)
	}
	if r := aws.ToString(df.RoleArn); res.RoleARN != "" && r != res.RoleARN {
		return fmt.Errorf("device fleet %s exists with role %s, not %s", res.Name, r, res.RoleARN)
	}
	res.RoleAliasARN = arn
	res.RoleAlias = arn[strings.LastIndex(arn, "/")+1:]
	res.RoleARN = aws.ToString(df.RoleArn)

	ra, err := a.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(res.RoleAlias)})
	if err != nil {
		return fmt.Errorf("describe role alias %s: %w", res.RoleAlias, err)
	}
	res.CredentialDuration = aws.ToInt32(ra.RoleAliasDescription.CredentialDurationSeconds)
	return nil
}

func (a *Admin) ensureRoleAlias(ctx context.Context, o FleetCreateOptions, res *FleetResult) error {
	ra, err := a.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(res.RoleAlias)})
	if err == nil {
		d := ra.RoleAliasDescription
		if got := aws.ToString(d.RoleArn); got != res.RoleARN {
			return fmt.Errorf("role alias %s exists for role %s, not %s", res.RoleAlias, got, res.RoleARN)
		}
		res.RoleAliasARN = aws.ToString(d.RoleAliasArn)
		res.CredentialDuration = aws.ToInt32(d.CredentialDurationSeconds)
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("describe role alias %s: %w", res.RoleAlias, err)
	}

	cr, err := a.iot.CreateRoleAlias(ctx, &iot.CreateRoleAliasInput{RoleAlias: aws.String(res.RoleAlias),
		RoleArn: aws.String(res.RoleARN), CredentialDurationSeconds: aws.Int32(o.CredentialDuration)})
	if err != nil {
		return fmt.Errorf("create role alias %s: %w", res.RoleAlias, err)
	}
	res.RoleAliasARN = aws.ToString(cr.RoleAliasArn)
	res.Actions = append(res.Actions, "created IoT role alias "+res.RoleAliasARN)
	return nil
}

func (f Fleet) tags() map[string]string {
	return map[string]string{
		tagFleet: f.Name, tagSageMaker: strconv.FormatBool(f.SageMaker),
		tagOutput: f.Output, tagCreatedRole: strconv.FormatBool(f.CreatedRole),
	}
}

// tagFleet records the fleet's settings on its role alias, when they differ.
func (a *Admin) tagFleet(ctx context.Context, res *FleetResult) error {
	have, err := a.aliasTags(ctx, res.RoleAliasARN)
	if err != nil {
		return err
	}
	var tags []iottypes.Tag
	for k, v := range res.tags() {
		if have[k] != v {
			tags = append(tags, iottypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	if len(tags) == 0 {
		return nil
	}
	_, err = a.iot.TagResource(ctx, &iot.TagResourceInput{ResourceArn: aws.String(res.RoleAliasARN), Tags: tags})
	if err != nil {
		return fmt.Errorf("tag role alias %s: %w", res.RoleAlias, err)
	}
	res.Actions = append(res.Actions, "recorded the fleet's settings as tags on "+res.RoleAlias)
	return nil
}

func (a *Admin) aliasTags(ctx context.Context, arn string) (map[string]string, error) {
	tags := map[string]string{}
	p := iot.NewListTagsForResourcePaginator(a.iot, &iot.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", arn, err)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

// ErrFleetNotFound is returned when a fleet has no role alias.
var ErrFleetNotFound = errors.New("fleet not found")

// LookupFleet reads a fleet's settings from its role alias and tags.
func (a *Admin) LookupFleet(ctx context.Context, name string) (Fleet, error) {
	if err := ValidateFleetName(name); err != nil {
		return Fleet{}, err
	}
	alias := RoleAliasName(name)
	ra, err := a.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(alias)})
	if isNotFound(err) {
		return Fleet{}, fmt.Errorf("fleet %s: role alias %s does not exist: %w (run admin fleet create first)",
			name, alias, ErrFleetNotFound)
	}
	if err != nil {
		return Fleet{}, fmt.Errorf("describe role alias %s: %w", alias, err)
	}
	d := ra.RoleAliasDescription
	f := Fleet{Name: name, RoleAlias: alias, RoleAliasARN: aws.ToString(d.RoleAliasArn),
		RoleARN: aws.ToString(d.RoleArn), PolicyName: PolicyName(name),
		CredentialDuration: aws.ToInt32(d.CredentialDurationSeconds)}

	tags, err := a.aliasTags(ctx, f.RoleAliasARN)
	if err != nil {
		return Fleet{}, err
	}
	if tags[tagFleet] != name {
		return Fleet{}, fmt.Errorf("fleet %s: role alias %s was not set up by edge-agent admin (no %s tag); run admin fleet create",
			name, alias, tagFleet)
	}
	f.SageMaker = tags[tagSageMaker] == "true"
	f.Output = tags[tagOutput]
	f.CreatedRole = tags[tagCreatedRole] == "true"
	return f, nil
}
