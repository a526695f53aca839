package admin

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// teardownTargets is what a deprovision found for a device.
type teardownTargets struct {
	thing      string
	thingFound bool
	bucket     string
	certs      []string
}

// planDeprovision lists in res.Plan what a deprovision would remove, with
// read calls only.
func (a *Admin) planDeprovision(ctx context.Context, fleet Fleet, device string, t teardownTargets, res *TeardownResult) error {
	for _, arn := range t.certs {
		res.Plan = append(res.Plan, "delete certificate "+certificateIDFromARN(arn)+" (detach its policies and thing, deactivate)")
	}
	if t.thingFound {
		res.Plan = append(res.Plan, "delete thing "+t.thing)
	}
	if fleet.SageMaker {
		_, err := a.sm.DescribeDevice(ctx, &sagemaker.DescribeDeviceInput{DeviceFleetName: aws.String(fleet.Name), DeviceName: aws.String(device)})
		if err != nil && !isNotFound(err) && !isRefusal(err) {
			return fmt.Errorf("describe device %s: %w", device, err)
		}
		if err == nil {
			res.Plan = append(res.Plan, "deregister device "+device)
		}
	}
	if t.bucket != "" {
		n, err := a.walkPrefix(ctx, t.bucket, AuthorizationPrefix(device), false)
		if err != nil {
			return err
		}
		if n > 0 {
			res.Plan = append(res.Plan, fmt.Sprintf("delete %d objects under s3://%s/%s", n, t.bucket, AuthorizationPrefix(device)))
		}
	}
	if dir := a.state.deviceDir(fleet.Name, device); exists(dir) {
		res.Plan = append(res.Plan, "remove local state "+dir)
	}
	return nil
}

// planFleetDelete lists in res.Plan what a fleet delete would remove, with
// read calls only.
func (a *Admin) planFleetDelete(ctx context.Context, fleet Fleet, o FleetDeleteOptions, devices []string, res *TeardownResult) error {
	for _, d := range devices {
		r, err := a.deprovision(ctx, fleet, DeprovisionOptions{Fleet: fleet.Name, Device: d, DryRun: true})
		if err != nil {
			return err
		}
		res.Plan = append(res.Plan, r.Plan...)
	}

	_, err := a.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String(fleet.PolicyName)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("get policy %s: %w", fleet.PolicyName, err)
	}
	if err == nil {
		res.Plan = append(res.Plan, "delete policy "+fleet.PolicyName+" (detach it from its targets)")
	}
	if fleet.SageMaker && !res.FleetNotFound {
		res.Plan = append(res.Plan, "delete SageMaker device fleet "+fleet.Name)
	}
	if !res.FleetNotFound {
		res.Plan = append(res.Plan, "delete role alias "+fleet.RoleAlias)
	}
	if fleet.CreatedRole && !o.KeepRole {
		res.Plan = append(res.Plan, "delete IAM role "+fleet.RoleARN[strings.LastIndex(fleet.RoleARN, "/")+1:])
	}
	if dir := a.state.fleetDir(fleet.Name); exists(dir) {
		res.Plan = append(res.Plan, "remove local state "+dir)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
