package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"golang.org/x/sync/errgroup"
)

// DeprovisionOptions describes admin device deprovision.
type DeprovisionOptions struct {
	Fleet, Device string
	// Thing and Bucket default to what the local state or the thing's
	// attributes record, then to the device name and the fleet's bucket.
	Thing, Bucket string
	// DryRun lists what would be removed in Plan, with read calls only.
	DryRun bool
}

// TeardownResult lists what a deprovision or fleet delete removed.
type TeardownResult struct {
	Fleet   string   `json:"fleet"`
	Device  string   `json:"device,omitempty"`
	Actions []string `json:"actions"`
	// Plan is what a dry run would remove.
	Plan []string `json:"plan,omitempty"`
	// FleetNotFound reports that the fleet's role alias does not exist
	// (deleted before, or a typo); leftovers of its devices are still
	// removed.
	FleetNotFound bool `json:"fleet_not_found,omitempty"`
}

// DeprovisionDevice removes everything a provision made for the device:
// policy and thing attachments, its certificates (deactivated, then
// deleted), the thing, the SageMaker registration, its S3 files and its
// local state. It is idempotent.
func (a *Admin) DeprovisionDevice(ctx context.Context, o DeprovisionOptions) (TeardownResult, error) {
	if err := ValidateFleetName(o.Fleet); err != nil {
		return TeardownResult{}, err
	}
	if err := ValidateDeviceName(o.Device); err != nil {
		return TeardownResult{}, err
	}
	fleet, err := a.LookupFleet(ctx, o.Fleet)
	if err != nil && !isFleetGone(err) {
		return TeardownResult{}, err
	}
	gone := err != nil
	if gone {
		fleet = Fleet{Name: o.Fleet, RoleAlias: RoleAliasName(o.Fleet), PolicyName: PolicyName(o.Fleet), SageMaker: true}
	}
	res, err := a.deprovision(ctx, fleet, o)
	res.FleetNotFound = gone
	return res, err
}

func isFleetGone(err error) bool { return err != nil && errors.Is(err, ErrFleetNotFound) }

func (a *Admin) deprovision(ctx context.Context, fleet Fleet, o DeprovisionOptions) (TeardownResult, error) {
	res := TeardownResult{Fleet: fleet.Name, Device: o.Device}
	st, err := a.state.loadDevice(fleet.Name, o.Device)
	if err != nil {
		return res, err
	}
	thing, bucket := firstOf(o.Thing, st.Thing, o.Device), firstOf(o.Bucket, st.Bucket)
	d, err := a.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(thing)})
	if err == nil {
		bucket = firstOf(bucket, d.Attributes[attrBucket])
	}
	thingFound := err == nil
	bucket = firstOf(bucket, fleet.Bucket())

	certs, err := a.deviceCertificates(ctx, thing, st)
	if err != nil {
		return res, err
	}
	if o.DryRun {
		return res, a.planDeprovision(ctx, fleet, o.Device, teardownTargets{thing, thingFound, bucket, certs}, &res)
	}
	for _, arn := range certs {
		if err := a.removeCertificate(ctx, thing, arn, &res); err != nil {
			return res, err
		}
	}
	if err := a.removeThing(ctx, thing, &res); err != nil {
		return res, err
	}
	if err := a.deregister(ctx, fleet, o.Device, &res); err != nil {
		return res, err
	}
	if bucket != "" {
		n, err := a.deletePrefix(ctx, bucket, AuthorizationPrefix(o.Device))
		if err != nil {
			return res, err
		}
		if n > 0 {
			res.Actions = append(res.Actions, fmt.Sprintf("deleted %d objects under s3://%s/%s", n, bucket, AuthorizationPrefix(o.Device)))
		}
	}
	return res, a.state.removeDevice(fleet.Name, o.Device)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// deviceCertificates returns the certificates attached to the thing, the
// one the local state records (which may be unattached after a failure),
// and those made for a request whose answer was never recorded.
func (a *Admin) deviceCertificates(ctx context.Context, thing string, st *deviceState) ([]string, error) {
	p := &provisioner{a: a}
	certs, err := p.thingPrincipals(ctx, thing)
	if err != nil {
		return nil, err
	}
	if st.CertificateARN != "" && !slices.Contains(certs, st.CertificateARN) {
		certs = append(certs, st.CertificateARN)
	}
	if st.Request == nil {
		return certs, nil
	}
	req, err := p.loadRequest(st)
	if err != nil {
		return nil, err
	}
	found, err := p.requestedCertificates(ctx, st.Request.At, req.pub)
	if err != nil {
		return nil, err
	}
	for _, c := range found {
		if !slices.Contains(certs, c.arn) {
			certs = append(certs, c.arn)
		}
	}
	return certs, nil
}

// removeCertificate detaches, deactivates and deletes one certificate.
func (a *Admin) removeCertificate(ctx context.Context, thing, arn string, res *TeardownResult) error {
	id := certificateIDFromARN(arn)
	if _, err := a.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)}); isNotFound(err) {
		return nil
	}
	policies, err := a.attachedPolicies(ctx, arn)
	if err != nil && !isNotFound(err) {
		return err
	}
	for _, name := range policies {
		if _, err := a.iot.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(name), Target: aws.String(arn)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("detach policy %s from certificate %s: %w", name, id, err)
		}
	}
	_, err = a.iot.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String(thing), Principal: aws.String(arn)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("detach certificate %s from thing %s: %w", id, thing, err)
	}
	_, err = a.iot.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(id),
		NewStatus: iottypes.CertificateStatusInactive})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deactivate certificate %s: %w", id, err)
	}
	if err := a.deleteCertificate(ctx, id); err != nil {
		return err
	}
	res.Actions = append(res.Actions, "deleted certificate "+id)
	return nil
}

// deleteCertificate retries while IoT still sees the thing attached:
// DetachThingPrincipal is eventually consistent.
func (a *Admin) deleteCertificate(ctx context.Context, id string) error {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := a.iot.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id)})
		if err == nil || isNotFound(err) {
			return nil
		}
		if !hasCode(err, "DeleteConflictException") || attempt == 6 {
			return fmt.Errorf("delete certificate %s: %w", id, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func (a *Admin) removeThing(ctx context.Context, thing string, res *TeardownResult) error {
	if _, err := a.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(thing)}); isNotFound(err) {
		return nil
	}
	if _, err := a.iot.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(thing)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete thing %s: %w", thing, err)
	}
	res.Actions = append(res.Actions, "deleted thing "+thing)
	return nil
}

func (a *Admin) deregister(ctx context.Context, fleet Fleet, device string, res *TeardownResult) error {
	if !fleet.SageMaker {
		return nil
	}
	_, err := a.sm.DescribeDevice(ctx, &sagemaker.DescribeDeviceInput{DeviceFleetName: aws.String(fleet.Name), DeviceName: aws.String(device)})
	if isNotFound(err) || isRefusal(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe device %s: %w", device, err)
	}
	_, err = a.sm.DeregisterDevices(ctx, &sagemaker.DeregisterDevicesInput{DeviceFleetName: aws.String(fleet.Name), DeviceNames: []string{device}})
	if err != nil {
		return fmt.Errorf("deregister device %s: %w", device, err)
	}
	res.Actions = append(res.Actions, "deregistered device "+device)
	return nil
}

// FleetDeleteOptions describes admin fleet delete.
type FleetDeleteOptions struct {
	Fleet string
	// KeepRole keeps an IAM role that admin created.
	KeepRole bool
	// Concurrency bounds the devices deprovisioned at once (default 4).
	Concurrency int
	// DryRun lists what would be removed in Plan, with read calls only.
	DryRun bool
}

// DeleteFleet deprovisions every device of the fleet (found in the local
// state, by the thing attributes, and in SageMaker), then deletes the
// fleet policy, the SageMaker fleet, the role alias and, when admin made
// it, the IAM role. It is idempotent.
func (a *Admin) DeleteFleet(ctx context.Context, o FleetDeleteOptions) (TeardownResult, error) {
	if err := ValidateFleetName(o.Fleet); err != nil {
		return TeardownResult{}, err
	}
	fleet, err := a.LookupFleet(ctx, o.Fleet)
	gone := isFleetGone(err)
	if gone {
		fleet, err = Fleet{Name: o.Fleet, RoleAlias: RoleAliasName(o.Fleet), PolicyName: PolicyName(o.Fleet), SageMaker: true}, nil
	}
	if err != nil {
		return TeardownResult{}, err
	}
	res := TeardownResult{Fleet: o.Fleet, FleetNotFound: gone}

	devices, err := a.fleetDevices(ctx, fleet)
	if err != nil {
		return res, err
	}
	if o.DryRun {
		return res, a.planFleetDelete(ctx, fleet, o, devices, &res)
	}
	if err := a.deprovisionAll(ctx, fleet, devices, max(o.Concurrency, 1), &res); err != nil {
		return res, err
	}
	if err := a.deleteFleetResources(ctx, fleet, o, &res); err != nil {
		return res, err
	}
	return res, a.state.removeFleet(o.Fleet)
}

func (a *Admin) deprovisionAll(ctx context.Context, fleet Fleet, devices []string, n int, res *TeardownResult) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	results := make([]TeardownResult, len(devices))
	for i, d := range devices {
		g.Go(func() error {
			r, err := a.deprovision(gctx, fleet, DeprovisionOptions{Fleet: fleet.Name, Device: d})
			results[i] = r
			return err
		})
	}
	err := g.Wait()
	for _, r := range results {
		res.Actions = append(res.Actions, r.Actions...)
	}
	return err
}

// fleetDevices finds the fleet's devices wherever they are recorded.
func (a *Admin) fleetDevices(ctx context.Context, fleet Fleet) ([]string, error) {
	set := map[string]bool{}
	local, err := a.state.devices(fleet.Name)
	if err != nil {
		return nil, err
	}
	for _, d := range local {
		set[d] = true
	}

	pg := iot.NewListThingsPaginator(a.iot, &iot.ListThingsInput{AttributeName: aws.String(attrFleet), AttributeValue: aws.String(fleet.Name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list things of fleet %s: %w", fleet.Name, err)
		}
		for _, t := range page.Things {
			set[firstOf(t.Attributes[attrDevice], aws.ToString(t.ThingName))] = true
		}
	}

	if fleet.SageMaker {
		sp := sagemaker.NewListDevicesPaginator(a.sm, &sagemaker.ListDevicesInput{DeviceFleetName: aws.String(fleet.Name)})
		for sp.HasMorePages() {
			page, err := sp.NextPage(ctx)
			if isRefusal(err) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("list devices of fleet %s: %w", fleet.Name, err)
			}
			for _, d := range page.DeviceSummaries {
				set[aws.ToString(d.DeviceName)] = true
			}
		}
	}

	names := make([]string, 0, len(set))
	for d := range set {
		names = append(names, d)
	}
	sort.Strings(names)
	return names, nil
}

func (a *Admin) deleteFleetResources(ctx context.Context, fleet Fleet, o FleetDeleteOptions, res *TeardownResult) error {
	if err := a.deleteFleetPolicy(ctx, fleet.PolicyName, res); err != nil {
		return err
	}
	if fleet.SageMaker {
		_, err := a.sm.DeleteDeviceFleet(ctx, &sagemaker.DeleteDeviceFleetInput{DeviceFleetName: aws.String(fleet.Name)})
		switch {
		case err == nil:
			res.Actions = append(res.Actions, "deleted SageMaker device fleet "+fleet.Name)
		case !isNotFound(err) && !hasCode(err, "ValidationException"):
			return fmt.Errorf("delete device fleet %s: %w", fleet.Name, err)
		}
	}
	_, err := a.iot.DeleteRoleAlias(ctx, &iot.DeleteRoleAliasInput{RoleAlias: aws.String(fleet.RoleAlias)})
	switch {
	case err == nil:
		res.Actions = append(res.Actions, "deleted role alias "+fleet.RoleAlias)
	case !isNotFound(err):
		return fmt.Errorf("delete role alias %s: %w", fleet.RoleAlias, err)
	}
	if fleet.CreatedRole && !o.KeepRole {
		return a.deleteRole(ctx, fleet.RoleARN, res)
	}
	return nil
}

func (a *Admin) deleteFleetPolicy(ctx context.Context, name string, res *TeardownResult) error {
	pg := iot.NewListTargetsForPolicyPaginator(a.iot, &iot.ListTargetsForPolicyInput{PolicyName: aws.String(name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list targets of policy %s: %w", name, err)
		}
		for _, t := range page.Targets {
			if _, err := a.iot.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(name), Target: aws.String(t)}); err != nil && !isNotFound(err) {
				return fmt.Errorf("detach policy %s from %s: %w", name, t, err)
			}
		}
	}
	_, err := a.iot.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String(name)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	if err == nil {
		res.Actions = append(res.Actions, "deleted policy "+name)
	}
	return nil
}

// deleteRole removes the role's policies, then the role.
func (a *Admin) deleteRole(ctx context.Context, roleARN string, res *TeardownResult) error {
	name := roleARN[strings.LastIndex(roleARN, "/")+1:]
	inline, err := a.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list policies of role %s: %w", name, err)
	}
	for _, p := range inline.PolicyNames {
		if _, err := a.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete policy %s of role %s: %w", p, name, err)
		}
	}
	attached, err := a.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("list attached policies of role %s: %w", name, err)
	}
	for _, p := range attached.AttachedPolicies {
		if _, err := a.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: p.PolicyArn}); err != nil && !isNotFound(err) {
			return fmt.Errorf("detach %s from role %s: %w", aws.ToString(p.PolicyArn), name, err)
		}
	}
	if _, err := a.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete role %s: %w", name, err)
	}
	res.Actions = append(res.Actions, "deleted IAM role "+name)
	return nil
}
