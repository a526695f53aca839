package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"gopkg.in/yaml.v3"

	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// The conditions device verify checks, named as they are reported.
const (
	CondCertificateActive = "certificate active"
	CondPolicyAttached    = "policy attached to certificate"
	CondPolicyAllows      = "policy allows iot:AssumeRoleWithCertificate on the role alias"
	CondThingAttached     = "thing attached to certificate"
	CondRoleAlias         = "role alias exists"
	CondEndpoint          = "credentials endpoint is the account's"
)

// VerifyOptions describes admin device verify.
type VerifyOptions struct {
	Fleet, Device string
	// Bucket is where the device's files are, when the local state has
	// none; default the fleet's bucket.
	Bucket string
	// Timeout bounds the credentials call; default 15 s.
	Timeout time.Duration
}

// Condition is one checked condition.
type Condition struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// VerifyResult is the outcome of device verify.
type VerifyResult struct {
	// Fleet is the device's fleet, as given or as found.
	Fleet     string `json:"fleet"`
	Device    string `json:"device"`
	Thing     string `json:"thing"`
	RoleAlias string `json:"role_alias"`
	Endpoint  string `json:"credentials_endpoint"`
	// OK reports whether the device obtained credentials.
	OK bool `json:"ok"`
	// CredentialsError is the credentials provider's refusal, if any.
	CredentialsError string `json:"credentials_error,omitempty"`
	// AccessKeyID of the credentials obtained (never the secret).
	AccessKeyID string      `json:"access_key_id,omitempty"`
	Conditions  []Condition `json:"conditions"`
	// Missing names the conditions that do not hold.
	Missing []string `json:"missing,omitempty"`
}

// VerifyDevice does what the device will do: an mTLS call to the
// credentials endpoint with the device's certificate, key, CA and config.
// Then it checks, through the control plane, each condition the
// credentials provider needs, so that a failure names what is missing.
// Without a fleet, the fleet is the one whose local state holds the device,
// else the one the device's thing (named as the device) records.
func (a *Admin) VerifyDevice(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	if err := ValidateDeviceName(o.Device); err != nil {
		return VerifyResult{}, err
	}
	if o.Fleet == "" {
		fleet, err := a.deviceFleet(ctx, o.Device)
		if err != nil {
			return VerifyResult{}, err
		}
		o.Fleet = fleet
	}
	if err := ValidateFleetName(o.Fleet); err != nil {
		return VerifyResult{}, err
	}
	files, cfg, err := a.verifyInputs(ctx, o)
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Fleet: o.Fleet, Device: o.Device, Thing: cfg.ThingName, RoleAlias: cfg.RoleAlias,
		Endpoint: cfg.CredentialEndpoint}

	if err := a.callCredentials(ctx, files, cfg, o.Timeout, &res); err != nil {
		return res, err
	}
	if err := a.diagnose(ctx, files.Cert, cfg, &res); err != nil {
		return res, err
	}
	for _, c := range res.Conditions {
		if !c.OK {
			res.Missing = append(res.Missing, c.Name)
		}
	}
	return res, nil
}

// deviceFleet finds the fleet of a device: the only fleet whose local
// state holds it, else the fleet attribute of the thing named as the
// device, when the thing says it is that device's.
func (a *Admin) deviceFleet(ctx context.Context, device string) (string, error) {
	fleets, err := a.state.fleetsOf(device)
	if err != nil {
		return "", err
	}
	switch len(fleets) {
	case 1:
		return fleets[0], nil
	case 0:
	default:
		return "", fmt.Errorf("device %s has local state in fleets %s: pass --fleet", device, strings.Join(fleets, ", "))
	}

	d, err := a.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(device)})
	if err != nil && !isNotFound(err) {
		return "", fmt.Errorf("describe thing %s: %w", device, err)
	}
	if err == nil && d.Attributes[attrFleet] != "" && d.Attributes[attrDevice] == device {
		return d.Attributes[attrFleet], nil
	}
	return "", fmt.Errorf("device %s: no local state, and no thing %s naming its fleet: pass --fleet", device, device)
}

// verifyInputs finds the device's files: in the local state, else in S3.
func (a *Admin) verifyInputs(ctx context.Context, o VerifyOptions) (authFiles, agentConfig, error) {
	st, err := a.state.loadDevice(o.Fleet, o.Device)
	if err != nil {
		return authFiles{}, agentConfig{}, err
	}
	bucket := firstOf(o.Bucket, st.Bucket)
	if bucket == "" {
		f, err := a.LookupFleet(ctx, o.Fleet)
		if err != nil {
			return authFiles{}, agentConfig{}, err
		}
		bucket = f.Bucket()
	}
	files, err := a.downloadFiles(ctx, bucket, AuthorizationPrefix(o.Device))
	if err != nil {
		return authFiles{}, agentConfig{}, err
	}
	if key, err := a.state.read(o.Fleet, o.Device, keyFile); err == nil {
		files.Key = key
	}
	if cert, err := a.state.read(o.Fleet, o.Device, certFile); err == nil {
		files.Cert = cert
	}
	if len(files.Cert) == 0 || len(files.Config) == 0 {
		return authFiles{}, agentConfig{}, fmt.Errorf("device %s: no certificate or %s in the local state or s3://%s/%s: provision it first",
			o.Device, ConfigFile, bucket, AuthorizationPrefix(o.Device))
	}
	var cfg agentConfig
	if err := yaml.Unmarshal(files.Config, &cfg); err != nil {
		return authFiles{}, agentConfig{}, fmt.Errorf("parse %s of %s: %w", ConfigFile, o.Device, err)
	}
	return files, cfg, nil
}

// callCredentials makes the device's call; without the key (CSR devices)
// it is skipped and only the conditions are checked.
func (a *Admin) callCredentials(ctx context.Context, f authFiles, cfg agentConfig, timeout time.Duration, res *VerifyResult) error {
	if len(f.Key) == 0 {
		res.CredentialsError = "not called: the private key is on the device (CSR), so only the cloud-side conditions are checked"
		return nil
	}
	cert, err := tls.X509KeyPair(f.Cert, f.Key)
	if err != nil {
		return fmt.Errorf("load certificate and key of %s: the key does not match the certificate or does not parse", res.Device)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(f.CA) {
		return fmt.Errorf("load root CA of %s: no certificate in the uploaded CA file", res.Device)
	}
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	client, err := credprovider.NewClient(credprovider.ClientOptions{Endpoint: cfg.CredentialEndpoint,
		RoleAlias: cfg.RoleAlias, ThingName: cfg.ThingName, Certificate: cert, Roots: roots,
		ConnectTimeout: timeout, Timeout: timeout})
	if err != nil {
		return err
	}

	out, err := client.Fetch(ctx)
	if err == nil {
		res.OK, res.AccessKeyID = true, out.AccessKeyID
		return nil
	}
	var ce *credprovider.Error
	if !errors.As(err, &ce) {
		return err
	}
	res.CredentialsError = ce.Error()
	return nil
}

// diagnose checks each condition the credentials provider needs.
func (a *Admin) diagnose(ctx context.Context, certPEM []byte, cfg agentConfig, res *VerifyResult) error {
	id := certificateID(certPEM)
	add := func(name string, ok bool, detail string) {
		res.Conditions = append(res.Conditions, Condition{Name: name, OK: ok, Detail: detail})
	}

	dc, err := a.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	switch {
	case isNotFound(err):
		add(CondCertificateActive, false, "certificate "+id+" does not exist in this account")
		return nil
	case err != nil:
		return fmt.Errorf("describe certificate %s: %w", id, err)
	}
	status := dc.CertificateDescription.Status
	add(CondCertificateActive, status == iottypes.CertificateStatusActive, "status "+string(status))
	certARN := aws.ToString(dc.CertificateDescription.CertificateArn)

	aliasARN, err := a.checkRoleAlias(ctx, cfg.RoleAlias, add)
	if err != nil {
		return err
	}
	if err := a.checkPolicies(ctx, certARN, aliasARN, add); err != nil {
		return err
	}
	if err := a.checkThing(ctx, cfg.ThingName, certARN, add); err != nil {
		return err
	}
	return a.checkEndpoint(ctx, cfg.CredentialEndpoint, add)
}

type addFunc func(name string, ok bool, detail string)

func (a *Admin) checkRoleAlias(ctx context.Context, alias string, add addFunc) (string, error) {
	ra, err := a.iot.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(alias)})
	if isNotFound(err) {
		add(CondRoleAlias, false, "role alias "+alias+" does not exist")
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describe role alias %s: %w", alias, err)
	}
	add(CondRoleAlias, true, aws.ToString(ra.RoleAliasDescription.RoleAliasArn))
	return aws.ToString(ra.RoleAliasDescription.RoleAliasArn), nil
}

func (a *Admin) checkPolicies(ctx context.Context, certARN, aliasARN string, add addFunc) error {
	names, err := a.attachedPolicies(ctx, certARN)
	if err != nil {
		return err
	}
	add(CondPolicyAttached, len(names) > 0, fmt.Sprintf("%d attached: %v", len(names), names))

	for _, name := range names {
		p, err := a.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("get policy %s: %w", name, err)
		}
		if aliasARN != "" && policyRefusal(aws.ToString(p.PolicyDocument), aliasARN) == "" {
			add(CondPolicyAllows, true, "policy "+name)
			return nil
		}
	}
	add(CondPolicyAllows, false, "no attached policy allows iot:AssumeRoleWithCertificate on "+firstOf(aliasARN, "the role alias"))
	return nil
}

func (a *Admin) checkThing(ctx context.Context, thing, certARN string, add addFunc) error {
	if thing == "" {
		return nil
	}
	p := &provisioner{a: a}
	principals, err := p.thingPrincipals(ctx, thing)
	if err != nil {
		return err
	}
	add(CondThingAttached, slices.Contains(principals, certARN), "thing "+thing)
	return nil
}

func (a *Admin) checkEndpoint(ctx context.Context, endpoint string, add addFunc) error {
	want, err := a.CredentialsEndpoint(ctx)
	if err != nil {
		return err
	}
	add(CondEndpoint, endpoint == want, fmt.Sprintf("device uses %s, account's is %s", endpoint, want))
	return nil
}
