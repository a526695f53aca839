package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/config"
)

// envFormats are the outputs of `edge-agent env`.
var envFormats = map[string]func(io.Writer, envInput) error{
	"sh":      writeEnvShell,
	"profile": writeEnvProfile,
	"systemd": writeEnvSystemd,
}

// envInput is what the env formats print from.
type envInput struct {
	cfg     config.Config
	exe     string // absolute path of edge-agent
	profile string // AWS config profile name
}

func newEnvCmd() *cobra.Command {
	var (
		load    config.LoadOptions
		format  string
		profile string
	)
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the environment or AWS config profile that points SDKs at the agent",
		Long: `env prints what a process needs to use the agent's credentials, from the agent's
configuration:

  --format sh       export lines for AWS_CONTAINER_CREDENTIALS_FULL_URI and
                    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (TCP door), with the
                    fallback for older SDKs as comments (see docs/clients.md)
  --format profile  an AWS config profile with credential_process (unix socket)
  --format systemd  Environment= lines for a service's drop-in

Use it as: eval "$(edge-agent env)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			write, found := envFormats[format]
			if !found {
				return fmt.Errorf("unknown --format %q; use sh, profile or systemd", format)
			}
			cfg, err := config.Load(load)
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), envInput{cfg: cfg, exe: executable(), profile: profile})
		},
	}
	load.BindFlags(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "sh", "sh, profile or systemd")
	cmd.Flags().StringVar(&profile, "profile", "edge-agent", "profile name for --format profile (default for [default])")
	return cmd
}

// executable returns the absolute path of this binary, for credential_process.
func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return "edge-agent"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		return resolved
	}
	return exe
}

// errTCPOff is the answer of the formats that need the TCP door when it is
// off. It is an error, not a comment, so that eval "$(edge-agent env)" fails
// visibly instead of setting nothing.
var errTCPOff = errors.New("the TCP door is off: set tcp.port in the config (then restart the agent) or use --format profile for credential_process")

func fullURI(c config.Config) string {
	return fmt.Sprintf("http://127.0.0.1:%d/v1/credentials", c.TCP.Port)
}

func writeEnvShell(w io.Writer, in envInput) error {
	c := in.cfg
	var b strings.Builder
	if c.TCP.Port == 0 {
		return errTCPOff
	}
	fmt.Fprintf(&b, "export AWS_CONTAINER_CREDENTIALS_FULL_URI=%s\n", shellQuote(fullURI(c)))
	fmt.Fprintf(&b, "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s\n", shellQuote(c.TCP.TokenFile))
	b.WriteString("# Fallback for SDKs that do not read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\n" +
		"# (such as Debian 12's AWS CLI 2.9 and botocore 1.29; see docs/clients.md):\n")
	fmt.Fprintf(&b, "# export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat %s)\"\n", shellQuote(c.TCP.TokenFile))
	if c.IMDS.Port != 0 {
		b.WriteString("# For clients that read only instance metadata (keep the trailing slash):\n")
		fmt.Fprintf(&b, "# export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:%d/\n", c.IMDS.Port)
	}
	if c.Region != "" {
		fmt.Fprintf(&b, "# The agent's region; set your services' region if it differs:\n# export AWS_REGION=%s\n", c.Region)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEnvProfile(w io.Writer, in envInput) error {
	header := "[profile " + in.profile + "]"
	if in.profile == "default" {
		header = "[default]"
	}
	var b strings.Builder
	b.WriteString("# Add to ~/.aws/config (or the file AWS_CONFIG_FILE names); select it with\n")
	fmt.Fprintf(&b, "# AWS_PROFILE=%s unless it is the default profile.\n%s\n", in.profile, header)
	fmt.Fprintf(&b, "credential_process = %s credential-process --socket %s\n", in.exe, in.cfg.Socket.Path)
	if in.cfg.Region != "" {
		fmt.Fprintf(&b, "region = %s\n", in.cfg.Region)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEnvSystemd(w io.Writer, in envInput) error {
	c := in.cfg
	if c.TCP.Port == 0 {
		return errTCPOff
	}
	_, err := fmt.Fprintf(w, "# Drop-in for a service that uses the agent, e.g.\n"+
		"# /etc/systemd/system/<service>.service.d/edge-agent.conf; the service's\n"+
		"# user must be able to read the token file.\n[Service]\n"+
		"Environment=AWS_CONTAINER_CREDENTIALS_FULL_URI=%s\n"+
		"Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s\n", fullURI(c), c.TCP.TokenFile)
	return err
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
