package sandbox

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// iotHandler serves one IoT call: it returns the JSON body to answer with,
// or the error. It runs with the State unlocked.
type iotHandler func(r *http.Request) (any, *APIError)

// ThingType is an IoT thing type, kept in State.Extra["thingType"].
type ThingType struct {
	Name        string
	ARN         string
	ID          string
	Description string
	Searchable  []string
	Created     time.Time
}

// Kinds of State.Extra that the control plane keeps.
const (
	KindThingType  = "thingType"  // name -> *ThingType
	KindThingAttrs = "thingAttrs" // thing name -> map[string]string
	KindTags       = "tags"       // resource ARN -> map[string]string
	KindFleet      = "fleet"      // fleet name -> *DeviceFleet
	KindDevice     = "device"     // device name -> *Device
	KindRole       = "iamRole"    // role name -> *IAMRole
)

// cpCertNotAfter is the expiry AWS IoT gives the certificates it issues.
var cpCertNotAfter = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)

var (
	thingNameRE  = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	policyNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	aliasNameRE  = regexp.MustCompile(`^[\w=,@-]{1,128}$`)
)

func (c *ControlPlane) routeIoT() {
	routes := []struct {
		pattern, call string
		h             iotHandler
	}{
		{"POST /thing-types/{name}", "CreateThingType", c.createThingType},
		{"GET /thing-types/{name}", "DescribeThingType", c.describeThingType},
		{"POST /things/{name}", "CreateThing", c.createThing},
		{"GET /things/{name}", "DescribeThing", c.describeThing},
		{"DELETE /things/{name}", "DeleteThing", c.deleteThing},
		{"GET /things", "ListThings", c.listThings},
		{"POST /keys-and-certificate", "CreateKeysAndCertificate", c.createKeysAndCertificate},
		{"POST /certificates", "CreateCertificateFromCsr", c.createCertificateFromCsr},
		{"PUT /certificates/{id}", "UpdateCertificate", c.updateCertificate},
		{"DELETE /certificates/{id}", "DeleteCertificate", c.deleteCertificate},
		{"GET /certificates/{id}", "DescribeCertificate", c.describeCertificate},
		{"GET /certificates", "ListCertificates", c.listCertificates},
		{"POST /policies/{name}", "CreatePolicy", c.createPolicy},
		{"GET /policies/{name}", "GetPolicy", c.getPolicy},
		{"DELETE /policies/{name}", "DeletePolicy", c.deletePolicy},
		{"PUT /target-policies/{name}", "AttachPolicy", c.attachPolicy},
		{"POST /target-policies/{name}", "DetachPolicy", c.detachPolicy},
		{"POST /attached-policies/{target}", "ListAttachedPolicies", c.listAttachedPolicies},
		{"POST /policy-targets/{name}", "ListTargetsForPolicy", c.listTargetsForPolicy},
		{"PUT /things/{name}/principals", "AttachThingPrincipal", c.attachThingPrincipal},
		{"DELETE /things/{name}/principals", "DetachThingPrincipal", c.detachThingPrincipal},
		{"GET /things/{name}/principals", "ListThingPrincipals", c.listThingPrincipals},
		{"GET /principals/things", "ListPrincipalThings", c.listPrincipalThings},
		{"POST /role-aliases/{name}", "CreateRoleAlias", c.createRoleAlias},
		{"GET /role-aliases/{name}", "DescribeRoleAlias", c.describeRoleAlias},
		{"DELETE /role-aliases/{name}", "DeleteRoleAlias", c.deleteRoleAlias},
		{"GET /endpoint", "DescribeEndpoint", c.describeEndpoint},
		{"POST /tags", "TagResource", c.tagResource},
		{"POST /untag", "UntagResource", c.untagResource},
		{"GET /tags", "ListTagsForResource", c.listTagsForResource},
	}
	for _, rt := range routes {
		c.mux.Handle(rt.pattern, c.iot("iot:"+rt.call, rt.h))
	}
}

// iot wraps an IoT handler with admission and the REST-JSON answer.
func (c *ControlPlane) iot(call string, h iotHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := c.admit(call); e != nil {
			writeIoTError(w, e)
			return
		}
		body, e := h(r)
		if e != nil {
			writeIoTError(w, e)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if body == nil {
			body = struct{}{}
		}
		_ = json.NewEncoder(w).Encode(body)
	})
}

// writeIoTError answers as IoT does: the code in X-Amzn-ErrorType and a
// JSON body with the message.
func writeIoTError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
}

// iotErr builds an IoT error answer with the code's usual status.
func iotErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Status: statusOf("iot", code), Message: fmt.Sprintf(format, args...)}
}

func cpNotFound(kind, name string) *APIError {
	return iotErr("ResourceNotFoundException", "%s %s does not exist", kind, name)
}

// cpDecodeBody reads a JSON request body into v; an empty body is allowed.
func cpDecodeBody(r *http.Request, v any) *APIError {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return iotErr("InvalidRequestException", "read body: %v", err)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return iotErr("InvalidRequestException", "malformed body: %v", err)
	}
	return nil
}

// cpExtra returns the State.Extra map of kind, creating it. The state must be
// locked.
func cpExtra(s *State, kind string) map[string]any {
	m := s.Extra[kind]
	if m == nil {
		m = map[string]any{}
		s.Extra[kind] = m
	}
	return m
}

func cpEpoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// iotTag is IoT's {Key, Value} tag.
type iotTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// cpSetTags records tags on arn. The state must be locked.
func cpSetTags(s *State, arn string, tags []iotTag) {
	if len(tags) == 0 {
		return
	}
	m, _ := cpExtra(s, KindTags)[arn].(map[string]string)
	if m == nil {
		m = map[string]string{}
		cpExtra(s, KindTags)[arn] = m
	}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
}

func (c *ControlPlane) createThingType(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var in struct {
		ThingTypeProperties struct {
			ThingTypeDescription string   `json:"thingTypeDescription"`
			SearchableAttributes []string `json:"searchableAttributes"`
		} `json:"thingTypeProperties"`
		Tags []iotTag `json:"tags"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	if !thingNameRE.MatchString(name) {
		return nil, iotErr("InvalidRequestException", "thing type name %q must match %s", name, thingNameRE)
	}

	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		types := cpExtra(s, KindThingType)
		if _, ok := types[name]; ok {
			e = iotErr("ResourceAlreadyExistsException", "Thing type %s already exists", name)
			return
		}
		tt := &ThingType{Name: name, ARN: s.ARN("iot", "thingtype/"+name), ID: cpRandomUUID(),
			Description: in.ThingTypeProperties.ThingTypeDescription,
			Searchable:  in.ThingTypeProperties.SearchableAttributes, Created: c.now()}
		types[name] = tt
		cpSetTags(s, tt.ARN, in.Tags)
		out = map[string]string{"thingTypeName": name, "thingTypeArn": tt.ARN, "thingTypeId": tt.ID}
	})
	return out, e
}

func (c *ControlPlane) describeThingType(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		tt, ok := cpExtra(s, KindThingType)[name].(*ThingType)
		if !ok {
			e = cpNotFound("Thing type", name)
			return
		}
		out = map[string]any{
			"thingTypeName": tt.Name, "thingTypeArn": tt.ARN, "thingTypeId": tt.ID,
			"thingTypeProperties": map[string]any{"thingTypeDescription": tt.Description,
				"searchableAttributes": tt.Searchable},
			"thingTypeMetadata": map[string]any{"deprecated": false, "creationDate": cpEpoch(tt.Created)},
		}
	})
	return out, e
}

func (c *ControlPlane) createThing(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var in struct {
		ThingTypeName    string `json:"thingTypeName"`
		AttributePayload struct {
			Attributes map[string]string `json:"attributes"`
		} `json:"attributePayload"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	if !thingNameRE.MatchString(name) {
		return nil, iotErr("InvalidRequestException", "thing name %q must match %s", name, thingNameRE)
	}

	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		out, e = c.createThingLocked(s, name, in.ThingTypeName, in.AttributePayload.Attributes)
	})
	return out, e
}

// createThingLocked creates a thing, or answers with the existing one when
// it is identical, as IoT does.
func (c *ControlPlane) createThingLocked(s *State, name, typ string, attrs map[string]string) (any, *APIError) {
	if typ != "" {
		if _, ok := cpExtra(s, KindThingType)[typ]; !ok {
			return nil, cpNotFound("Thing type", typ)
		}
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	if t, ok := s.Things[name]; ok {
		old, _ := cpExtra(s, KindThingAttrs)[name].(map[string]string)
		if t.ThingType != typ || !cpSameStrings(old, attrs) {
			return nil, iotErr("ResourceAlreadyExistsException",
				"Thing %s already exists in account with different attributes", name)
		}
		return map[string]string{"thingName": name, "thingArn": t.ARN, "thingId": t.ID}, nil
	}

	t := &Thing{Name: name, ARN: s.ARN("iot", "thing/"+name), ID: cpRandomUUID(), ThingType: typ, Version: 1}
	s.Things[name] = t
	if attrs != nil {
		cpExtra(s, KindThingAttrs)[name] = attrs
	}
	return map[string]string{"thingName": name, "thingArn": t.ARN, "thingId": t.ID}, nil
}

func cpSameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (c *ControlPlane) describeThing(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		t, ok := s.Things[name]
		if !ok {
			e = cpNotFound("Thing", name)
			return
		}
		attrs, _ := cpExtra(s, KindThingAttrs)[name].(map[string]string)
		out = cpThingJSON(t, attrs)
	})
	return out, e
}

func cpThingJSON(t *Thing, attrs map[string]string) map[string]any {
	m := map[string]any{"thingName": t.Name, "thingArn": t.ARN, "thingId": t.ID,
		"defaultClientId": t.Name, "version": t.Version, "attributes": attrs}
	if attrs == nil {
		m["attributes"] = map[string]string{}
	}
	if t.ThingType != "" {
		m["thingTypeName"] = t.ThingType
	}
	return m
}

func (c *ControlPlane) deleteThing(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var e *APIError
	c.state.Do(func(s *State) {
		t, ok := s.Things[name]
		if !ok {
			return // IoT answers success for a thing that does not exist
		}
		for _, cert := range s.Certificates {
			if contains(cert.Things, name) {
				e = iotErr("InvalidRequestException",
					"Cannot delete thing %s: principal %s is still attached", name, cert.ARN)
				return
			}
		}
		delete(s.Things, name)
		delete(cpExtra(s, KindThingAttrs), name)
		delete(cpExtra(s, KindTags), t.ARN)
	})
	return nil, e
}

func (c *ControlPlane) listThings(r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	attrName, attrValue, typ := q.Get("attributeName"), q.Get("attributeValue"), q.Get("thingTypeName")
	var things []map[string]any
	c.state.Do(func(s *State) {
		for _, name := range cpSortedKeys(s.Things) {
			t := s.Things[name]
			attrs, _ := cpExtra(s, KindThingAttrs)[name].(map[string]string)
			if typ != "" && t.ThingType != typ {
				continue
			}
			if attrName != "" && (attrs[attrName] != attrValue || attrs == nil) {
				continue
			}
			m := cpThingJSON(t, attrs)
			delete(m, "thingId")
			delete(m, "defaultClientId")
			things = append(things, m)
		}
	})
	items, next := cpPage(things, q.Get("nextToken"), q.Get("maxResults"))
	return map[string]any{"things": items, "nextToken": cpNilIfEmpty(next)}, nil
}

func cpNilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// cpCertARNsHolding returns, in certificate-ID order, the ARNs of the
// certificates whose list that field picks holds name.
func cpCertARNsHolding(s *State, name string, field func(*Certificate) []string) []string {
	var arns []string
	for _, id := range cpSortedKeys(s.Certificates) {
		if cert := s.Certificates[id]; contains(field(cert), name) {
			arns = append(arns, cert.ARN)
		}
	}
	return arns
}

// cpPage returns the page of items that token (an offset) starts, of size
// (default 50), and the token of the next page ("" at the end).
func cpPage[T any](items []T, token, size string) ([]T, string) {
	start, _ := strconv.Atoi(token)
	n, err := strconv.Atoi(size)
	if err != nil || n <= 0 {
		n = 50
	}
	start = min(max(start, 0), len(items))
	end := min(start+n, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	return page, next
}

func cpSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *ControlPlane) createKeysAndCertificate(r *http.Request) (any, *APIError) {
	if c.opts.Issuer == nil {
		return nil, iotErr("InternalFailureException", "the sandbox has no certificate issuer")
	}
	now := c.now()
	certPEM, keyPEM, err := c.opts.Issuer.DeviceCertificate("AWS IoT Certificate", c.opts.KeyType,
		now.Add(-time.Hour), cpCertNotAfter)
	if err != nil {
		return nil, iotErr("InternalFailureException", "issue certificate: %v", err)
	}
	pub, err := cpPublicKeyPEM(certPEM)
	if err != nil {
		return nil, iotErr("InternalFailureException", "%v", err)
	}

	out, e := c.registerCertificate(certPEM, r.URL.Query().Get("setAsActive") == "true")
	if e != nil {
		return nil, e
	}
	out["keyPair"] = map[string]string{"PublicKey": string(pub), "PrivateKey": string(keyPEM)}
	return out, nil
}

func (c *ControlPlane) createCertificateFromCsr(r *http.Request) (any, *APIError) {
	if c.opts.Issuer == nil {
		return nil, iotErr("InternalFailureException", "the sandbox has no certificate issuer")
	}
	var in struct {
		CSR string `json:"certificateSigningRequest"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	certPEM, err := c.opts.Issuer.SignCSR([]byte(in.CSR), c.now().Add(-time.Hour), cpCertNotAfter)
	if err != nil {
		return nil, iotErr("InvalidRequestException", "Invalid certificate signing request: %v", err)
	}
	return c.registerCertificate(certPEM, r.URL.Query().Get("setAsActive") == "true")
}

// registerCertificate adds an issued certificate to the State.
func (c *ControlPlane) registerCertificate(certPEM []byte, active bool) (map[string]any, *APIError) {
	id, err := CertificateID(certPEM)
	if err != nil {
		return nil, iotErr("InternalFailureException", "%v", err)
	}
	status := "INACTIVE"
	if active {
		status = "ACTIVE"
	}
	var arn string
	now := c.now()
	c.state.Do(func(s *State) {
		arn = s.ARN("iot", "cert/"+id)
		s.Certificates[id] = &Certificate{ID: id, ARN: arn, PEM: string(certPEM), Status: status, Created: now}
	})
	return map[string]any{"certificateArn": arn, "certificateId": id, "certificatePem": string(certPEM)}, nil
}

func cpPublicKeyPEM(certPEM []byte) ([]byte, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, fmt.Errorf("issued certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

var cpCertStatuses = []string{"ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER",
	"REGISTER_INACTIVE", "PENDING_ACTIVATION"}

func (c *ControlPlane) updateCertificate(r *http.Request) (any, *APIError) {
	id, status := r.PathValue("id"), r.URL.Query().Get("newStatus")
	if !slices.Contains(cpCertStatuses, status) {
		return nil, iotErr("InvalidRequestException", "newStatus %q must be one of %s",
			status, strings.Join(cpCertStatuses, ", "))
	}
	var e *APIError
	c.state.Do(func(s *State) {
		cert, ok := s.Certificates[id]
		switch {
		case !ok:
			e = cpNotFound("Certificate", id)
		case cert.Status == "REVOKED" && status == "ACTIVE":
			e = iotErr("CertificateStateException", "Certificate %s is revoked", id)
		default:
			cert.Status = status
		}
	})
	return nil, e
}

func (c *ControlPlane) deleteCertificate(r *http.Request) (any, *APIError) {
	id, force := r.PathValue("id"), r.URL.Query().Get("forceDelete") == "true"
	var e *APIError
	c.state.Do(func(s *State) {
		cert, ok := s.Certificates[id]
		switch {
		case !ok:
			e = cpNotFound("Certificate", id)
		case cert.Status == "ACTIVE":
			e = iotErr("CertificateStateException", "Certificate must be deactivated before deletion.")
		case len(cert.Things) > 0:
			e = iotErr("DeleteConflictException", "Things must be detached before deletion (arn: %s)", cert.ARN)
		case len(cert.Policies) > 0 && !force:
			e = iotErr("DeleteConflictException", "Certificate policies must be detached before deletion (arn: %s)", cert.ARN)
		default:
			delete(s.Certificates, id)
		}
	})
	return nil, e
}

func (c *ControlPlane) describeCertificate(r *http.Request) (any, *APIError) {
	id := r.PathValue("id")
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		cert, ok := s.Certificates[id]
		if !ok {
			e = cpNotFound("Certificate", id)
			return
		}
		out = map[string]any{"certificateDescription": map[string]any{
			"certificateArn": cert.ARN, "certificateId": cert.ID, "status": cert.Status,
			"certificatePem": cert.PEM, "ownedBy": Account, "certificateMode": "DEFAULT",
			"customerVersion": 1, "creationDate": cpCreationDate(cert.Created),
		}}
	})
	return out, e
}

// listCertificates answers ListCertificates: the account's certificates,
// newest first unless isAscendingOrder is true (certificates of the same
// instant in a fixed order), pageSize (at most 250) at a time.
func (c *ControlPlane) listCertificates(r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	if n, err := strconv.Atoi(q.Get("pageSize")); q.Get("pageSize") != "" && (err != nil || n < 1 || n > 250) {
		return nil, iotErr("InvalidRequestException", "pageSize %q must be between 1 and 250", q.Get("pageSize"))
	}
	var certs []map[string]any
	c.state.Do(func(s *State) {
		ids := cpSortedKeys(s.Certificates)
		slices.SortStableFunc(ids, func(a, b string) int {
			return s.Certificates[a].Created.Compare(s.Certificates[b].Created)
		})
		if q.Get("isAscendingOrder") != "true" {
			slices.Reverse(ids)
		}
		for _, id := range ids {
			cert := s.Certificates[id]
			certs = append(certs, map[string]any{"certificateArn": cert.ARN, "certificateId": cert.ID,
				"status": cert.Status, "certificateMode": "DEFAULT", "creationDate": cpCreationDate(cert.Created)})
		}
	})
	items, next := cpPage(certs, q.Get("marker"), q.Get("pageSize"))
	return map[string]any{"certificates": items, "nextMarker": cpNilIfEmpty(next)}, nil
}

// cpCreationDate is a certificate's creationDate, or nil when unknown.
func cpCreationDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return cpEpoch(t)
}

func (c *ControlPlane) createPolicy(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var in struct {
		PolicyDocument string   `json:"policyDocument"`
		Tags           []iotTag `json:"tags"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	if !policyNameRE.MatchString(name) {
		return nil, iotErr("InvalidRequestException", "policy name %q must match %s", name, policyNameRE)
	}
	var doc struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(in.PolicyDocument), &doc); err != nil || len(doc.Statement) == 0 {
		return nil, iotErr("MalformedPolicyException", "Policy document is malformed")
	}

	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := s.Policies[name]; ok {
			e = iotErr("ResourceAlreadyExistsException", "Policy cannot be created - name already exists (name=%s)", name)
			return
		}
		p := &Policy{Name: name, ARN: s.ARN("iot", "policy/"+name), Document: in.PolicyDocument}
		s.Policies[name] = p
		cpSetTags(s, p.ARN, in.Tags)
		out = map[string]string{"policyName": name, "policyArn": p.ARN,
			"policyDocument": p.Document, "policyVersionId": "1"}
	})
	return out, e
}

func (c *ControlPlane) getPolicy(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		p, ok := s.Policies[name]
		if !ok {
			e = cpNotFound("Policy", name)
			return
		}
		out = map[string]any{"policyName": p.Name, "policyArn": p.ARN, "policyDocument": p.Document,
			"defaultVersionId": "1", "generationId": "1"}
	})
	return out, e
}

func (c *ControlPlane) deletePolicy(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var e *APIError
	c.state.Do(func(s *State) {
		p, ok := s.Policies[name]
		if !ok {
			e = cpNotFound("Policy", name)
			return
		}
		for _, cert := range s.Certificates {
			if contains(cert.Policies, name) {
				e = iotErr("DeleteConflictException",
					"The policy cannot be deleted as the policy is attached to one or more principals (name=%s)", name)
				return
			}
		}
		delete(s.Policies, name)
		delete(cpExtra(s, KindTags), p.ARN)
	})
	return nil, e
}

// cpCertOf returns the certificate an IoT principal ARN names. The state must
// be locked.
func cpCertOf(s *State, principal string) (*Certificate, *APIError) {
	_, id, ok := strings.Cut(principal, ":cert/")
	if !ok || !strings.HasPrefix(principal, "arn:") {
		return nil, iotErr("InvalidRequestException", "principal %q is not a certificate ARN", principal)
	}
	cert, found := s.Certificates[id]
	if !found {
		return nil, cpNotFound("Certificate", id)
	}
	return cert, nil
}

func (c *ControlPlane) attachPolicy(r *http.Request) (any, *APIError) {
	return c.changePolicyTarget(r, true)
}

func (c *ControlPlane) detachPolicy(r *http.Request) (any, *APIError) {
	return c.changePolicyTarget(r, false)
}

func (c *ControlPlane) changePolicyTarget(r *http.Request, attach bool) (any, *APIError) {
	name := r.PathValue("name")
	var in struct {
		Target string `json:"target"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := s.Policies[name]; !ok {
			e = cpNotFound("Policy", name)
			return
		}
		var cert *Certificate
		if cert, e = cpCertOf(s, in.Target); e != nil {
			return
		}
		if attach && !contains(cert.Policies, name) {
			cert.Policies = append(cert.Policies, name)
		}
		if !attach {
			cert.Policies = slices.DeleteFunc(cert.Policies, func(p string) bool { return p == name })
		}
	})
	return nil, e
}

func (c *ControlPlane) listAttachedPolicies(r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	var policies []map[string]string
	var e *APIError
	c.state.Do(func(s *State) {
		var cert *Certificate
		if cert, e = cpCertOf(s, r.PathValue("target")); e != nil {
			return
		}
		for _, name := range slices.Sorted(slices.Values(cert.Policies)) {
			policies = append(policies, map[string]string{"policyName": name, "policyArn": s.ARN("iot", "policy/"+name)})
		}
	})
	if e != nil {
		return nil, e
	}
	items, next := cpPage(policies, q.Get("marker"), q.Get("pageSize"))
	return map[string]any{"policies": items, "nextMarker": cpNilIfEmpty(next)}, nil
}

func (c *ControlPlane) listTargetsForPolicy(r *http.Request) (any, *APIError) {
	name, q := r.PathValue("name"), r.URL.Query()
	var targets []string
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := s.Policies[name]; !ok {
			e = cpNotFound("Policy", name)
			return
		}
		targets = cpCertARNsHolding(s, name, func(c *Certificate) []string { return c.Policies })
	})
	if e != nil {
		return nil, e
	}
	items, next := cpPage(targets, q.Get("marker"), q.Get("pageSize"))
	return map[string]any{"targets": items, "nextMarker": cpNilIfEmpty(next)}, nil
}

func (c *ControlPlane) attachThingPrincipal(r *http.Request) (any, *APIError) {
	return c.changeThingPrincipal(r, true)
}

func (c *ControlPlane) detachThingPrincipal(r *http.Request) (any, *APIError) {
	return c.changeThingPrincipal(r, false)
}

func (c *ControlPlane) changeThingPrincipal(r *http.Request, attach bool) (any, *APIError) {
	name, principal := r.PathValue("name"), r.Header.Get("X-Amzn-Principal")
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := s.Things[name]; !ok {
			e = cpNotFound("Thing", name)
			return
		}
		var cert *Certificate
		if cert, e = cpCertOf(s, principal); e != nil {
			return
		}
		if attach && !contains(cert.Things, name) {
			cert.Things = append(cert.Things, name)
		}
		if !attach {
			cert.Things = slices.DeleteFunc(cert.Things, func(t string) bool { return t == name })
		}
	})
	return nil, e
}

func (c *ControlPlane) listThingPrincipals(r *http.Request) (any, *APIError) {
	name, q := r.PathValue("name"), r.URL.Query()
	var principals []string
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := s.Things[name]; !ok {
			e = cpNotFound("Thing", name)
			return
		}
		principals = cpCertARNsHolding(s, name, func(c *Certificate) []string { return c.Things })
	})
	if e != nil {
		return nil, e
	}
	items, next := cpPage(principals, q.Get("nextToken"), q.Get("maxResults"))
	return map[string]any{"principals": items, "nextToken": cpNilIfEmpty(next)}, nil
}

func (c *ControlPlane) listPrincipalThings(r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	var things []string
	var e *APIError
	c.state.Do(func(s *State) {
		var cert *Certificate
		if cert, e = cpCertOf(s, r.Header.Get("X-Amzn-Principal")); e != nil {
			return
		}
		things = slices.Sorted(slices.Values(cert.Things))
	})
	if e != nil {
		return nil, e
	}
	items, next := cpPage(things, q.Get("nextToken"), q.Get("maxResults"))
	return map[string]any{"things": items, "nextToken": cpNilIfEmpty(next)}, nil
}

func (c *ControlPlane) createRoleAlias(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var in struct {
		RoleArn  string   `json:"roleArn"`
		Duration *int32   `json:"credentialDurationSeconds"`
		Tags     []iotTag `json:"tags"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	duration := int32(3600)
	if in.Duration != nil {
		duration = *in.Duration
	}
	if e := cpCheckRoleAlias(name, in.RoleArn, duration); e != nil {
		return nil, e
	}

	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		var ra *RoleAlias
		if ra, e = cpAddRoleAlias(s, name, in.RoleArn, duration); e == nil {
			cpSetTags(s, ra.ARN, in.Tags)
			out = map[string]string{"roleAlias": name, "roleAliasArn": ra.ARN}
		}
	})
	return out, e
}

func cpCheckRoleAlias(name, roleARN string, duration int32) *APIError {
	switch {
	case !aliasNameRE.MatchString(name):
		return iotErr("InvalidRequestException", "role alias %q must match %s", name, aliasNameRE)
	case !strings.HasPrefix(roleARN, "arn:aws:iam::") || !strings.Contains(roleARN, ":role/"):
		return iotErr("InvalidRequestException", "roleArn %q is not an IAM role ARN", roleARN)
	case duration < 900 || duration > 43200:
		return iotErr("InvalidRequestException",
			"credentialDurationSeconds %d must be between 900 and 43200", duration)
	}
	return nil
}

// cpAddRoleAlias creates a role alias. The state must be locked.
func cpAddRoleAlias(s *State, name, roleARN string, duration int32) (*RoleAlias, *APIError) {
	if _, ok := s.RoleAliases[name]; ok {
		return nil, iotErr("ResourceAlreadyExistsException", "Role alias %s already exists", name)
	}
	ra := &RoleAlias{Name: name, ARN: s.ARN("iot", "rolealias/"+name), RoleARN: roleARN, DurationSeconds: duration}
	s.RoleAliases[name] = ra
	return ra, nil
}

func (c *ControlPlane) describeRoleAlias(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		ra, ok := s.RoleAliases[name]
		if !ok {
			e = cpNotFound("Role alias", name)
			return
		}
		out = map[string]any{"roleAliasDescription": map[string]any{
			"roleAlias": ra.Name, "roleAliasArn": ra.ARN, "roleArn": ra.RoleARN,
			"owner": Account, "credentialDurationSeconds": ra.DurationSeconds,
		}}
	})
	return out, e
}

func (c *ControlPlane) deleteRoleAlias(r *http.Request) (any, *APIError) {
	name := r.PathValue("name")
	var e *APIError
	c.state.Do(func(s *State) {
		ra, ok := s.RoleAliases[name]
		if !ok {
			e = cpNotFound("Role alias", name)
			return
		}
		delete(s.RoleAliases, name)
		delete(cpExtra(s, KindTags), ra.ARN)
	})
	return nil, e
}

func (c *ControlPlane) describeEndpoint(r *http.Request) (any, *APIError) {
	typ := r.URL.Query().Get("endpointType")
	c.mu.Lock()
	addr, ok := c.endpoint[typ]
	c.mu.Unlock()
	if !ok || addr == "" {
		return nil, iotErr("InvalidRequestException", "endpointType %q is not supported by the sandbox", typ)
	}
	return map[string]string{"endpointAddress": addr}, nil
}

func (c *ControlPlane) tagResource(r *http.Request) (any, *APIError) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		Tags        []iotTag `json:"tags"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	var e *APIError
	c.state.Do(func(s *State) {
		if !cpResourceExists(s, in.ResourceArn) {
			e = cpNotFound("Resource", in.ResourceArn)
			return
		}
		cpSetTags(s, in.ResourceArn, in.Tags)
	})
	return nil, e
}

func (c *ControlPlane) untagResource(r *http.Request) (any, *APIError) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if e := cpDecodeBody(r, &in); e != nil {
		return nil, e
	}
	c.state.Do(func(s *State) {
		m, _ := cpExtra(s, KindTags)[in.ResourceArn].(map[string]string)
		for _, k := range in.TagKeys {
			delete(m, k)
		}
		if len(m) == 0 {
			delete(cpExtra(s, KindTags), in.ResourceArn)
		}
	})
	return nil, nil
}

func (c *ControlPlane) listTagsForResource(r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	arn := q.Get("resourceArn")
	var tags []iotTag
	var e *APIError
	c.state.Do(func(s *State) {
		if !cpResourceExists(s, arn) {
			e = cpNotFound("Resource", arn)
			return
		}
		m, _ := cpExtra(s, KindTags)[arn].(map[string]string)
		for _, k := range cpSortedKeys(m) {
			tags = append(tags, iotTag{Key: k, Value: m[k]})
		}
	})
	if e != nil {
		return nil, e
	}
	items, next := cpPage(tags, q.Get("nextToken"), "")
	return map[string]any{"tags": items, "nextToken": cpNilIfEmpty(next)}, nil
}

// cpResourceExists reports whether the taggable IoT resource arn exists. The
// state must be locked.
func cpResourceExists(s *State, arn string) bool {
	res := strings.TrimPrefix(arn, s.ARN("iot", ""))
	kind, name, _ := strings.Cut(res, "/")
	switch kind {
	case "rolealias":
		_, ok := s.RoleAliases[name]
		return ok
	case "policy":
		_, ok := s.Policies[name]
		return ok
	case "thing":
		_, ok := s.Things[name]
		return ok
	case "thingtype":
		_, ok := cpExtra(s, KindThingType)[name]
		return ok
	}
	return false
}

// cpRandomUUID returns a random version-4 UUID.
func cpRandomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
