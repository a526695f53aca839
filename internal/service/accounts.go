package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

const (
	// User and Group are the account the unit runs as (User=, Group=).
	User  = "edge-agent"
	Group = "edge-agent"

	// ClientsGroup may connect to the agent's socket and read its token.
	ClientsGroup = "edge-agent-clients"

	// ConfigDir holds config.yaml; root owns it, the service group reads it.
	ConfigDir = "/etc/edge-agent"
)

// runFunc runs a command and returns an error that carries its output.
type runFunc func(name string, args ...string) error

// lookupFunc reports whether a user ("passwd") or group ("group") exists.
type lookupFunc func(db, name string) (bool, error)

// prepareHost creates, when missing, what the packaged maintainer scripts
// create on a .deb install: the edge-agent system group and user, the
// edge-agent-clients group with the service user in it, and /etc/edge-agent
// owned by root:edge-agent with mode 0750.
func prepareHost(run runFunc, lookup lookupFunc) error {
	if err := ensureAccounts(run, lookup); err != nil {
		return err
	}

	g, err := user.LookupGroup(Group)
	if err != nil {
		return fmt.Errorf("look up group %s: %w", Group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("group %s has gid %q: %w", Group, g.Gid, err)
	}
	return ensureConfigDir(ConfigDir, gid)
}

// ensureAccounts runs groupadd, useradd and usermod as needed.
func ensureAccounts(run runFunc, lookup lookupFunc) error {
	steps := []struct {
		db, name string
		cmd      []string
	}{
		{"group", Group, []string{"groupadd", "--system", Group}},
		{"passwd", User, []string{"useradd", "--system", "--gid", Group,
			"--home-dir", "/var/lib/edge-agent", "--no-create-home",
			"--shell", "/usr/sbin/nologin", "--comment", "edge-agent daemon", User}},
		{"group", ClientsGroup, []string{"groupadd", "--system", ClientsGroup}},
	}

	for _, s := range steps {
		ok, err := lookup(s.db, s.name)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if err := run(s.cmd[0], s.cmd[1:]...); err != nil {
			return err
		}
	}

	// The agent hands its socket and token to the clients group, which an
	// unprivileged process can do only for a group it belongs to.
	return run("usermod", "--append", "--groups", ClientsGroup, User)
}

// ensureConfigDir creates dir (mode 0750, group gid) or fixes its group and
// mode. Files inside are left alone.
func ensureConfigDir(dir string, gid int) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create config folder %s: %w", dir, err)
	}
	if err := os.Chown(dir, 0, gid); err != nil {
		return fmt.Errorf("set owner of config folder %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return fmt.Errorf("set mode of config folder %s: %w", dir, err)
	}
	return nil
}

// execCommand is the real runFunc.
func execCommand(name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "),
			err, strings.TrimSpace(out.String()))
	}
	return nil
}

// lookupAccount is the real lookupFunc; it reads the local databases the way
// os/user does.
func lookupAccount(db, name string) (bool, error) {
	var err error
	if db == "group" {
		_, err = user.LookupGroup(name)
	} else {
		_, err = user.Lookup(name)
	}

	var unknownUser user.UnknownUserError
	var unknownGroup user.UnknownGroupError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &unknownUser), errors.As(err, &unknownGroup):
		return false, nil
	default:
		return false, fmt.Errorf("look up %s %s: %w", db, name, err)
	}
}
