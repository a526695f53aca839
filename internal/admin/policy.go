package admin

import "github.com/edge-agent/edge-agent/internal/iampolicy"

// assumeAction is the action a fleet policy must allow on the role alias.
const assumeAction = "iot:AssumeRoleWithCertificate"

// policyRefusal says why the IoT policy document doc does not let a device
// assume the role alias aliasARN, or returns "" when it does. It reads the
// document as the sandbox does, through [iampolicy.Evaluate].
func policyRefusal(doc, aliasARN string) string {
	d, err := iampolicy.Evaluate(doc, assumeAction, aliasARN)
	switch {
	case err != nil:
		return "its document cannot be read (" + err.Error() + ")"
	case d == iampolicy.ExplicitDeny:
		return "a Deny statement in it refuses " + assumeAction + " on " + aliasARN
	case d != iampolicy.Allow:
		return "it does not allow " + assumeAction + " on " + aliasARN
	}
	return ""
}
