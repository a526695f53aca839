package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/credserver"
)

// socketEnv overrides the default socket path, as socket.path in the config.
const socketEnv = "EDGE_AGENT_SOCKET_PATH"

// clientTimeout bounds one call to the daemon; it covers a first fetch.
const clientTimeout = 25 * time.Second

func newCredentialProcessCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "credential-process",
		Short: "Print the credentials as credential_process JSON (for an AWS config profile)",
		Long: `credential-process reads the credentials from the running daemon over its unix
socket and prints them in the format of the AWS config's credential_process:

  [profile edge]
  credential_process = edge-agent credential-process`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), clientTimeout)
			defer cancel()

			body, err := credserver.FetchCredentials(ctx, socket, "process")
			if err != nil {
				return explainFetch(err, socket)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", body)
			return err
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

// addSocketFlag adds --socket, defaulting to $EDGE_AGENT_SOCKET_PATH or the
// standard path.
func addSocketFlag(cmd *cobra.Command, socket *string) {
	def := os.Getenv(socketEnv)
	if def == "" {
		def = credserver.DefaultSocketPath
	}
	cmd.Flags().StringVar(socket, "socket", def, "the agent's unix socket (env "+socketEnv+")")
}

// explainFetch turns a failed call to the daemon into one line that says
// what to do.
func explainFetch(err error, socket string) error {
	var apiErr *credserver.APIError
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("no agent answers on %s: is edge-agent running? (systemctl status edge-agent)", socket)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("permission denied on %s: run as root or as a member of the socket's group (socket.group)", socket)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("edge-agent on %s did not answer within %s", socket, clientTimeout)
	case errors.As(err, &apiErr) && apiErr.StatusCode == 403:
		return fmt.Errorf("uid %d is not allowed: add it to socket.allowed_uids", os.Getuid())
	case errors.As(err, &apiErr):
		return errors.New(apiErr.Message)
	default:
		return err
	}
}
