//go:build integration

package clients

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds every client run; the slowest (the AWS CLI v2 on a
// busy machine) takes a few seconds.
const clientTimeout = 60 * time.Second

// A door is one way the agent hands credentials to a client.
type door string

const (
	// tokenFile is AWS_CONTAINER_CREDENTIALS_FULL_URI with
	// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, the documented way.
	tokenFile door = "full_uri+token_file"
	// tokenEnv is the fallback: the token itself in
	// AWS_CONTAINER_AUTHORIZATION_TOKEN.
	tokenEnv door = "full_uri+token_env"
	// process is a credential_process profile in AWS_CONFIG_FILE.
	process door = "credential_process"
	// imds is AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT at
	// the IMDSv2 door; imdsSlash is the same with a trailing slash.
	imds      door = "imds"
	imdsSlash door = "imds_slash"
)

// hosts are the forms of the loopback host in the container URI.
var hosts = []string{"127.0.0.1", "localhost", "[::1]"}

// client is one SDK or CLI and what it is known not to read.
type client struct {
	name string
	// argv returns the command that lists bucket at endpoint and prints
	// objectKey among its output; nil when the client is not installed.
	argv func(endpoint string) []string
	// noTokenFile: reads no AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, so it
	// needs the fallback AWS_CONTAINER_AUTHORIZATION_TOKEN.
	noTokenFile bool
	// noIPv6: refuses a container URI whose host is [::1], so it needs
	// 127.0.0.1 (or localhost).
	noIPv6 bool
	// imdsNeedsSlash: joins AWS_EC2_METADATA_SERVICE_ENDPOINT and the path
	// without a slash, so the endpoint must end with one.
	imdsNeedsSlash bool
	// hint says how to install the client.
	hint string
}

// expectOK reports whether c should list the bucket through d with host.
func (c client) expectOK(d door, host string) bool {
	if d == imds {
		return !c.imdsNeedsSlash
	}
	if d != tokenFile && d != tokenEnv {
		return true
	}
	if d == tokenFile && c.noTokenFile {
		return false
	}
	return !(host == "[::1]" && c.noIPv6)
}

func cli(path string) func(string) []string {
	return func(endpoint string) []string {
		if _, err := os.Stat(path); err != nil {
			return nil
		}
		return []string{path, "s3api", "list-objects-v2", "--bucket", bucket,
			"--endpoint-url", endpoint, "--query", "Contents[].Key", "--output", "text"}
	}
}

func python(path func() string) func(string) []string {
	return func(endpoint string) []string {
		p := path()
		if _, err := os.Stat(p); p == "" || err != nil {
			return nil
		}
		script, _ := filepath.Abs("py/list_bucket.py")
		return []string{p, script, "--endpoint", endpoint, "--bucket", bucket}
	}
}

// clients is the table of every client the agent must serve, and which of
// them need the fallback.
var clients = []client{
	{
		name: "aws-cli-v1-pyenv", argv: func(e string) []string { return cli(bins.pyenvAWS)(e) },
		hint: "pip install awscli under pyenv",
	},
	{
		name: "boto3-pyenv", argv: python(func() string { return bins.pyenvPython }),
		hint: "pip install boto3 under pyenv",
	},
	{
		name: "aws-cli-v2.9-debian", argv: cli("/usr/bin/aws"),
		noTokenFile: true, noIPv6: true, imdsNeedsSlash: true,
		hint: "apt-get install awscli (scripts/install-test-deps.sh)",
	},
	{
		name: "boto3-debian", argv: python(func() string { return "/usr/bin/python3" }),
		noTokenFile: true, noIPv6: true,
		hint: "apt-get install python3-boto3 (scripts/install-test-deps.sh)",
	},
	{
		name: "go-sdk-v2", hint: "go build",
		argv: func(e string) []string {
			return []string{bins.goclient, "-endpoint", e, "-bucket", bucket}
		},
	},
	{
		name: "js-sdk-v3", hint: "scripts/install-test-deps.sh (npm ci in test/clients/js)",
		argv: func(e string) []string {
			if _, err := os.Stat("js/node_modules"); bins.node == "" || err != nil {
				return nil
			}
			script, _ := filepath.Abs("js/list.mjs")
			return []string{bins.node, script, e, bucket}
		},
	},
}

// doorEnv returns the environment that points a client at the agent
// through d, with host in the container URI.
func (w *world) doorEnv(t *testing.T, d door, host string) []string {
	home := t.TempDir()
	env := baseEnv(home)
	uri := fmt.Sprintf("http://%s:%d/v1/credentials", host, w.tcpPort)
	switch d {
	case tokenFile:
		env = append(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+uri,
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+w.tokenFile)
	case tokenEnv:
		env = append(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+uri,
			"AWS_CONTAINER_AUTHORIZATION_TOKEN="+w.token)
	case process:
		cfg := filepath.Join(home, "config")
		profile := fmt.Sprintf("[default]\ncredential_process = %s credential-process --socket %s\n",
			bins.agent, w.socket)
		mustWrite(t, home, "config", []byte(profile), 0o600)
		env = append(env, "AWS_CONFIG_FILE="+cfg)
	case imds, imdsSlash:
		ep := fmt.Sprintf("http://127.0.0.1:%d", w.imdsPort)
		if d == imdsSlash {
			ep += "/"
		}
		env = withoutVar(env, "AWS_EC2_METADATA_DISABLED")
		env = append(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+ep)
	}
	return env
}

// withoutVar drops name from env.
func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestClientsListBucket runs every client through every door and host form
// and checks that each lists the bucket, or, where the table says the client
// cannot read that form, that it fails (so that the table stays true).
func TestClientsListBucket(t *testing.T) {
	t.Parallel()
	w := startWorld(t, worldOptions{})
	sem := make(chan struct{}, max(2, runtime.NumCPU()))

	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			argv := c.argv(w.s3URL())
			if argv == nil {
				t.Fatalf("%s is not installed; %s", c.name, c.hint)
			}
			for _, d := range []door{tokenFile, tokenEnv, process, imds, imdsSlash} {
				for _, host := range hostsFor(d) {
					t.Run(string(d)+"@"+host, func(t *testing.T) {
						t.Parallel()
						sem <- struct{}{}
						defer func() { <-sem }()
						w.checkClient(t, c, d, host, argv)
					})
				}
			}
		})
	}
}

func hostsFor(d door) []string {
	if d == tokenFile || d == tokenEnv {
		return hosts
	}
	return []string{"127.0.0.1"}
}

func (w *world) checkClient(t *testing.T, c client, d door, host string, argv []string) {
	start := time.Now()
	out, errOut, err := run(context.Background(), clientTimeout, ".", w.doorEnv(t, d, host), argv)
	listed := err == nil && strings.Contains(out, objectKey)
	t.Logf("%s via %s@%s: listed=%v in %s", c.name, d, host, listed, time.Since(start).Round(time.Millisecond))

	switch want := c.expectOK(d, host); {
	case want && !listed:
		t.Errorf("%s could not list s3://%s via %s with host %s: %v\nstdout: %s\nstderr: %s",
			c.name, bucket, d, host, err, w.redact(tail(out, 5)), w.redact(tail(errOut, 15)))
	case !want && listed:
		t.Errorf("%s listed s3://%s via %s with host %s, which the table says it cannot: update the table and docs/clients.md",
			c.name, bucket, d, host)
	}
}
