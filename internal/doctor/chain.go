package doctor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// shadow is one credential source that the SDKs consult before the agent's.
type shadow struct{ what, fix string }

// checkChain looks for credential sources that come before the container
// provider and credential_process in the SDKs' default chains: keys in the
// environment, web identity, and the selected profile of the calling user's
// shared files.
func checkChain(_ context.Context, s *state) Result {
	var found []shadow
	found = append(found, s.envShadows()...)
	found = append(found, s.profileShadows()...)
	if len(found) == 0 {
		return ok("nothing earlier in the SDKs' default chain (environment keys, web identity, profile %q of %s) shadows the agent",
			s.profile(), s.o.Home)
	}

	whats, fixes := make([]string, len(found)), make([]string, len(found))
	for i, f := range found {
		whats[i], fixes[i] = f.what, f.fix
	}
	return warn(strings.Join(fixes, "; "), "SDKs run by this user would not use the agent's credentials: %s",
		strings.Join(whats, "; "))
}

func (s *state) env(name string) string {
	v, _ := s.o.LookupEnv(name)
	return v
}

func (s *state) envShadows() []shadow {
	var out []shadow
	if s.env("AWS_ACCESS_KEY_ID") != "" {
		out = append(out, shadow{"AWS_ACCESS_KEY_ID is set in the environment, and every SDK reads it first",
			"unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN"})
	}
	if s.env("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		out = append(out, shadow{"AWS_WEB_IDENTITY_TOKEN_FILE is set, so SDKs assume a role with web identity before asking the agent",
			"unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN"})
	}
	if s.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
		out = append(out, shadow{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set, and SDKs prefer it to AWS_CONTAINER_CREDENTIALS_FULL_URI",
			"unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"})
	}
	if full := s.env("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" && s.loaded && !s.pointsAtAgent(full) {
		out = append(out, shadow{fmt.Sprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI is %s, not the agent's port %d", full, s.cfg.TCP.Port),
			"export the lines that `edge-agent env` prints"})
	}
	return out
}

func (s *state) pointsAtAgent(full string) bool {
	u, err := url.Parse(full)
	return err == nil && s.cfg.TCP.Port != 0 && u.Port() == strconv.Itoa(s.cfg.TCP.Port)
}

// profile returns the profile the SDKs would select.
func (s *state) profile() string {
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		if p := s.env(v); p != "" {
			return p
		}
	}
	return "default"
}

func (s *state) sharedFile(env, name string) string {
	if p := s.env(env); p != "" {
		return p
	}
	return filepath.Join(s.o.Home, ".aws", name)
}

// profileShadows reads the selected profile from the shared credentials
// and config files.
func (s *state) profileShadows() []shadow {
	name := s.profile()
	credsFile := s.sharedFile("AWS_SHARED_CREDENTIALS_FILE", "credentials")
	configFile := s.sharedFile("AWS_CONFIG_FILE", "config")
	creds, inCreds := readINI(credsFile)[name]
	sectionName := "profile " + name
	if name == "default" {
		sectionName = "default"
	}
	conf, inConfig := readINI(configFile)[sectionName]

	var out []shadow
	if name != "default" && !inCreds && !inConfig {
		out = append(out, shadow{fmt.Sprintf("AWS_PROFILE names profile %q, which neither %s nor %s has, so SDKs stop with an error instead of asking the agent", name, credsFile, configFile),
			"unset AWS_PROFILE, or add the profile that `edge-agent env --format profile` prints"})
	}
	if creds["aws_access_key_id"] != "" {
		out = append(out, shadow{fmt.Sprintf("profile %q in %s has aws_access_key_id", name, credsFile),
			fmt.Sprintf("remove the keys of [%s] from %s", name, credsFile)})
	}
	if p := conf["credential_process"]; p != "" && !strings.Contains(p, "edge-agent") {
		out = append(out, shadow{fmt.Sprintf("profile %q in %s runs credential_process %q", name, configFile, p),
			"use credential_process = edge-agent credential-process, or remove the line"})
	}
	for _, k := range []string{"aws_access_key_id", "role_arn", "sso_session", "sso_start_url", "web_identity_token_file"} {
		if conf[k] != "" {
			out = append(out, shadow{fmt.Sprintf("profile %q in %s sets %s", name, configFile, k),
				fmt.Sprintf("remove %s from [%s] in %s", k, sectionName, configFile)})
		}
	}
	return out
}

// readINI parses an AWS shared file into sections of lower-case keys. A
// missing or unreadable file is empty.
func readINI(path string) map[string]map[string]string {
	out := map[string]map[string]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			cur = map[string]string{}
			out[name] = cur
		case cur != nil:
			if k, v, found := strings.Cut(line, "="); found {
				cur[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	return out
}
