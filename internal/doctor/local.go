package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/edge-agent/edge-agent/internal/credserver"
)

// Broadest modes the CONTRACT gives the socket and the token file.
const (
	socketMode fs.FileMode = 0o660
	tokenMode  fs.FileMode = 0o640
)

const startAgent = "start the agent: systemctl start edge-agent (see journalctl -u edge-agent for why it stopped)"

// agentStatus is the part of GET /v1/status that doctor reads.
type agentStatus struct {
	State     string `json:"state"`
	LastError *struct {
		Class   string `json:"class"`
		Message string `json:"message"`
	} `json:"last_error"`
}

func checkSocket(ctx context.Context, s *state) Result {
	if !s.loaded {
		return skip("needs a configuration that loads")
	}
	path := s.cfg.Socket.Path
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(startAgent, "no socket at %s: edge-agent is not running, or socket.path differs from the agent's", path)
	case err != nil:
		return fail("run doctor as a user allowed to reach the socket", "stat %s: %v", path, err)
	case fi.Mode()&fs.ModeSocket == 0:
		return fail("remove it and restart edge-agent", "%s exists but is not a socket", path)
	}

	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	body, err := credserver.FetchStatus(ctx, path)
	if err != nil {
		return socketFailure(s, err)
	}
	var st agentStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fail("make sure socket.path belongs to edge-agent", "%s answered something other than edge-agent's status", path)
	}

	r := statusResult(path, st)
	if extra := fi.Mode().Perm() &^ socketMode; extra != 0 && r.Level == OK {
		return warn(fmt.Sprintf("chmod %04o %s, or restart edge-agent, which creates it 0660", fi.Mode().Perm()&socketMode, path),
			"%s; its mode %04o is broader than 0660", r.Message, fi.Mode().Perm())
	}
	return r
}

// socketAccessFix says how this user gets onto the socket's allow-list.
func socketAccessFix(group string) string {
	fix := fmt.Sprintf("add uid %d to socket.allowed_uids or one of your groups to "+
		"socket.allowed_gids", os.Getuid())
	if group != "" {
		fix += fmt.Sprintf(", or join %s (usermod -aG %s USER, then log in again)", group, group)
	}
	return fix + "; then restart the agent (socket settings need a restart)"
}

func socketFailure(s *state, err error) Result {
	path := s.cfg.Socket.Path
	var ae *credserver.APIError
	switch {
	case errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden:
		return fail(socketAccessFix(s.cfg.Socket.Group),
			"the agent refused this user on %s: %s", path, ae.Message)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(startAgent, "%s is a stale socket: nothing is listening on it", path)
	case errors.Is(err, syscall.EACCES):
		return fail(fmt.Sprintf("add your user to the socket's group (socket.group %q) and log in again", s.cfg.Socket.Group),
			"no permission to connect to %s", path)
	}
	return fail(startAgent, "%s did not answer: %v", path, err)
}

func statusResult(path string, st agentStatus) Result {
	why := ""
	if st.LastError != nil && st.LastError.Message != "" {
		why = fmt.Sprintf(" (last error, %s: %s)", st.LastError.Class, st.LastError.Message)
	}
	switch st.State {
	case "serving":
		return ok("%s answers; the agent is serving credentials", path)
	case "degraded":
		return warn("see the endpoint check and journalctl -u edge-agent; clients keep working until the credentials expire",
			"%s answers; the agent serves cached credentials but its last refresh failed%s", path, why)
	}
	return fail("see the endpoint check above and journalctl -u edge-agent",
		"%s answers but the agent holds no valid credentials (state %q)%s", path, st.State, why)
}

func checkTokenFile(_ context.Context, s *state) Result {
	if !s.loaded {
		return skip("needs a configuration that loads")
	}
	if s.cfg.TCP.Port == 0 {
		return skip("the TCP door is off (tcp.port is 0); no token is needed")
	}
	path := s.cfg.TCP.TokenFile
	tok, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(startAgent+"; the agent creates the token file at start", "token file %s is missing", path)
	case errors.Is(err, fs.ErrPermission):
		return fail("run the client as a member of the token file's group, or as root", "token file %s cannot be read by uid %d", path, os.Getuid())
	case err != nil:
		return fail("check tcp.token_file", "read token file %s: %v", path, err)
	case len(bytes.TrimSpace(tok)) == 0:
		return fail("delete it and restart edge-agent, which writes a new one", "token file %s is empty", path)
	case len(bytes.TrimRight(tok, " \t\r\n")) != len(tok):
		return fail(fmt.Sprintf("rewrite it without the newline: printf %%s \"$(cat %s)\" > %s.new && mv %s.new %s; or delete it and restart edge-agent", path, path, path, path),
			"token file %s ends with a newline or space, which several SDKs put into the Authorization header and get refused", path)
	}

	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^tokenMode != 0 {
		return warn("chmod 0640 "+path, "token file %s is readable but its mode %04o is broader than 0640", path, fi.Mode().Perm())
	}
	s.token = tok
	return ok("token file %s is readable and has no trailing newline", path)
}

func checkTCP(ctx context.Context, s *state) Result {
	if !s.loaded || s.cfg.TCP.Port == 0 {
		return skip("the TCP door is off (tcp.port is 0)")
	}
	if s.token == nil {
		return skip("needs a good token file (see token-file)")
	}
	addrs := s.cfg.TCP.Addresses
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	for _, a := range addrs {
		if r := s.probeTCP(ctx, net.JoinHostPort(a, strconv.Itoa(s.cfg.TCP.Port))); r.Level != OK {
			return r
		}
	}
	return ok("the TCP door answers with credentials on port %d of %v", s.cfg.TCP.Port, addrs)
}

// probeTCP GETs /v1/credentials with the token and reads the status only;
// the credentials in the body are discarded unread.
func (s *state) probeTCP(ctx context.Context, hostPort string) Result {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	url := "http://" + hostPort + "/v1/credentials"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail("check tcp.addresses", "build request for %s: %v", hostPort, err)
	}
	req.Header.Set("Authorization", string(s.token))

	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return fail(startAgent+"; check that tcp.port matches the agent's", "nothing answers on %s: %v", hostPort, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))

	switch resp.StatusCode {
	case http.StatusOK:
		return ok("%s answers", hostPort)
	case http.StatusUnauthorized:
		return fail("restart edge-agent so that it reads the token file again, and check that no other program rewrote it",
			"%s refused the token from %s (401): the file and the agent disagree", hostPort, s.cfg.TCP.TokenFile)
	case http.StatusServiceUnavailable:
		return fail("see the endpoint and socket checks", "%s answered 503: the agent holds no valid credentials", hostPort)
	}
	return fail("make sure tcp.port belongs to edge-agent", "%s answered %s", hostPort, resp.Status)
}
