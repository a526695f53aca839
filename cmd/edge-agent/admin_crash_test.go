//go:build !noadmin

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// cliEnv makes the test binary run the CLI with its arguments instead of
// the tests, so that a test can run and kill the real command.
const cliEnv = "EDGE_AGENT_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		root := newRootCmd()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFleetProvisionKilledMidRunResumes SIGKILLs a fleet provision after
// its first progress lines, runs it again to the end, and checks that every
// thing has exactly one certificate and no certificate is left unattached.
func TestFleetProvisionKilledMidRunResumes(t *testing.T) {
	sb, _ := adminSandbox(t)
	dir := t.TempDir()
	caFile, manifest := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "devices.csv")
	const n = 40
	var csv strings.Builder
	csv.WriteString("device\n")
	for i := range n {
		fmt.Fprintf(&csv, "dev-%02d\n", i)
	}
	for path, data := range map[string][]byte{caFile: sb.CA, manifest: []byte(csv.String())} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"--state-dir", filepath.Join(dir, "state"), "--iot-rate", "100", "--sagemaker-rate", "100"}
	if _, _, err := runCLISplit(t, append([]string{"admin", "fleet", "create", "--fleet", "f1", "--create-role",
		"--output", "s3://" + adminTestBucket + "/f1"}, common...)...); err != nil {
		t.Fatalf("fleet create: %v", err)
	}
	args := append([]string{"admin", "fleet", "provision", "--fleet", "f1", "--manifest", manifest, "--root-ca", caFile,
		"--concurrency", "8"}, common...)

	killed := runAndKill(t, args, 3)
	t.Logf("killed after: %s", killed)
	if _, stderr, err := runCLISplit(t, args...); err != nil {
		t.Fatalf("re-run after the kill: %v\n%s", err, stderr)
	}

	perThing, orphans := map[string]int{}, 0
	sb.State.Do(func(s *sandbox.State) {
		for _, c := range s.Certificates {
			if len(c.Things) == 0 {
				orphans++
			}
			for _, th := range c.Things {
				perThing[th]++
			}
		}
	})
	if len(perThing) != n {
		t.Errorf("got certificates on %d things, want %d", len(perThing), n)
	}
	for th, k := range perThing {
		if k != 1 {
			t.Errorf("thing %s: got %d certificates, want 1", th, k)
		}
	}
	if orphans != 0 {
		t.Errorf("got %d certificates attached to no thing after the kill and the re-run, want 0", orphans)
	}
}

// runAndKill runs the CLI in a child process and SIGKILLs it once it has
// written lines progress lines to stderr; it returns the last line read.
func runAndKill(t *testing.T, args []string, lines int) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the cli: %v", err)
	}
	sc := bufio.NewScanner(stderr)
	last, seen := "", 0
	for seen < lines && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "progress:") {
			seen++
			last = sc.Text()
		}
	}
	if seen < lines {
		t.Fatalf("the cli ended after %d progress lines, before the kill (last %q)", seen, last)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill the cli: %v", err)
	}
	_ = cmd.Wait()
	return last
}
