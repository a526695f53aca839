package credserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DefaultSocketPath is where the agent serves the local API unless the
// configuration says otherwise.
const DefaultSocketPath = "/run/edge-agent/agent.sock"

// maxResponseBytes caps what the client reads from the agent.
const maxResponseBytes = 64 << 10

// APIError is an error response of the local API.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

// Error returns the agent's message with its code.
func (e *APIError) Error() string {
	return fmt.Sprintf("edge-agent answered %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// FetchCredentials gets the credentials from the agent on socketPath, in
// format "process" (credential_process) or "" (container format), and
// returns the JSON body as served.
func FetchCredentials(ctx context.Context, socketPath, format string) ([]byte, error) {
	path := "/v1/credentials"
	if format != "" {
		path += "?format=" + url.QueryEscape(format)
	}
	return fetch(ctx, socketPath, path)
}

// FetchStatus gets the agent's status JSON from socketPath.
func FetchStatus(ctx context.Context, socketPath string) ([]byte, error) {
	return fetch(ctx, socketPath, "/v1/status")
}

// fetch GETs path over the unix socket. A non-200 answer becomes an
// *[APIError]; a connection failure keeps its syscall error for errors.Is.
func fetch(ctx context.Context, socketPath, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://edge-agent"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}

	resp, err := unixClient(socketPath).Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s from %s: %w", path, socketPath, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", path, socketPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeAPIError(resp.StatusCode, body)
	}
	return body, nil
}

func decodeAPIError(status int, body []byte) error {
	var e apiError
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		// Not our JSON: report the status only, never the body.
		return &APIError{StatusCode: status, Code: http.StatusText(status), Message: "unexpected answer"}
	}
	return &APIError{StatusCode: status, Code: e.Code, Message: e.Message}
}

// unixClient returns an HTTP client that dials socketPath for any URL.
func unixClient(socketPath string) *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", socketPath)
			},
			DisableKeepAlives: true,
		},
	}
}
