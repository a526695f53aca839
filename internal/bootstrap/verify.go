package bootstrap

import (
	"context"
	"fmt"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// VerifyCredentials is a [VerifyFunc] that makes one call to the credentials
// provider with the new identity and configuration, so that a device image is
// known to work before it leaves the line. The credentials it gets are
// dropped; its error says what the endpoint refused and what to fix.
func VerifyCredentials(ctx context.Context, id *certstore.Identity, cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	client, err := credprovider.NewClient(credprovider.ClientOptions{
		Endpoint:    cfg.CredentialEndpoint,
		RoleAlias:   cfg.RoleAlias,
		ThingName:   cfg.ThingName,
		Certificate: id.TLS,
		Roots:       id.Roots,
		Timeout:     30 * time.Second,
		UserAgent:   "edge-agent-bootstrap",
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer client.CloseIdleConnections()

	res, err := client.Fetch(ctx)
	if err != nil {
		return fmt.Errorf("verify with %s: %w", client.URL(), err)
	}
	if !res.Credentials.Valid(time.Now(), 0) {
		return fmt.Errorf("verify with %s: the credentials returned have already expired (check the device clock)", client.URL())
	}
	return nil
}
