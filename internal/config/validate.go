package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/edge-agent/edge-agent/internal/awsname"
)

// FieldError says which key broke which rule.
type FieldError struct {
	Key  string // dotted YAML key, e.g. socket.allowed_uids
	Rule string // what is wrong and what to do

	missing bool // a required key that is not set
}

func (e *FieldError) Error() string { return "config: " + e.Key + ": " + e.Rule }

// ValidationError holds every [FieldError] that a check found.
type ValidationError struct {
	Fields []*FieldError

	// MissingFile, when set, is the default configuration file that did
	// not exist, which is why required keys are missing.
	MissingFile string
}

// Error lists the field errors on one line. When the default file is
// missing, it says so and how to create it instead of listing each missing
// key's rule.
func (e *ValidationError) Error() string {
	var parts, missing []string
	for _, f := range e.Fields {
		if e.MissingFile != "" && f.missing {
			missing = append(missing, f.Key)
			continue
		}
		parts = append(parts, f.Key+": "+f.Rule)
	}
	if len(missing) > 0 {
		head := fmt.Sprintf("no configuration file at %s, so %s %s not set: run 'edge-agent bootstrap' (it writes the file) or create %s with them",
			e.MissingFile, joinAnd(missing), plural(len(missing), "is", "are"), e.MissingFile)
		parts = append([]string{head}, parts...)
	}
	return "config: " + strings.Join(parts, "; ")
}

// joinAnd joins names as "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Unwrap returns the field errors, so that errors.As finds a *FieldError.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f
	}
	return out
}

var (
	endpointRE = regexp.MustCompile(`^[a-z0-9-]+\.credentials\.iot\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)
	dataRE     = regexp.MustCompile(`(-ats)?\.iot\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)
	hostRE     = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$`)
	logLevels  = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
)

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the final NUL).
const maxSocketPath = 107

// Validate checks everything the run command needs: thing_name, role_alias,
// credential_endpoint and region are required, and every value must be
// well formed. The error is a *[ValidationError] naming each key and rule.
func (c Config) Validate() error {
	return c.check(true)
}

// ValidatePartial checks that every value that is set is well formed but
// does not require thing_name, role_alias, credential_endpoint or region.
// Bootstrap uses it when only some values come from flags.
func (c Config) ValidatePartial() error {
	return c.check(false)
}

func (c Config) check(full bool) error {
	var v validator
	c.checkIdentity(&v, full)
	c.checkEndpoint(&v, full)
	v.absPath("identity_dir", c.IdentityDir, true)
	v.absPath("cache_file", c.CacheFile, true)
	c.checkSocket(&v)
	c.checkTCP(&v)
	v.port("imds.port", c.IMDS.Port)
	if !logLevels[c.Log.Level] {
		v.add("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs, MissingFile: c.missingFile}
}

func (c Config) checkIdentity(v *validator, full bool) {
	switch {
	case c.ThingName == "" && full:
		v.missing("thing_name", "is required (the IoT thing name of this device)")
	case c.ThingName != "":
		if err := awsname.ValidateThingName("thing name", c.ThingName); err != nil {
			v.add("thing_name", "%v", err)
		}
	}
	switch {
	case c.RoleAlias == "" && full:
		v.missing("role_alias", "is required (the IoT role alias that grants this device's AWS role)")
	case c.RoleAlias != "":
		if err := awsname.ValidateRoleAlias(c.RoleAlias); err != nil {
			v.add("role_alias", "%v", err)
		}
	}
	switch {
	case c.Region == "" && full:
		v.missing("region", "is required (the AWS region of the credentials endpoint, e.g. eu-west-1)")
	case c.Region != "":
		if err := awsname.ValidateRegion(c.Region); err != nil {
			v.add("region", "%v", err)
		}
	}
}

func (c Config) checkEndpoint(v *validator, full bool) {
	ep := c.CredentialEndpoint
	switch {
	case ep == "" && full:
		v.missing("credential_endpoint", "is required; get it with: aws iot describe-endpoint --endpoint-type iot:CredentialProvider")
	case ep == "":
	case isDataEndpoint(ep):
		v.add("credential_endpoint", "%s", dataEndpointRule(ep))
	case c.AllowCustomEndpoint:
		if err := checkHostPort(ep); err != nil {
			v.add("credential_endpoint", "%s; got %q", err, ep)
		}
	default:
		if rule := endpointRule(ep, c.Region); rule != "" {
			v.add("credential_endpoint", "%s", rule)
		}
	}
}

// endpointRule returns what is wrong with an AWS credentials endpoint, or "".
func endpointRule(ep, region string) string {
	if strings.Contains(ep, "://") || strings.ContainsAny(ep, "/:") {
		return fmt.Sprintf("must be a host name only, without scheme, port or path; got %q", ep)
	}
	m := endpointRE.FindStringSubmatch(strings.ToLower(ep))
	if m == nil && dataRE.MatchString(strings.ToLower(ep)) {
		return dataEndpointRule(ep)
	}
	if m == nil {
		return fmt.Sprintf("must have the form <prefix>.credentials.iot.<region>.amazonaws.com (or .amazonaws.com.cn); got %q; %s, or set allow_custom_endpoint for a test endpoint", ep, howToGetEndpoint)
	}
	if region != "" && m[1] != region {
		return fmt.Sprintf("is in region %s but region is %s; use the endpoint of region %s or fix region", m[1], region, region)
	}
	return ""
}

const howToGetEndpoint = "get it with: aws iot describe-endpoint --endpoint-type iot:CredentialProvider"

// isDataEndpoint reports whether ep names an ATS data endpoint
// (<prefix>-ats.iot.<region>...), which is never the credentials provider,
// whether or not custom endpoints are allowed.
func isDataEndpoint(ep string) bool {
	return strings.Contains(strings.ToLower(ep), "-ats.iot.")
}

// dataEndpointRule explains that ep is the IoT data endpoint.
func dataEndpointRule(ep string) string {
	return fmt.Sprintf("%q is the IoT data endpoint (MQTT and HTTPS publish), not the credentials provider endpoint <prefix>.credentials.iot.<region>.amazonaws.com; %s", ep, howToGetEndpoint)
}

// RegionFromEndpoint returns the region named in an AWS credentials
// endpoint host, or "" when ep is not of that form.
func RegionFromEndpoint(ep string) string {
	m := endpointRE.FindStringSubmatch(strings.ToLower(ep))
	if m == nil {
		return ""
	}
	return m[1]
}

// checkHostPort accepts host, host:port, an IP address or [IPv6]:port.
func checkHostPort(ep string) error {
	if strings.Contains(ep, "://") || strings.Contains(ep, "/") {
		return fmt.Errorf("must be host or host:port without scheme or path")
	}
	host := ep
	if h, p, err := net.SplitHostPort(ep); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be 1 to 65535")
		}
		host = h
	}
	if net.ParseIP(host) == nil && !hostRE.MatchString(host) {
		return fmt.Errorf("must be host or host:port")
	}
	return nil
}

func (c Config) checkSocket(v *validator) {
	v.absPath("socket.path", c.Socket.Path, true)
	if len(c.Socket.Path) > maxSocketPath {
		v.add("socket.path", "must be at most %d bytes (a unix socket limit); got %d", maxSocketPath, len(c.Socket.Path))
	}
	v.ids("socket.allowed_uids", c.Socket.AllowedUIDs)
	v.ids("socket.allowed_gids", c.Socket.AllowedGIDs)
}

func (c Config) checkTCP(v *validator) {
	v.port("tcp.port", c.TCP.Port)
	v.absPath("tcp.token_file", c.TCP.TokenFile, c.TCP.Port != 0)
	if c.TCP.Port != 0 && len(c.TCP.Addresses) == 0 {
		v.add("tcp.addresses", "must list at least one loopback address when tcp.port is set, e.g. [127.0.0.1, ::1]")
	}
	for _, a := range c.TCP.Addresses {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() {
			v.add("tcp.addresses", "must be loopback IP addresses such as 127.0.0.1 or ::1 (the token travels in clear text); got %q", a)
		}
	}
}

// validator collects field errors.
type validator struct{ errs []*FieldError }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Rule: fmt.Sprintf(format, args...)})
}

// missing records a required key that is not set.
func (v *validator) missing(key, rule string) {
	v.errs = append(v.errs, &FieldError{Key: key, Rule: rule, missing: true})
}

func (v *validator) absPath(key, p string, required bool) {
	switch {
	case p == "" && required:
		v.add(key, "is required (an absolute path)")
	case p != "" && !filepath.IsAbs(p):
		v.add(key, "must be an absolute path; got %q", p)
	}
}

func (v *validator) port(key string, p int) {
	if p < 0 || p > 65535 {
		v.add(key, "must be 0 (off) or a port from 1 to 65535; got %d", p)
	}
}

func (v *validator) ids(key string, ids []int) {
	for _, id := range ids {
		if id < 0 {
			v.add(key, "must hold non-negative ids; got %d", id)
		}
	}
}
