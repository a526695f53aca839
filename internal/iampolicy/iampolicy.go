// Package iampolicy evaluates the subset of the IAM policy language that
// AWS IoT role-alias policies use: Effect, Action and Resource (each a
// string or a list, with '*' and '?' wildcards), where a Deny wins over
// any Allow.
//
// It has no request context, so a statement with a Condition neither
// grants nor denies; NotAction, NotResource and Principal are not read.
// The admin commands and the sandbox use it, so that what admin reports
// as allowed is what the sandbox then grants.
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Decision is the outcome of [Evaluate].
type Decision int

// The decisions, as IAM names them.
const (
	// ImplicitDeny: no Allow statement matches.
	ImplicitDeny Decision = iota
	// Allow: an Allow statement matches and no Deny statement does.
	Allow
	// ExplicitDeny: a Deny statement matches.
	ExplicitDeny
)

// String returns the decision's name, such as "explicit deny".
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	default:
		return "implicit deny"
	}
}

// Evaluate decides whether the policy document doc allows action on
// resource. Actions match without regard to case, resources exactly. An
// error means doc is not a policy with a readable Statement; the decision
// is then [ImplicitDeny].
func Evaluate(doc, action, resource string) (Decision, error) {
	stmts, err := parse(doc)
	if err != nil {
		return ImplicitDeny, err
	}

	d := ImplicitDeny
	for _, st := range stmts {
		if len(st.Condition) > 0 || !matchAny(st.Action, action, true) || !matchAny(st.Resource, resource, false) {
			continue
		}
		if strings.EqualFold(st.Effect, "Deny") {
			return ExplicitDeny, nil
		}
		if strings.EqualFold(st.Effect, "Allow") {
			d = Allow
		}
	}
	return d, nil
}

// Allows reports whether doc allows action on resource; see [Evaluate].
func Allows(doc, action, resource string) bool {
	d, err := Evaluate(doc, action, resource)
	return err == nil && d == Allow
}

type statement struct {
	Effect    string
	Action    oneOrMany
	Resource  oneOrMany
	Condition json.RawMessage
}

// parse reads the statements of doc, whose Statement may be one object or
// a list of them.
func parse(doc string) ([]statement, error) {
	var p struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("read policy document: %w", err)
	}
	if len(p.Statement) == 0 {
		return nil, errors.New("read policy document: no Statement")
	}

	var stmts []statement
	if json.Unmarshal(p.Statement, &stmts) == nil {
		return stmts, nil
	}
	var one statement
	if err := json.Unmarshal(p.Statement, &one); err != nil {
		return nil, fmt.Errorf("read policy statement: %w", err)
	}
	return []statement{one}, nil
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

// matchAny reports whether v matches one of patterns, in which '*' stands
// for any run of characters (including '/' and ':') and '?' for one.
func matchAny(patterns []string, v string, fold bool) bool {
	for _, p := range patterns {
		expr := "(?s)^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(p)) + "$"
		if fold {
			expr = "(?i)" + expr
		}
		if ok, _ := regexp.MatchString(expr, v); ok {
			return true
		}
	}
	return false
}
