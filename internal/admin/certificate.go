package admin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
)

// certificateStep gives the device a certificate: the one the local state
// records (checked with a recheck), one recovered from the device's S3
// files, one an interrupted run asked for, or a new one.
//
// Every certificate comes from CreateCertificateFromCsr, and the request
// (admin's key, 0600, or the device's CSR) is recorded in the local state
// before the call, so that a run killed after IoT answered and before the
// answer was written finds the certificate again by its public key instead
// of leaving it behind (see requestCertificate).
//
// Without a recorded certificate the thing's principals are listed first:
// CreateThing succeeds on a thing that already exists with the same
// attributes, so a thing made by an earlier run whose local state is gone
// looks new, and only this call keeps it from getting a second certificate.
func (p *provisioner) certificateStep(ctx context.Context, st *deviceState, csr []byte) (string, error) {
	if st.CertificateID != "" {
		return "", p.checkCertificate(ctx, st)
	}
	recovered, err := p.recoverCertificate(ctx, st)
	if err != nil || recovered {
		return "", err
	}

	// A certificate created but not recorded costs a search on the next
	// run, so the create and its record are not cut short by a
	// cancellation.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	return p.requestCertificate(ctx, st, csr)
}

// keep writes a new certificate (and key) to the local state and clears
// the pending request.
func (p *provisioner) keep(st *deviceState, id, arn string, certPEM, keyPEM []byte) (string, error) {
	if keyPEM != nil {
		if err := p.a.state.write(st.Fleet, st.Device, keyFile, keyPEM); err != nil {
			return "", err
		}
	}
	if err := p.a.state.write(st.Fleet, st.Device, certFile, certPEM); err != nil {
		return "", err
	}
	st.CertificateID, st.CertificateARN, st.Request = id, arn, nil
	if err := p.a.state.saveDevice(st); err != nil {
		return "", err
	}
	return "created certificate " + id, nil
}

// checkCertificate (recheck only) confirms the recorded certificate still
// exists; one deleted behind admin's back is replaced.
func (p *provisioner) checkCertificate(ctx context.Context, st *deviceState) error {
	_, err := p.a.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(st.CertificateID)})
	if isNotFound(err) {
		return fmt.Errorf("certificate %s recorded for device %s no longer exists: deprovision the device and provision it again",
			st.CertificateID, st.Device)
	}
	if err != nil {
		return fmt.Errorf("describe certificate %s: %w", st.CertificateID, err)
	}
	return nil
}

// recoverCertificate handles a device whose local state was lost: a
// certificate already attached to its thing is taken back when its files
// (and its key, unless the device made its own) are found in the local
// state folder or under the device's S3 prefix, and refused otherwise.
func (p *provisioner) recoverCertificate(ctx context.Context, st *deviceState) (bool, error) {
	principals, err := p.thingPrincipals(ctx, st.Thing)
	if err != nil || len(principals) == 0 {
		return false, err
	}
	sources, err := p.certificateSources(ctx, st)
	if err != nil {
		return false, err
	}
	for _, arn := range principals {
		id := certificateIDFromARN(arn)
		for _, f := range sources {
			if len(f.Cert) == 0 || certificateID(f.Cert) != id || (len(f.Key) == 0 && !st.CSR) {
				continue
			}
			if _, err := p.keep(st, id, arn, f.Cert, keyOrNil(f.Key, st.CSR)); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return false, fmt.Errorf("thing %s has %w (%s), and neither the local state nor s3://%s/%s holds its key: "+
		"admin will not attach a second certificate; put the device's files back under that prefix and re-run, "+
		"or run admin device deprovision --fleet %s --device %s first",
		st.Thing, errUnknownPrincipal, certificateIDFromARN(principals[0]), st.Bucket, AuthorizationPrefix(st.Device),
		st.Fleet, st.Device)
}

// certificateSources returns the device's files where a lost run may have
// left them: the local state folder, then its S3 prefix.
func (p *provisioner) certificateSources(ctx context.Context, st *deviceState) ([]authFiles, error) {
	var local authFiles
	local.Cert, _ = p.a.state.read(st.Fleet, st.Device, certFile)
	local.Key, _ = p.a.state.read(st.Fleet, st.Device, keyFile)
	remote, err := p.a.downloadFiles(ctx, st.Bucket, AuthorizationPrefix(st.Device))
	if err != nil {
		return nil, err
	}
	return []authFiles{local, remote}, nil
}

func keyOrNil(key []byte, csr bool) []byte {
	if csr {
		return nil
	}
	return key
}

func (p *provisioner) thingPrincipals(ctx context.Context, thing string) ([]string, error) {
	var out []string
	pg := iot.NewListThingPrincipalsPaginator(p.a.iot, &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list principals of thing %s: %w", thing, err)
		}
		out = append(out, page.Principals...)
	}
	return out, nil
}

// ensurePolicy creates the fleet's policy once, or checks that the existing
// one allows what the devices need.
func (p *provisioner) ensurePolicy(ctx context.Context) (string, error) {
	p.mu.Lock()
	ok := p.policyOK
	p.mu.Unlock()
	if ok && !p.recheck {
		return "", nil
	}

	action := ""
	name, want := p.fleet.PolicyName, PolicyDocument(p.fleet.RoleAliasARN)
	got, err := p.a.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String(name)})
	if isNotFound(err) {
		_, err = p.a.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(want)})
		if isAlreadyExists(err) {
			got, err = p.a.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String(name)})
		} else if err == nil {
			action = "created policy " + name
			got = &iot.GetPolicyOutput{PolicyDocument: aws.String(want)}
		}
	}
	if err != nil {
		return "", fmt.Errorf("policy %s: %w", name, err)
	}
	if why := policyRefusal(aws.ToString(got.PolicyDocument), p.fleet.RoleAliasARN); why != "" {
		return "", fmt.Errorf("policy %s exists but %s: fix or delete it", name, why)
	}

	p.mu.Lock()
	p.policyOK = true
	p.mu.Unlock()
	return action, nil
}

func (p *provisioner) attachPolicyStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	if p.recheck {
		attached, err := p.a.attachedPolicies(ctx, st.CertificateARN)
		if err != nil {
			return "", err
		}
		if slices.Contains(attached, p.fleet.PolicyName) {
			return "", nil
		}
	}
	_, err := p.a.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(p.fleet.PolicyName),
		Target: aws.String(st.CertificateARN)})
	if err != nil {
		return "", fmt.Errorf("attach policy %s to certificate %s: %w", p.fleet.PolicyName, st.CertificateID, err)
	}
	return "attached policy " + p.fleet.PolicyName, nil
}

func (a *Admin) attachedPolicies(ctx context.Context, certARN string) ([]string, error) {
	var names []string
	pg := iot.NewListAttachedPoliciesPaginator(a.iot, &iot.ListAttachedPoliciesInput{Target: aws.String(certARN)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list policies of %s: %w", certARN, err)
		}
		for _, pol := range page.Policies {
			names = append(names, aws.ToString(pol.PolicyName))
		}
	}
	return names, nil
}

func (p *provisioner) attachThingStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	if p.recheck {
		principals, err := p.thingPrincipals(ctx, st.Thing)
		if err != nil {
			return "", err
		}
		if slices.Contains(principals, st.CertificateARN) {
			return "", nil
		}
	}
	_, err := p.a.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(st.Thing),
		Principal: aws.String(st.CertificateARN)})
	if err != nil {
		return "", fmt.Errorf("attach certificate %s to thing %s: %w", st.CertificateID, st.Thing, err)
	}
	return "attached certificate to thing " + st.Thing, nil
}

// credentialsEndpoint returns the account's iot:CredentialProvider
// endpoint, asking once per run.
func (p *provisioner) credentialsEndpoint(ctx context.Context) (string, error) {
	p.mu.Lock()
	ep := p.endpoint
	p.mu.Unlock()
	if ep != "" {
		return ep, nil
	}

	ep, err := p.a.CredentialsEndpoint(ctx)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.endpoint = ep
	p.mu.Unlock()
	return ep, nil
}

// CredentialsEndpoint returns the account's IoT credentials provider
// endpoint (DescribeEndpoint iot:CredentialProvider).
func (a *Admin) CredentialsEndpoint(ctx context.Context) (string, error) {
	out, err := a.iot.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:CredentialProvider")})
	if err != nil {
		return "", fmt.Errorf("describe endpoint iot:CredentialProvider: %w", err)
	}
	return aws.ToString(out.EndpointAddress), nil
}
