//go:build !noadmin

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edge-agent/edge-agent/internal/admin"
)

// adminFlags are the flags every admin command shares.
type adminFlags struct {
	region, profile, endpointURL, stateDir string
	json                                   bool
	limits                                 admin.Limits
}

func (f *adminFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.region, "region", "", "AWS region, e.g. eu-west-1 (default: AWS_REGION or the profile's)")
	fs.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: AWS_PROFILE)")
	fs.StringVar(&f.endpointURL, "endpoint-url", "", "endpoint for every service; AWS_ENDPOINT_URL_IOT, _SAGEMAKER, _S3 and _IAM override it per service")
	fs.StringVar(&f.stateDir, "state-dir", "", "local state and device keys (default ~/.local/state/edge-agent/admin)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (nothing on stdout on error)")
	fs.Float64Var(&f.limits.IoT, "iot-rate", admin.DefaultLimits.IoT, "IoT calls per second at most")
	fs.Float64Var(&f.limits.SageMaker, "sagemaker-rate", admin.DefaultLimits.SageMaker, "SageMaker calls per second at most")
	fs.Float64Var(&f.limits.S3, "s3-rate", admin.DefaultLimits.S3, "S3 calls per second at most")
}

func (f *adminFlags) admin(ctx context.Context) (*admin.Admin, error) {
	return admin.New(ctx, admin.Options{Region: f.region, Profile: f.profile, EndpointURL: f.endpointURL,
		StateDir: f.stateDir, Limits: f.limits})
}

// print writes v as JSON, or as the text that text returns.
func (f *adminFlags) print(w io.Writer, v any, text func() string) error {
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprint(w, text())
	return err
}

// report ends an admin command. On success it prints the result on
// stdout, as JSON or as text renders it. On error stdout stays empty (also
// with --json): the lines that partial returns (what was done before the
// error) go to stderr, and the error, in one line, is returned.
func (f *adminFlags) report(cmd *cobra.Command, v any, text func() string, partial []string, err error) error {
	if err = admin.Explain(err); err != nil {
		for _, l := range partial {
			fmt.Fprintln(cmd.ErrOrStderr(), l)
		}
		return err
	}
	return f.print(cmd.OutOrStdout(), v, text)
}

// doneBefore labels the actions of a failed command for stderr.
func doneBefore(actions []string) []string {
	lines := make([]string, 0, len(actions))
	for _, a := range actions {
		lines = append(lines, "edge-agent: done before the error: "+a)
	}
	return lines
}

// requiredFlag defines the string flag name, without which cmd refuses to
// run.
func requiredFlag(cmd *cobra.Command, p *string, name, usage string) {
	cmd.Flags().StringVar(p, name, "", usage)
	_ = cmd.MarkFlagRequired(name)
}

// runAdmin makes an [admin.Admin] from f, calls call with o and reports
// its result (see [adminFlags.report]): text renders it on success,
// partial lists for stderr what a failed call did.
func runAdmin[O, R any](ctx context.Context, cmd *cobra.Command, f *adminFlags,
	call func(*admin.Admin, context.Context, O) (R, error), o O, text func(R) string, partial func(R) []string) error {
	a, err := f.admin(ctx)
	if err != nil {
		return err
	}
	res, err := call(a, ctx, o)
	return f.report(cmd, res, func() string { return text(res) }, partial(res), err)
}

// signalContext is cancelled by Ctrl-C or SIGTERM, so that a long run
// stops between steps with its state saved.
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Set up and tear down a fleet in the cloud (operators)",
		Long: `admin does the cloud side of a fleet with the operator's AWS credentials (the
standard chain: environment, --profile, SSO, instance role): the IAM role, the
SageMaker device fleet or IoT role alias, things, certificates, the fleet
policy, and each device's authorization files in S3.

Every command is idempotent: after a failure or Ctrl-C, run it again and it
finishes the rest. Progress is kept in --state-dir (0700, device keys 0600).

On success the result goes to stdout (--json for scripts) and the exit
status is 0. On error stdout stays empty, also with --json: what was done
before the error, then the error in one line, go to stderr, and the exit
status is 1. Progress lines and notes always go to stderr.`,
		Example: `  edge-agent admin fleet create --fleet line-1 --create-role --output s3://my-bucket/line-1
  edge-agent admin device provision --fleet line-1 --device cam-0001
  edge-agent admin device verify --fleet line-1 --device cam-0001
  edge-agent admin fleet provision --fleet line-1 --manifest devices.csv
  edge-agent admin fleet delete --fleet line-1`,
	}
	cmd.AddCommand(newAdminFleetCmd(), newAdminDeviceCmd())
	return cmd
}

func newAdminFleetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "fleet", Short: "Create, provision or delete a fleet"}
	cmd.AddCommand(newFleetCreateCmd(), newFleetProvisionCmd(), newFleetDeleteCmd())
	return cmd
}

func newAdminDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Provision, verify or deprovision one device"}
	cmd.AddCommand(newDeviceProvisionCmd(), newDeviceVerifyCmd(), newDeviceDeprovisionCmd())
	return cmd
}

func newFleetCreateCmd() *cobra.Command {
	var f adminFlags
	var o admin.FleetCreateOptions
	var policyFile string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create the fleet: SageMaker device fleet (or IoT role alias) and optionally its IAM role",
		Long: `create makes the fleet. With SageMaker (the default) it calls CreateDeviceFleet
with an IoT role alias and reads the alias back; with --without-sagemaker, or
when SageMaker refuses (Edge Manager was discontinued in April 2024), it
creates the role alias SageMakerEdge-<fleet> itself. The fleet's settings are
recorded as tags on the role alias, so later commands need only --fleet.`,
		Example: `  edge-agent admin fleet create --fleet line-1 --role-arn arn:aws:iam::123456789012:role/EdgeFleet --output s3://my-bucket/line-1
  edge-agent admin fleet create --fleet line-1 --create-role --without-sagemaker --output s3://my-bucket/line-1 --credential-duration 7200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return fmt.Errorf("read permissions policy: %w", err)
				}
				o.PermissionsPolicy = string(b)
			}
			a, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			res, err := a.CreateFleet(cmd.Context(), o)
			for _, n := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "edge-agent: note:", n)
			}
			return f.report(cmd, res, func() string { return fleetText(res) }, doneBefore(res.Actions), err)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	requiredFlag(cmd, &o.Fleet, "fleet", "fleet name (letters, digits, hyphens; at most 63)")
	fs.StringVar(&o.RoleARN, "role-arn", "", "IAM role the devices' credentials come from")
	fs.StringVar(&o.Output, "output", "", "SageMaker output location s3://bucket/prefix; its bucket receives device files (cannot change once the fleet exists)")
	fs.BoolVar(&o.WithoutSageMaker, "without-sagemaker", false, "make the fleet an IoT role alias only")
	fs.BoolVar(&o.CreateRole, "create-role", false, "create the IAM role (trusted by credentials.iot.amazonaws.com)")
	fs.StringVar(&o.RoleName, "role-name", "", "name of the role --create-role makes (default EdgeAgent-<fleet>)")
	fs.StringVar(&policyFile, "permissions-policy", "", "JSON file: the role's permissions (default the SageMaker edge fleet managed policy)")
	fs.Int32Var(&o.CredentialDuration, "credential-duration", 3600, "credential lifetime in seconds, 900 to 43200 (IoT-only fleets)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the plan, call nothing")
	return cmd
}

func fleetText(r admin.FleetResult) string {
	var b strings.Builder
	for _, p := range r.Plan {
		fmt.Fprintln(&b, "plan:", p)
	}
	for _, a := range r.Actions {
		fmt.Fprintln(&b, a)
	}
	fmt.Fprintf(&b, "fleet %s: role alias %s (%s), role %s, sagemaker %v\n",
		r.Name, r.RoleAlias, r.RoleAliasARN, r.RoleARN, r.SageMaker)
	return b.String()
}

func newFleetProvisionCmd() *cobra.Command {
	var f adminFlags
	var o admin.BulkOptions
	var manifest, rootCA string
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Provision every device of a CSV manifest",
		Long: `provision runs device provision for each row of a CSV manifest whose header
names its columns: device (required), thing, thing_type, csr (a CSR file path).
Devices run --concurrency at a time under the --iot-rate and --sagemaker-rate
limits; SageMaker registration goes in batches. Ctrl-C stops between steps;
run the same command again to resume. Progress goes to stderr.`,
		Example: `  printf 'device,thing_type\ncam-0001,camera\ncam-0002,camera\n' > devices.csv
  edge-agent admin fleet provision --fleet line-1 --manifest devices.csv --concurrency 16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := readManifest(manifest)
			if err != nil {
				return err
			}
			if o.RootCA, err = readOptional(rootCA); err != nil {
				return err
			}
			o.Manifest, o.Progress = entries, admin.NewProgress(cmd.ErrOrStderr())
			ctx, stop := signalContext(cmd)
			defer stop()
			return runAdmin(ctx, cmd, &f, (*admin.Admin).ProvisionFleet, o, bulkText, bulkFailures)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	requiredFlag(cmd, &o.Fleet, "fleet", "fleet name")
	requiredFlag(cmd, &manifest, "manifest", "CSV file of devices")
	fs.StringVar(&o.Bucket, "bucket", "", "bucket for the devices' files (default the fleet's output bucket)")
	fs.StringVar(&rootCA, "root-ca", "", "PEM file uploaded as AmazonRootCA1.pem (default Amazon Root CA 1; the sandbox CA for the sandbox)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "devices in flight at once")
	fs.IntVar(&o.RegisterBatch, "register-batch", 10, "devices per SageMaker RegisterDevices call")
	fs.BoolVar(&o.Recheck, "recheck", false, "verify finished devices with read calls instead of trusting the state")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print each device's remaining steps from the local state, call nothing")
	return cmd
}

func bulkText(r admin.BulkResult) string {
	var b strings.Builder
	if len(r.Plan) > 0 {
		for _, p := range r.Plan {
			fmt.Fprintln(&b, "plan:", p)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "fleet %s: %d devices: %d provisioned, %d already done, %d failed, in %s\n",
		r.Fleet, r.Total, r.Provisioned, r.AlreadyDone, len(r.Failed), r.Elapsed.Round(1e6))
	for _, d := range r.Failed {
		fmt.Fprintf(&b, "failed %s at %s: %s\n", d.Device, d.Step, d.Error)
	}
	return b.String()
}

// bulkFailures is what stderr gets when a fleet provision fails: the
// counts and each failed device.
func bulkFailures(r admin.BulkResult) []string {
	if r.Total == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(bulkText(r), "\n"), "\n")
}

func readManifest(path string) ([]admin.ManifestEntry, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer fh.Close()
	return admin.ParseManifest(fh)
}

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

func newFleetDeleteCmd() *cobra.Command {
	var f adminFlags
	var o admin.FleetDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Deprovision every device, then delete the fleet policy, fleet, role alias and created role",
		Long: `delete deprovisions every device of the fleet, then deletes the fleet policy,
the SageMaker device fleet, the role alias and, when admin created it, the IAM
role. It is idempotent: a fleet that does not exist (deleted before, or a
typo) is reported as "fleet F not found (nothing to remove)", exit status 0.`,
		Example: `  edge-agent admin fleet delete --fleet line-1 --dry-run
  edge-agent admin fleet delete --fleet line-1
  edge-agent admin fleet delete --fleet line-1 --keep-role`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			return runAdmin(ctx, cmd, &f, (*admin.Admin).DeleteFleet, o, teardownText, teardownDone)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	requiredFlag(cmd, &o.Fleet, "fleet", "fleet name")
	fs.BoolVar(&o.KeepRole, "keep-role", false, "keep the IAM role even if admin created it")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "devices deprovisioned at once")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print what would be removed, with read calls only")
	return cmd
}

func teardownText(r admin.TeardownResult) string {
	if len(r.Plan) > 0 {
		return "plan: " + strings.Join(r.Plan, "\nplan: ") + "\n"
	}
	switch {
	case len(r.Actions) > 0:
		return strings.Join(r.Actions, "\n") + "\n"
	case r.Device != "":
		return fmt.Sprintf("device %s not found in fleet %s (nothing to remove)\n", r.Device, r.Fleet)
	case r.FleetNotFound:
		return fmt.Sprintf("fleet %s not found (nothing to remove)\n", r.Fleet)
	}
	return fmt.Sprintf("fleet %s: nothing to remove\n", r.Fleet)
}

func teardownDone(r admin.TeardownResult) []string { return doneBefore(r.Actions) }

func newDeviceProvisionCmd() *cobra.Command {
	var f adminFlags
	var o admin.DeviceOptions
	var csr, rootCA string
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Provision one device: thing, registration, certificate, policy, endpoint and S3 files",
		Long: `provision runs the guide's steps in order: CreateThingType (when absent),
CreateThing, RegisterDevices (SageMaker fleets), CreateCertificateFromCsr (for
an ECDSA P-256 key admin makes and records, 0600, in the state folder before
the call, so that a run killed before recording the answer finds the
certificate again by its key; or, with --csr, the device's CSR, so the key
never leaves the device), the fleet policy (created once), AttachPolicy, AttachThingPrincipal,
DescribeEndpoint iot:CredentialProvider, and the upload of device.pem.crt,
private.pem.key (not with --csr), AmazonRootCA1.pem and edge-agent.yaml to
s3://<bucket>/authorization-files/<device>/ with server-side encryption.
The device then needs only:
  edge-agent bootstrap --bucket <bucket> --prefix authorization-files/<device>/`,
		Example: `  edge-agent admin device provision --fleet line-1 --device cam-0001
  edge-agent admin device provision --fleet line-1 --device cam-0002 --thing-type camera --csr cam-0002.csr
  edge-agent admin device provision --fleet line-1 --device cam-0001 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.CSR, err = readOptional(csr); err != nil {
				return err
			}
			if o.RootCA, err = readOptional(rootCA); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			return runAdmin(ctx, cmd, &f, (*admin.Admin).ProvisionDevice, o, deviceText, deviceDone)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	requiredFlag(cmd, &o.Fleet, "fleet", "fleet name")
	requiredFlag(cmd, &o.Device, "device", "device name (letters, digits, hyphens; at most 63)")
	fs.StringVar(&o.Thing, "thing", "", "IoT thing name (default the device name)")
	fs.StringVar(&o.ThingType, "thing-type", "", "IoT thing type, created when absent")
	fs.StringVar(&o.Bucket, "bucket", "", "bucket for the device's files (default the fleet's output bucket)")
	fs.StringVar(&csr, "csr", "", "PEM CSR made on the device; its key is never uploaded")
	fs.StringVar(&rootCA, "root-ca", "", "PEM file uploaded as AmazonRootCA1.pem (default Amazon Root CA 1; the sandbox CA for the sandbox)")
	fs.BoolVar(&o.Recheck, "recheck", false, "verify finished steps with read calls instead of trusting the state")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the plan, call nothing")
	return cmd
}

func deviceText(r admin.DeviceResult) string {
	var b strings.Builder
	for _, p := range r.Plan {
		fmt.Fprintln(&b, "plan:", p)
	}
	if len(r.Plan) > 0 {
		return b.String()
	}
	for _, a := range r.Actions {
		fmt.Fprintln(&b, a)
	}
	switch {
	case len(r.Actions) > 0:
	case len(r.Skipped) > 0:
		fmt.Fprintln(&b, "nothing to do: already provisioned according to the local state; "+
			"add --recheck to check each step against AWS and repair what is missing")
	default:
		fmt.Fprintln(&b, "nothing to do: already provisioned (each step checked against AWS)")
	}
	fmt.Fprintf(&b, "device %s: thing %s, certificate %s, endpoint %s, files s3://%s/%s\n",
		r.Device, r.Thing, r.CertificateID, r.Endpoint, r.Bucket, r.Prefix)
	return b.String()
}

func deviceDone(r admin.DeviceResult) []string { return doneBefore(r.Actions) }

func newDeviceVerifyCmd() *cobra.Command {
	var f adminFlags
	var o admin.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Call the credentials endpoint as the device would, and name what is missing",
		Long: `verify makes the device's mTLS call to the IoT credentials provider with its
certificate, key, CA and edge-agent.yaml (from the local state or S3), then
checks through the control plane each condition the provider needs:
certificate active, policy attached, policy allows iot:AssumeRoleWithCertificate
on the role alias, thing attached, role alias exists, endpoint is the
account's. Exit 1 when the device cannot get credentials; the error names
what is missing and the provision --recheck that repairs it.`,
		Example: `  edge-agent admin device verify --fleet line-1 --device cam-0001 --json
  edge-agent admin device verify --device cam-0001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			res, err := a.VerifyDevice(cmd.Context(), o)
			if err == nil && !res.OK {
				err = fmt.Errorf("device %s cannot get credentials: missing %s; re-run `edge-agent admin device provision --fleet %s --device %s --recheck` to repair it",
					o.Device, strings.Join(res.Missing, "; "), res.Fleet, o.Device)
				if len(res.Missing) == 0 {
					err = fmt.Errorf("device %s cannot get credentials: %s", o.Device, res.CredentialsError)
				}
			}
			return f.report(cmd, res, func() string { return verifyText(res) }, verifyLines(res), err)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.StringVar(&o.Fleet, "fleet", "", "fleet name (default the fleet whose local state holds the device, else the one its thing records)")
	requiredFlag(cmd, &o.Device, "device", "device name")
	fs.StringVar(&o.Bucket, "bucket", "", "bucket of the device's files when the local state has none")
	return cmd
}

func verifyText(r admin.VerifyResult) string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "ok: device %s got credentials (access key %s) from %s\n", r.Device, r.AccessKeyID, r.Endpoint)
	} else if r.CredentialsError != "" {
		fmt.Fprintf(&b, "credentials call: %s\n", r.CredentialsError)
	}
	for _, c := range r.Conditions {
		mark := "ok     "
		if !c.OK {
			mark = "MISSING"
		}
		fmt.Fprintf(&b, "%s %s (%s)\n", mark, c.Name, c.Detail)
	}
	return b.String()
}

// verifyLines is what stderr gets when verify fails: the conditions
// checked, when it got that far.
func verifyLines(r admin.VerifyResult) []string {
	if len(r.Conditions) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(verifyText(r), "\n"), "\n")
}

func newDeviceDeprovisionCmd() *cobra.Command {
	var f adminFlags
	var o admin.DeprovisionOptions
	cmd := &cobra.Command{
		Use:   "deprovision",
		Short: "Remove a device: attachments, certificates, thing, registration, S3 files and local state",
		Example: `  edge-agent admin device deprovision --fleet line-1 --device cam-0001 --dry-run
  edge-agent admin device deprovision --fleet line-1 --device cam-0001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAdmin(cmd.Context(), cmd, &f, (*admin.Admin).DeprovisionDevice, o, teardownText, teardownDone)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	requiredFlag(cmd, &o.Fleet, "fleet", "fleet name")
	requiredFlag(cmd, &o.Device, "device", "device name")
	fs.StringVar(&o.Thing, "thing", "", "IoT thing name (default: as recorded, else the device name)")
	fs.StringVar(&o.Bucket, "bucket", "", "bucket of the device's files (default: as recorded)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print what would be removed, with read calls only")
	return cmd
}
