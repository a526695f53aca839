package sandbox

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// IAMRole is an IAM role with its inline and attached managed policies,
// kept in State.Extra["iamRole"].
type IAMRole struct {
	Name             string
	ARN              string
	ID               string
	Path             string
	AssumeRolePolicy string
	Inline           map[string]string // policy name -> document
	Attached         []string          // managed policy ARNs
	Created          time.Time
}

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

var iamRoleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// iamHandler serves one IAM call from its form values and returns the
// inner XML of the <Action>Result element.
type iamHandler func(v url.Values) (any, *APIError)

func (c *ControlPlane) serveIAM(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeIAMError(w, iamErr("MalformedInput", "parse form: %v", err))
		return
	}
	action := r.PostForm.Get("Action")
	handlers := map[string]iamHandler{
		"CreateRole":               c.createRole,
		"GetRole":                  c.getRole,
		"DeleteRole":               c.deleteRole,
		"PutRolePolicy":            c.putRolePolicy,
		"DeleteRolePolicy":         c.deleteRolePolicy,
		"AttachRolePolicy":         c.attachRolePolicy,
		"DetachRolePolicy":         c.detachRolePolicy,
		"ListRolePolicies":         c.listRolePolicies,
		"ListAttachedRolePolicies": c.listAttachedRolePolicies,
	}
	h, ok := handlers[action]
	if !ok {
		writeIAMError(w, iamErr("InvalidAction", "action %q is not in the sandbox", action))
		return
	}
	if e := c.admit("iam:" + action); e != nil {
		writeIAMError(w, e)
		return
	}

	result, e := h(r.PostForm)
	if e != nil {
		writeIAMError(w, e)
		return
	}
	writeIAMResult(w, action, result)
}

func writeIAMResult(w http.ResponseWriter, action string, result any) {
	var body bytes.Buffer
	body.WriteString(xml.Header)
	fmt.Fprintf(&body, "<%sResponse xmlns=%q>", action, iamNamespace)
	if result != nil {
		enc := xml.NewEncoder(&body)
		_ = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	fmt.Fprintf(&body, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
		cpRandomUUID(), action)

	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(body.Bytes())
}

func writeIAMError(w http.ResponseWriter, e *APIError) {
	doc := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{Xmlns: iamNamespace, RequestID: cpRandomUUID()}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = "Sender", e.Code, e.Message
	if e.Status >= 500 {
		doc.Error.Type = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(doc)
}

func iamErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Status: statusOf("iam", code), Message: fmt.Sprintf(format, args...)}
}

// iamRoleXML is the Role element of CreateRole and GetRole.
type iamRoleXML struct {
	Path                     string
	RoleName                 string
	RoleId                   string
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string
}

func roleXML(r *IAMRole) any {
	return struct{ Role iamRoleXML }{iamRoleXML{
		Path: r.Path, RoleName: r.Name, RoleId: r.ID, Arn: r.ARN,
		CreateDate:               r.Created.UTC().Format(time.RFC3339),
		AssumeRolePolicyDocument: url.QueryEscape(r.AssumeRolePolicy),
	}}
}

// withRole runs fn on the role named by v's RoleName, with the state locked.
func (c *ControlPlane) withRole(v url.Values, fn func(s *State, r *IAMRole) *APIError) *APIError {
	name := v.Get("RoleName")
	var e *APIError
	c.state.Do(func(s *State) {
		r, ok := cpExtra(s, KindRole)[name].(*IAMRole)
		if !ok {
			e = iamErr("NoSuchEntity", "The role with name %s cannot be found.", name)
			return
		}
		e = fn(s, r)
	})
	return e
}

func (c *ControlPlane) createRole(v url.Values) (any, *APIError) {
	name, path := v.Get("RoleName"), v.Get("Path")
	if path == "" {
		path = "/"
	}
	if !iamRoleNameRE.MatchString(name) {
		return nil, iamErr("ValidationError", "role name %q must match %s", name, iamRoleNameRE)
	}
	if v.Get("AssumeRolePolicyDocument") == "" {
		return nil, iamErr("ValidationError", "AssumeRolePolicyDocument is required")
	}

	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		roles := cpExtra(s, KindRole)
		if _, ok := roles[name]; ok {
			e = iamErr("EntityAlreadyExists", "Role with name %s already exists.", name)
			return
		}
		r := &IAMRole{Name: name, Path: path, ID: "AROA" + cpRandomUUID()[:8],
			ARN:              fmt.Sprintf("arn:aws:iam::%s:role%s%s", Account, path, name),
			AssumeRolePolicy: v.Get("AssumeRolePolicyDocument"), Inline: map[string]string{},
			Created: c.now()}
		roles[name] = r
		out = roleXML(r)
	})
	return out, e
}

func (c *ControlPlane) getRole(v url.Values) (any, *APIError) {
	var out any
	e := c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		out = roleXML(r)
		return nil
	})
	return out, e
}

func (c *ControlPlane) deleteRole(v url.Values) (any, *APIError) {
	return nil, c.withRole(v, func(s *State, r *IAMRole) *APIError {
		if len(r.Inline) > 0 || len(r.Attached) > 0 {
			return iamErr("DeleteConflict", "Cannot delete entity, must delete policies first.")
		}
		delete(cpExtra(s, KindRole), r.Name)
		return nil
	})
}

func (c *ControlPlane) putRolePolicy(v url.Values) (any, *APIError) {
	return nil, c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		if v.Get("PolicyName") == "" || v.Get("PolicyDocument") == "" {
			return iamErr("ValidationError", "PolicyName and PolicyDocument are required")
		}
		r.Inline[v.Get("PolicyName")] = v.Get("PolicyDocument")
		return nil
	})
}

func (c *ControlPlane) deleteRolePolicy(v url.Values) (any, *APIError) {
	return nil, c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		name := v.Get("PolicyName")
		if _, ok := r.Inline[name]; !ok {
			return iamErr("NoSuchEntity", "The role policy with name %s cannot be found.", name)
		}
		delete(r.Inline, name)
		return nil
	})
}

func (c *ControlPlane) attachRolePolicy(v url.Values) (any, *APIError) {
	return nil, c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		arn := v.Get("PolicyArn")
		if arn == "" {
			return iamErr("ValidationError", "PolicyArn is required")
		}
		if !slices.Contains(r.Attached, arn) {
			r.Attached = append(r.Attached, arn)
		}
		return nil
	})
}

func (c *ControlPlane) detachRolePolicy(v url.Values) (any, *APIError) {
	return nil, c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		arn := v.Get("PolicyArn")
		i := slices.Index(r.Attached, arn)
		if i < 0 {
			return iamErr("NoSuchEntity", "Policy %s was not found.", arn)
		}
		r.Attached = slices.Delete(r.Attached, i, i+1)
		return nil
	})
}

func (c *ControlPlane) listRolePolicies(v url.Values) (any, *APIError) {
	var out any
	e := c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		out = struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			IsTruncated bool
		}{PolicyNames: cpSortedKeys(r.Inline)}
		return nil
	})
	return out, e
}

func (c *ControlPlane) listAttachedRolePolicies(v url.Values) (any, *APIError) {
	type attached struct{ PolicyName, PolicyArn string }
	var out any
	e := c.withRole(v, func(_ *State, r *IAMRole) *APIError {
		list := make([]attached, 0, len(r.Attached))
		for _, arn := range r.Attached {
			list = append(list, attached{PolicyName: arn[strings.LastIndex(arn, "/")+1:], PolicyArn: arn})
		}
		out = struct {
			AttachedPolicies []attached `xml:"AttachedPolicies>member"`
			IsTruncated      bool
		}{AttachedPolicies: list}
		return nil
	})
	return out, e
}
