//go:build integration

package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotationLifetime is the sandbox credentials' lifetime in the rotation
// test. The agent stops serving credentials a minute before they expire
// (credprovider.DefaultExpiryMargin) and refreshes at about half of their
// lifetime; 90 seconds leaves the clients about 45 seconds to move to the new
// key, and the stale-credentials check waits for the first key to expire.
const rotationLifetime = 90 * time.Second

// agentCreds is the container-format answer of the agent.
type agentCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      time.Time
}

func (w *world) credentials(t *testing.T) agentCreds {
	t.Helper()
	resp, err := unixClient(w.socket).Get("http://agent/v1/credentials")
	if err != nil {
		t.Fatalf("get credentials: %v", err)
	}
	defer resp.Body.Close()
	var c agentCreds
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("get credentials: status %d, decode: %v", resp.StatusCode, err)
	}
	return c
}

// keyIDs returns the access key IDs of a client's JSON lines, in order,
// without repeats.
func keyIDs(out string) []string {
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l struct {
			AccessKeyID string `json:"access_key_id"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.AccessKeyID != "" &&
			(len(ids) == 0 || ids[len(ids)-1] != l.AccessKeyID) {
			ids = append(ids, l.AccessKeyID)
		}
	}
	return ids
}

// TestRotationSeenByClients keeps one boto3 session and one Go SDK client
// listing the bucket across an agent refresh: every listing must succeed
// and each client must move to the new key. Then the first key, expired,
// must be refused by S3 with ExpiredToken.
func TestRotationSeenByClients(t *testing.T) {
	t.Parallel()
	w := startWorld(t, worldOptions{CredentialDuration: rotationLifetime})
	first := w.credentials(t)
	limit := rotationLifetime + 30*time.Second

	long := []struct {
		name string
		argv []string
	}{
		{"boto3-pyenv", []string{bins.pyenvPython, "py/list_bucket.py", "--endpoint", w.s3URL(),
			"--bucket", bucket, "--until-rotated", fmt.Sprint(limit.Seconds())}},
		{"go-sdk-v2", []string{bins.goclient, "-endpoint", w.s3URL(), "-bucket", bucket,
			"-until-rotated", limit.String()}},
	}
	var wg sync.WaitGroup
	for _, c := range long {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.checkRotation(t, c.name, c.argv, first.AccessKeyID, limit)
		}()
	}
	wg.Wait()

	w.waitPast(t, first.Expiration)
	code := w.staticClient(t, first, first.Token)
	if !strings.Contains(code, "ExpiredToken") {
		t.Errorf("stale credentials: got %q, want S3 to refuse them with ExpiredToken", code)
	}
}

func (w *world) checkRotation(t *testing.T, name string, argv []string, first string, limit time.Duration) {
	start := time.Now()
	env := w.doorEnv(t, tokenFile, "127.0.0.1")
	out, errOut, err := run(context.Background(), limit+clientTimeout, ".", env, argv)
	ids := keyIDs(out)
	t.Logf("%s: keys %v over %s", name, ids, time.Since(start).Round(time.Second))
	if err != nil || len(ids) < 2 || ids[0] != first {
		t.Errorf("%s: got keys %v (err %v), want %s then a new one\nstderr: %s",
			name, ids, err, first, w.redact(tail(errOut, 15)))
	}
}

// waitPast returns once the clock is past deadline (plus a second for the
// whole-second expiry), without sleeping longer than that.
func (w *world) waitPast(t *testing.T, deadline time.Time) {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline) + time.Second)
	defer timer.Stop()
	<-timer.C
}

// staticClient lists the bucket with boto3 and the given credentials in
// AWS_ACCESS_KEY_ID and friends, and returns its stderr ("" on success).
func (w *world) staticClient(t *testing.T, c agentCreds, token string) string {
	t.Helper()
	env := append(baseEnv(t.TempDir()), "AWS_ACCESS_KEY_ID="+c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey, "AWS_SESSION_TOKEN="+token)
	argv := []string{bins.pyenvPython, "py/list_bucket.py", "--endpoint", w.s3URL(), "--bucket", bucket}
	_, errOut, err := run(context.Background(), clientTimeout, ".", env, argv)
	if err == nil {
		return ""
	}
	return w.redact(tail(errOut, 3))
}

// TestRefusals shows the two ends refusing a client: the agent's TCP door
// refuses a wrong token (401), and the sandbox S3 refuses a session token
// that does not belong to the key (InvalidToken).
func TestRefusals(t *testing.T) {
	t.Parallel()
	w := startWorld(t, worldOptions{})

	t.Run("agent refuses a wrong token", func(t *testing.T) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/v1/credentials", w.tcpPort), nil)
		req.Header.Set("Authorization", "not-the-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), `"Unauthorized"`) {
			t.Fatalf("got %d %s, want 401 Unauthorized", resp.StatusCode, body)
		}

		env := withoutVar(w.doorEnv(t, tokenEnv, "127.0.0.1"), "AWS_CONTAINER_AUTHORIZATION_TOKEN")
		env = append(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN=not-the-token")
		_, errOut, err := run(context.Background(), clientTimeout, ".", env,
			[]string{bins.goclient, "-endpoint", w.s3URL(), "-bucket", bucket})
		if err == nil || !strings.Contains(errOut, "Unauthorized") {
			t.Fatalf("go client with a wrong token: got err %v, stderr %q; want Unauthorized", err, w.redact(errOut))
		}
	})

	t.Run("S3 refuses another session token", func(t *testing.T) {
		c := w.credentials(t)
		if got := w.staticClient(t, c, "bm90LXRoZS1zZXNzaW9uLXRva2Vu"); !strings.Contains(got, "InvalidToken") {
			t.Fatalf("got %q, want InvalidToken", got)
		}
		if got := w.staticClient(t, c, c.Token); got != "" {
			t.Fatalf("the right token: got %q, want success", got)
		}
	})
}

// TestCLIS3Ls runs the high-level `aws s3 ls` of both CLIs, which lists
// through its own code path, via credential_process.
func TestCLIS3Ls(t *testing.T) {
	t.Parallel()
	w := startWorld(t, worldOptions{})
	for _, c := range []struct{ name, path string }{
		{"aws-cli-v1-pyenv", bins.pyenvAWS}, {"aws-cli-v2.9-debian", "/usr/bin/aws"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := run(context.Background(), clientTimeout, ".", w.doorEnv(t, process, ""),
				[]string{c.path, "s3", "ls", "--recursive", "s3://" + bucket + "/", "--endpoint-url", w.s3URL()})
			if err != nil || !strings.Contains(out, objectKey) {
				t.Fatalf("aws s3 ls: got %q, err %v\nstderr: %s", out, err, w.redact(tail(errOut, 10)))
			}
		})
	}
}

// TestDoctorOnARunningAgent runs `edge-agent doctor` against a healthy
// sandbox device: every check passes but the endpoint form, which warns
// that the sandbox is a custom endpoint.
func TestDoctorOnARunningAgent(t *testing.T) {
	t.Parallel()
	w := startWorld(t, worldOptions{})
	out, errOut, err := run(context.Background(), clientTimeout, ".", baseEnv(t.TempDir()),
		[]string{bins.agent, "doctor", "--config", w.config})
	if err != nil {
		t.Fatalf("doctor: %v\n%s%s", err, out, w.redact(errOut))
	}
	for _, want := range []string{"ok    endpoint ", "ok    socket ", "ok    tcp ", "warn  endpoint-form "} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}
