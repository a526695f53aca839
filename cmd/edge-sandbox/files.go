package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// seeded is the device that --seed-device created.
type seeded struct {
	name, roleAlias, bucket, prefix, dir string
}

// seedDevice creates the role alias and the device, puts its authorization
// files and edge-agent.yaml into S3 and into --dir/devices/<name>/.
func seedDevice(ctx context.Context, sb *sandbox.Sandbox, o options) (seeded, error) {
	d := seeded{name: o.device, roleAlias: o.roleAlias, bucket: o.bucket, prefix: o.prefix,
		dir: filepath.Join(o.dir, devicesDir, o.device)}
	if d.prefix == "" {
		d.prefix = "authorization-files/" + o.device + "/"
	}
	roleARN := o.roleARN
	if roleARN == "" {
		roleARN = "arn:aws:iam::" + sandbox.Account + ":role/" + o.roleAlias + "-role"
	}

	sb.AddRoleAlias(o.roleAlias, roleARN, o.credDuration)
	files, err := sb.NewDeviceWith(ctx, sandbox.DeviceOptions{Thing: o.device, RoleAlias: o.roleAlias,
		KeyType: sandbox.KeyType(o.keyType)})
	if err != nil {
		return d, fmt.Errorf("seed device %s: %w", o.device, err)
	}
	cfg := sb.AgentConfig(o.device, o.roleAlias)
	if err := sb.SeedAuthorizationFiles(ctx, d.bucket, d.prefix, files, cfg); err != nil {
		return d, fmt.Errorf("seed device %s: %w", o.device, err)
	}
	return d, writeDeviceFiles(d.dir, files, cfg)
}

func writeDeviceFiles(dir string, files sandbox.DeviceFiles, cfg []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create device folder %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		body []byte
		mode os.FileMode
	}{
		{sandbox.CertFile, files.Cert, 0o644},
		{sandbox.KeyFile, files.Key, 0o600},
		{sandbox.CAFile, files.CA, 0o644},
		{sandbox.ConfigFile, cfg, 0o644},
	} {
		if err := writeFile(filepath.Join(dir, f.name), f.body, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// endpointsEnv returns endpoints.env: one shell-quoted assignment a line.
func endpointsEnv(sb *sandbox.Sandbox, o options, dev *seeded) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by edge-sandbox; source it: . " + shellQuote(filepath.Join(o.dir, endpointsFile)) + "\n")
	set := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(v)) }

	set("EDGE_SANDBOX_CRED_ENDPOINT", sb.CredentialsEndpoint)
	set("EDGE_SANDBOX_S3_URL", sb.S3URL)
	set("EDGE_SANDBOX_CONTROL_URL", sb.ControlURL)
	set("EDGE_SANDBOX_ADMIN_URL", sb.AdminURL)
	set("EDGE_SANDBOX_REGION", sb.Region)
	set("EDGE_SANDBOX_CA", filepath.Join(o.dir, caFile))
	set("EDGE_SANDBOX_PID_FILE", filepath.Join(o.dir, pidFile))
	set("EDGE_SANDBOX_ADMIN_ACCESS_KEY_ID", sandbox.AdminAccessKeyID)
	set("EDGE_SANDBOX_ADMIN_SECRET_ACCESS_KEY", sandbox.AdminSecretAccessKey)
	if dev != nil {
		set("EDGE_SANDBOX_DEVICE", dev.name)
		set("EDGE_SANDBOX_ROLE_ALIAS", dev.roleAlias)
		set("EDGE_SANDBOX_BUCKET", dev.bucket)
		set("EDGE_SANDBOX_PREFIX", dev.prefix)
		set("EDGE_SANDBOX_DEVICE_DIR", dev.dir)
	}
	return b.Bytes()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// prepareDir creates dir and removes the endpoints.env of an earlier run, so
// that a script waiting for the file does not read stale ports.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	p := filepath.Join(dir, endpointsFile)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", p, err)
	}
	return nil
}

// removeRunFiles removes the files that describe a running sandbox.
func removeRunFiles(dir string, log *zap.Logger) {
	for _, name := range []string{endpointsFile, pidFile} {
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove run file", zap.String("path", p), zap.Error(err))
		}
	}
}

// writeFile writes data to path atomically with mode, so that a script
// waiting for the file never reads half of it.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, atomicfile.Mode(mode)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
