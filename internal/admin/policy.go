package admin

import (
	"encoding/json"
	"regexp"
	"strings"
)

// policyAllows reports whether an IoT policy document allows action on
// resource: an Allow statement matches both (with '*' and '?' wildcards)
// and no Deny statement does. It reads the subset of the policy language
// that role-alias policies use; conditions make a statement not match.
func policyAllows(doc, action, resource string) bool {
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false
	}
	var stmts []policyStatement
	if json.Unmarshal(p.Statement, &stmts) != nil {
		var one policyStatement
		if json.Unmarshal(p.Statement, &one) != nil {
			return false
		}
		stmts = []policyStatement{one}
	}

	allowed := false
	for _, st := range stmts {
		if len(st.Condition) > 0 || !globAny(st.Action, action, true) || !globAny(st.Resource, resource, false) {
			continue
		}
		if strings.EqualFold(st.Effect, "Deny") {
			return false
		}
		allowed = allowed || strings.EqualFold(st.Effect, "Allow")
	}
	return allowed
}

type policyStatement struct {
	Effect    string
	Action    oneOrMany
	Resource  oneOrMany
	Condition json.RawMessage
}

// oneOrMany decodes a JSON string or a list of strings.
type oneOrMany []string

func (l *oneOrMany) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = oneOrMany{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func globAny(patterns []string, v string, fold bool) bool {
	for _, p := range patterns {
		expr := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(p)) + "$"
		if fold {
			expr = "(?i)" + expr
		}
		if ok, _ := regexp.MatchString(expr, v); ok {
			return true
		}
	}
	return false
}
