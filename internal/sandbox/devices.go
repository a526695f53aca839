package sandbox

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// DeviceFiles are a device's authorization files in PEM form: its
// certificate, its private key, and the root CA to pin (the sandbox CA).
// The fields match certstore.Files, so one converts to the other.
type DeviceFiles struct {
	Cert, Key, CA []byte
}

// DeviceOptions describes a device for [Sandbox.NewDeviceWith].
type DeviceOptions struct {
	// Thing is the IoT thing to create and attach; empty for none.
	Thing string
	// RoleAlias is the alias the device's policy allows; empty for no
	// policy.
	RoleAlias string
	// KeyType is the key algorithm; default ECDSA P-256.
	KeyType KeyType
	// NotBefore and NotAfter bound the certificate; default from an hour
	// before the sandbox clock's now for Options.DeviceValidity.
	NotBefore, NotAfter time.Time
	// Status is the certificate's IoT status; default ACTIVE.
	Status string
}

// AddRoleAlias creates or replaces the role alias name for roleARN. Issued
// credentials last duration (rounded up to whole seconds); zero means the
// sandbox's default CredentialDuration.
func (sb *Sandbox) AddRoleAlias(name, roleARN string, duration time.Duration) *RoleAlias {
	ra := &RoleAlias{
		Name:            name,
		ARN:             sb.State.ARN("iot", "rolealias/"+name),
		RoleARN:         roleARN,
		DurationSeconds: int32((duration + time.Second - 1) / time.Second),
	}
	sb.State.Do(func(s *State) { s.RoleAliases[name] = ra })
	return ra
}

// NewDevice issues an ECDSA device certificate signed by the sandbox CA,
// registers it ACTIVE, creates thing and attaches it to the certificate,
// and attaches the policy that allows iot:AssumeRoleWithCertificate on
// roleAlias (created once per alias, named [PolicyName]). The role alias
// itself need not exist (see [Sandbox.AddRoleAlias]).
func (sb *Sandbox) NewDevice(ctx context.Context, thing, roleAlias string) (DeviceFiles, error) {
	return sb.NewDeviceWith(ctx, DeviceOptions{Thing: thing, RoleAlias: roleAlias})
}

// NewDeviceWith is [Sandbox.NewDevice] with every choice spelled out.
func (sb *Sandbox) NewDeviceWith(ctx context.Context, o DeviceOptions) (DeviceFiles, error) {
	if err := ctx.Err(); err != nil {
		return DeviceFiles{}, err
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = sb.opts.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(sb.opts.DeviceValidity)
	}
	cn := o.Thing
	if cn == "" {
		cn = "sandbox-device"
	}

	certPEM, keyPEM, err := sb.Authority.DeviceCertificate(cn, o.KeyType, o.NotBefore, o.NotAfter)
	if err != nil {
		return DeviceFiles{}, err
	}
	if _, err := sb.RegisterCertificate(certPEM, o.Status); err != nil {
		return DeviceFiles{}, err
	}
	if err := sb.attachDevice(certPEM, o.Thing, o.RoleAlias); err != nil {
		return DeviceFiles{}, err
	}
	return DeviceFiles{Cert: certPEM, Key: keyPEM, CA: sb.CA}, nil
}

// RegisterCertificate records certPEM in State with status (default
// ACTIVE) and returns its ID. A certificate already known keeps its
// attachments and takes the new status.
func (sb *Sandbox) RegisterCertificate(certPEM []byte, status string) (string, error) {
	id, err := CertificateID(certPEM)
	if err != nil {
		return "", err
	}
	if status == "" {
		status = "ACTIVE"
	}
	sb.State.Do(func(s *State) {
		if c, ok := s.Certificates[id]; ok {
			c.Status = status
			return
		}
		s.Certificates[id] = &Certificate{ID: id, ARN: s.ARN("iot", "cert/"+id),
			PEM: string(certPEM), Status: status}
	})
	return id, nil
}

// SetCertificateStatus changes the IoT status of the certificate with id
// (ACTIVE, INACTIVE, REVOKED...).
func (sb *Sandbox) SetCertificateStatus(id, status string) error {
	var err error
	sb.State.Do(func(s *State) {
		c, ok := s.Certificates[id]
		if !ok {
			err = fmt.Errorf("set status of certificate %s: no such certificate", id)
			return
		}
		c.Status = status
	})
	return err
}

// PolicyName returns the name of the policy that [Sandbox.NewDevice]
// creates for roleAlias.
func PolicyName(roleAlias string) string { return roleAlias + "-AssumeRoleWithCertificate" }

// PolicyDocument returns a policy that allows iot:AssumeRoleWithCertificate
// on the role alias with ARN aliasARN.
func PolicyDocument(aliasARN string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":"iot:AssumeRoleWithCertificate","Resource":` + strconv.Quote(aliasARN) + `}]}`
}

func (sb *Sandbox) attachDevice(certPEM []byte, thing, alias string) error {
	id, err := CertificateID(certPEM)
	if err != nil {
		return err
	}
	sb.State.Do(func(s *State) {
		c := s.Certificates[id]
		if thing != "" {
			if _, ok := s.Things[thing]; !ok {
				s.Things[thing] = &Thing{Name: thing, ARN: s.ARN("iot", "thing/"+thing),
					ID: randomUUID(), Version: 1}
			}
			c.Things = appendOnce(c.Things, thing)
		}
		if alias != "" {
			name := PolicyName(alias)
			if _, ok := s.Policies[name]; !ok {
				s.Policies[name] = &Policy{Name: name, ARN: s.ARN("iot", "policy/"+name),
					Document: PolicyDocument(s.ARN("iot", "rolealias/"+alias))}
			}
			c.Policies = appendOnce(c.Policies, name)
		}
	})
	return nil
}

func appendOnce(list []string, v string) []string {
	if contains(list, v) {
		return list
	}
	return append(list, v)
}

func randomUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// AgentConfig returns an edge-agent.yaml for a device of this sandbox:
// thing_name, role_alias, credential_endpoint (the sandbox's, so
// allow_custom_endpoint is true) and region.
func (sb *Sandbox) AgentConfig(thing, roleAlias string) []byte {
	return fmt.Appendf(nil, "thing_name: %s\nrole_alias: %s\ncredential_endpoint: %s\n"+
		"region: %s\nallow_custom_endpoint: true\n",
		strconv.Quote(thing), strconv.Quote(roleAlias),
		strconv.Quote(sb.CredentialsEndpoint), strconv.Quote(sb.Region))
}
