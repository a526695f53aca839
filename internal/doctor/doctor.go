// Package doctor checks an edge-agent installation from the point of view of
// a process on the device, and explains each failure with a fix: the
// configuration, the identity files and certificate, the credentials
// endpoint (form, reachability over mutual TLS, clock skew), the local
// socket, token file and TCP door, and whether another credential source
// earlier in the AWS SDKs' default chain would shadow the agent's.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
	"github.com/edge-agent/edge-agent/internal/credprovider"
)

// Level is the outcome of one check.
type Level string

// The levels, from best to worst. Skip means a check could not run because
// an earlier one failed, or because the feature is off.
const (
	OK   Level = "ok"
	Skip Level = "skip"
	Warn Level = "warn"
	Fail Level = "FAIL"
)

// Result is the outcome of one check, with what to do when it is not ok.
type Result struct {
	Check   string `json:"check"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// FetchFunc makes one credentials call with the device identity.
type FetchFunc func(ctx context.Context, cfg config.Config, id *certstore.Identity) (credprovider.Result, error)

// Options are the inputs of [Run]. Tests inject all of them.
type Options struct {
	// LoadConfig resolves the agent configuration.
	LoadConfig func() (config.Config, error)
	// LookupEnv reads the calling process's environment; os.LookupEnv when
	// nil.
	LookupEnv func(string) (string, bool)
	// Home is the calling user's home folder, for ~/.aws; $HOME when empty.
	Home string
	// Now is the device clock; time.Now when nil.
	Now func() time.Time
	// Fetch makes the credentials call; a credprovider.Client when nil.
	Fetch FetchFunc
	// Timeout bounds each network check; 10 seconds when zero.
	Timeout time.Duration
}

func (o *Options) setDefaults() {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Home == "" {
		o.Home, _ = o.LookupEnv("HOME")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Fetch == nil {
		o.Fetch = fetchCredentials
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
}

// state is what the checks learn and pass on to later checks.
type state struct {
	o        Options
	cfg      config.Config
	cfgErr   error // from Load or Validate
	loaded   bool
	identity *certstore.Identity
	token    []byte // the TCP token, once checked
}

// check is one step of [Run].
type check struct {
	name string
	run  func(ctx context.Context, s *state) Result
}

// checks run in this order; later ones use what earlier ones found.
var checks = []check{
	{"config", checkConfig},
	{"identity-files", checkIdentityFiles},
	{"certificate", checkCertificate},
	{"endpoint-form", checkEndpointForm},
	{"endpoint", checkEndpoint},
	{"socket", checkSocket},
	{"token-file", checkTokenFile},
	{"tcp", checkTCP},
	{"credential-chain", checkChain},
}

// Run runs every check and returns their results in order.
func Run(ctx context.Context, o Options) []Result {
	o.setDefaults()
	s := &state{o: o}
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		r := c.run(ctx, s)
		r.Check = c.name
		out = append(out, r)
	}
	return out
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Level == Fail {
			return true
		}
	}
	return false
}

// WriteText writes one line per check, and an indented fix under each that
// is not ok.
func WriteText(w io.Writer, rs []Result) error {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%-4s  %-16s  %s\n", r.Level, r.Check, r.Message)
		if r.Fix != "" && r.Level != OK {
			fmt.Fprintf(&b, "%-4s  %-16s  fix: %s\n", "", "", r.Fix)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes {"ok": bool, "checks": [...]}.
func WriteJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool     `json:"ok"`
		Checks []Result `json:"checks"`
	}{!Failed(rs), rs})
}

func ok(format string, args ...any) Result {
	return Result{Level: OK, Message: fmt.Sprintf(format, args...)}
}

func skip(format string, args ...any) Result {
	return Result{Level: Skip, Message: fmt.Sprintf(format, args...)}
}

func warn(fix, format string, args ...any) Result {
	return Result{Level: Warn, Message: fmt.Sprintf(format, args...), Fix: fix}
}

func fail(fix, format string, args ...any) Result {
	return Result{Level: Fail, Message: fmt.Sprintf(format, args...), Fix: fix}
}

func checkConfig(_ context.Context, s *state) Result {
	cfg, err := s.o.LoadConfig()
	if err != nil {
		s.cfgErr = err
		return fail("fix the file or variable named in the message; `edge-agent env` shows the keys",
			"configuration does not load: %v", err)
	}
	s.cfg, s.loaded = cfg, true

	if err := cfg.Validate(); err != nil {
		s.cfgErr = err
		return fail("set each key named above in the config file (or its EDGE_AGENT_* variable)",
			"configuration is not valid: %v", err)
	}
	return ok("configuration loads and validates (thing %s, role alias %s)", cfg.ThingName, cfg.RoleAlias)
}
