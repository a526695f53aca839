package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// Clock skew thresholds: past warnSkew certificates near their edges and
// expiry times start to mislead; past failSkew AWS refuses SigV4 requests.
const (
	warnSkew = 5 * time.Minute
	failSkew = 15 * time.Minute
)

const describeEndpoint = "aws iot describe-endpoint --endpoint-type iot:CredentialProvider"

func checkEndpointForm(_ context.Context, s *state) Result {
	if !s.loaded {
		return skip("needs a configuration that loads")
	}
	var ve *config.ValidationError
	if errors.As(s.cfgErr, &ve) {
		for _, f := range ve.Fields {
			if f.Key == "credential_endpoint" {
				return fail("set credential_endpoint to the output of: "+describeEndpoint,
					"credential_endpoint %s", f.Rule)
			}
		}
	}

	ep := s.cfg.CredentialEndpoint
	if config.RegionFromEndpoint(ep) == "" && s.cfg.AllowCustomEndpoint {
		return warn("for a real device set credential_endpoint to the output of: "+describeEndpoint+
			", and allow_custom_endpoint: false", "credential_endpoint %s is a custom endpoint (allow_custom_endpoint is set): fine for the sandbox, never for AWS", ep)
	}
	return ok("credential_endpoint %s has the credentials-provider form", ep)
}

func checkEndpoint(ctx context.Context, s *state) Result {
	if s.identity == nil || s.cfg.CredentialEndpoint == "" || s.cfg.RoleAlias == "" {
		return skip("needs a valid certificate, credential_endpoint and role_alias")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()

	start := s.o.Now()
	res, err := s.o.Fetch(ctx, s.cfg, s.identity)
	if err != nil {
		return endpointFailure(s.cfg, err)
	}
	took := s.o.Now().Sub(start).Round(time.Millisecond)
	msg := fmt.Sprintf("https://%s issued credentials for role alias %s in %s",
		s.cfg.CredentialEndpoint, s.cfg.RoleAlias, took)
	if res.ServerDate.IsZero() {
		return ok("%s (no Date header to compare clocks with)", msg)
	}

	skew := start.Sub(res.ServerDate).Round(time.Second)
	msg += fmt.Sprintf("; device clock %s the endpoint's Date", describeSkew(skew))
	const fixClock = "synchronise the clock: timedatectl set-ntp true (or chrony/ntpd); check the time zone is not applied twice"
	switch abs := max(skew, -skew); {
	case abs > failSkew:
		return fail(fixClock, "%s: AWS refuses signed requests beyond 15 minutes of skew, and certificates may look expired or not yet valid", msg)
	case abs > warnSkew:
		return warn(fixClock, "%s: beyond 5 minutes, expiry times and certificate windows are misjudged", msg)
	}
	return ok("%s", msg)
}

func describeSkew(d time.Duration) string {
	switch {
	case d > 0:
		return fmt.Sprintf("is %s ahead of", d)
	case d < 0:
		return fmt.Sprintf("is %s behind", -d)
	}
	return "matches"
}

// endpointFailure explains a failed credentials call: an answer that was
// not the service's (a web page, a redirect), then by its class, and a
// status that arrived apart from a connection that never did.
func endpointFailure(cfg config.Config, err error) Result {
	var ce *credprovider.Error
	if !errors.As(err, &ce) {
		return fail("check the network path to the endpoint", "credentials call to %s: %v", cfg.CredentialEndpoint, err)
	}
	if ce.NotJSON || ce.StatusCode >= 300 && ce.StatusCode < 400 {
		return fail("check that credential_endpoint is the output of: "+describeEndpoint+
			", and that no captive portal, proxy or firewall on this network answers HTTPS in its place",
			"https://%s was reached but answered %s instead of the credentials provider's JSON: %v",
			cfg.CredentialEndpoint, describeAnswer(ce), err)
	}
	switch ce.Class {
	case credprovider.ClassConfiguration:
		return fail(fmt.Sprintf("check that role alias %s exists, that thing %s is attached to the certificate, and that the certificate's policy allows iot:AssumeRoleWithCertificate on the alias",
			cfg.RoleAlias, cfg.ThingName), "the endpoint refused the device: %v", err)
	case credprovider.ClassThrottled:
		return warn("wait and run doctor again; many devices refreshing at once cause this",
			"the endpoint throttled the call: %v", err)
	}
	if ce.StatusCode != 0 {
		return fail("run doctor again in a few minutes; if it persists, check for a proxy in front of the endpoint",
			"https://%s was reached and answered HTTP %d: %v", cfg.CredentialEndpoint, ce.StatusCode, err)
	}
	return fail("check DNS, the route and firewall to port 443 of the endpoint, HTTPS_PROXY, and that AmazonRootCA1.pem is the CA the endpoint's certificate chains to",
		"the endpoint could not be reached over mutual TLS: %v", err)
}

// describeAnswer names what the endpoint sent: its status and, for a body
// that is not JSON, its media type.
func describeAnswer(ce *credprovider.Error) string {
	s := fmt.Sprintf("HTTP %d", ce.StatusCode)
	switch {
	case ce.StatusCode >= 300 && ce.StatusCode < 400:
		s += " (a redirect)"
	case ce.MediaType != "":
		s += " with " + ce.MediaType
	case ce.NotJSON:
		s += " with a body that is not JSON"
	}
	return s
}

// fetchCredentials makes the call with credprovider's client.
func fetchCredentials(ctx context.Context, cfg config.Config, id *certstore.Identity) (credprovider.Result, error) {
	c, err := credprovider.NewClient(credprovider.ClientOptions{
		Endpoint:    cfg.CredentialEndpoint,
		RoleAlias:   cfg.RoleAlias,
		ThingName:   cfg.ThingName,
		Certificate: id.TLS,
		Roots:       id.Roots,
		UserAgent:   "edge-agent-doctor",
	})
	if err != nil {
		return credprovider.Result{}, err
	}
	defer c.CloseIdleConnections()
	return c.Fetch(ctx)
}
