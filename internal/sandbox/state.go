package sandbox

import (
	"fmt"
	"sync"
	"time"

	"github.com/edge-agent/edge-agent/internal/iampolicy"
)

// Account is the AWS account ID that every sandbox ARN carries.
const Account = "123456789012"

// Certificate is an IoT certificate the sandbox knows, keyed by its ID (the
// SHA-256 of its DER bytes in lower-case hex, as IoT does).
type Certificate struct {
	ID       string
	ARN      string
	PEM      string
	Status   string // ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER...
	Policies []string
	Things   []string
	// Created is when the certificate was created (zero when unknown);
	// ListCertificates orders by it.
	Created time.Time
}

// Thing is an IoT thing.
type Thing struct {
	Name      string
	ARN       string
	ID        string
	ThingType string
	Version   int64
}

// Policy is an IoT policy with its JSON document.
type Policy struct {
	Name     string
	ARN      string
	Document string
}

// RoleAlias is an IoT role alias.
type RoleAlias struct {
	Name            string
	ARN             string
	RoleARN         string
	DurationSeconds int32
}

// State is the sandbox's account: every resource that the control-plane calls
// create and that the credentials provider checks. All methods are safe for
// concurrent use. Handlers that need several steps to be atomic take the lock
// themselves with [State.Do].
type State struct {
	mu           sync.Mutex
	Region       string
	Certificates map[string]*Certificate
	Things       map[string]*Thing
	Policies     map[string]*Policy
	RoleAliases  map[string]*RoleAlias
	// Extra holds the resources of control-plane services that the
	// credentials provider does not look at (thing types, fleets, devices,
	// IAM roles), keyed by a kind such as "fleet", then by name.
	Extra map[string]map[string]any
}

// NewState returns an empty account in region.
func NewState(region string) *State {
	return &State{
		Region:       region,
		Certificates: map[string]*Certificate{},
		Things:       map[string]*Thing{},
		Policies:     map[string]*Policy{},
		RoleAliases:  map[string]*RoleAlias{},
		Extra:        map[string]map[string]any{},
	}
}

// Do runs fn with the state locked.
func (s *State) Do(fn func(s *State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// ARN returns the ARN of an IoT resource such as "cert/abc" or "thing/t1".
func (s *State) ARN(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, s.Region, Account, resource)
}

// AuthorizeRoleAlias reports whether the certificate with id may assume the
// role alias named alias while naming thing (empty when the request carries
// no thing-name header). On refusal it returns the HTTP status and the
// message that the IoT credentials provider answers with. Policies are
// read by [iampolicy.Allows], as admin reads them, so a statement with a
// Condition neither grants nor denies.
func (s *State) AuthorizeRoleAlias(id, alias, thing string) (*RoleAlias, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	cert, ok := s.Certificates[id]
	if !ok || cert.Status != "ACTIVE" {
		return nil, 403, "Access Denied"
	}
	ra, ok := s.RoleAliases[alias]
	if !ok {
		return nil, 404, "Role alias does not exist"
	}
	if thing != "" {
		if _, ok := s.Things[thing]; !ok || !contains(cert.Things, thing) {
			return nil, 400, "Invalid thing name passed"
		}
	}
	for _, name := range cert.Policies {
		p, ok := s.Policies[name]
		if ok && iampolicy.Allows(p.Document, "iot:AssumeRoleWithCertificate", ra.ARN) {
			return ra, 0, ""
		}
	}
	return nil, 403, "Access Denied"
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
