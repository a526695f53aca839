package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credserver"
)

// socketEnv overrides the default socket path, as socket.path in the config.
const socketEnv = "EDGE_AGENT_SOCKET_PATH"

// clientTimeout bounds one call to the daemon; it covers a first fetch.
const clientTimeout = 25 * time.Second

func newCredentialProcessCmd() *cobra.Command {
	var where socketFlags
	cmd := &cobra.Command{
		Use:   "credential-process",
		Short: "Print the credentials as credential_process JSON (for an AWS config profile)",
		Long: `credential-process reads the credentials from the running daemon over its unix
socket and prints them in the format of the AWS config's credential_process:

  [profile edge]
  credential_process = edge-agent credential-process

Without --socket it uses socket.path from the configuration (--config,
$EDGE_AGENT_CONFIG or /etc/edge-agent/config.yaml, then $EDGE_AGENT_SOCKET_PATH).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			socket, err := where.path()
			if err != nil {
				return err
			}
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
	where.bind(cmd)
	return cmd
}

// socketFlags are the flags of the commands that call the daemon: where its
// socket is.
type socketFlags struct {
	socket string // --socket
	config string // --config
}

// bind adds --socket and --config to cmd.
func (f *socketFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.socket, "socket", "",
		"the agent's unix socket (default socket.path from the config, $"+socketEnv+" or "+credserver.DefaultSocketPath+")")
	cmd.Flags().StringVar(&f.config, "config", "",
		"configuration file to read socket.path from (default "+config.DefaultPath+", or $"+config.PathEnv+")")
}

// path returns the socket: --socket, else socket.path as config.Load
// resolves it (file, then $EDGE_AGENT_SOCKET_PATH). The configuration is not
// validated: a client needs only the socket, not what run needs. A default
// file the caller may not read (it is root:edge-agent 0750/0640, and clients
// are normally not in that group) counts as missing, as an absent one does.
func (f *socketFlags) path() (string, error) {
	if f.socket != "" {
		return f.socket, nil
	}

	cfg, err := config.Load(config.LoadOptions{Path: f.config})
	if errors.Is(err, fs.ErrPermission) && f.config == "" && os.Getenv(config.PathEnv) == "" {
		cfg, err = config.Default(), nil
		if p := os.Getenv(socketEnv); p != "" {
			cfg.Socket.Path = p
		}
	}
	if err != nil {
		return "", fmt.Errorf("find the agent's socket: %w; fix the config or pass --socket", err)
	}

	if cfg.Socket.Path == "" {
		return credserver.DefaultSocketPath, nil
	}
	return cfg.Socket.Path, nil
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
		return fmt.Errorf("uid %d is not allowed: add it to socket.allowed_uids, or join the socket's group (socket.group) or a group in socket.allowed_gids", os.Getuid())
	case errors.As(err, &apiErr):
		return errors.New(apiErr.Message)
	default:
		return err
	}
}
