// Package service runs edge-agent as a systemd service: it installs, starts,
// stops and removes the unit with kardianos/service, handing it the packaged
// unit text as its template, and it sends sd_notify messages (readiness,
// status, watchdog) from the running daemon.
package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	kservice "github.com/kardianos/service"

	"github.com/edge-agent/edge-agent/packaging/systemd"
)

// Name is the name of the service in systemd, without ".service".
const Name = "edge-agent"

var (
	// ErrNotRoot is returned when a command that changes the system runs
	// without root privileges.
	ErrNotRoot = errors.New("this needs root: run it with sudo")

	// ErrNoSystemd is returned when systemd is not the running init system.
	ErrNoSystemd = errors.New("systemd is not running on this machine (no /run/systemd/system)")

	// ErrPackaged is returned by Install when the .deb already installed the
	// unit; a second copy in /etc would shadow the packaged one.
	ErrPackaged = errors.New("the edge-agent package already installs the unit: use systemctl enable --now edge-agent")

	// ErrNotInstalled is returned when the unit is not installed.
	ErrNotInstalled = errors.New("the edge-agent service is not installed: run edge-agent service install")
)

// State is what [Manager.Status] reports.
type State string

// States of the service.
const (
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// Options configure a [Manager].
type Options struct {
	// Executable is the binary that ExecStart names. Empty means the binary
	// that is running now.
	Executable string
}

// Manager installs and controls the edge-agent unit.
type Manager struct {
	exec string
	svc  kservice.Service
	sys  system
}

// system is what Manager needs from the machine, replaceable in tests.
type system struct {
	euid           func() int
	systemdRunning func() bool
	packagedUnits  []string
	prepare        func() error // accounts and /etc/edge-agent
}

// New returns a Manager for the systemd unit of the given executable.
func New(o Options) (*Manager, error) {
	return newManager(o, realSystem(), false)
}

func realSystem() system {
	return system{
		euid:           os.Geteuid,
		systemdRunning: systemdRunning,
		packagedUnits: []string{
			"/usr/lib/systemd/system/" + systemd.UnitName,
			"/lib/systemd/system/" + systemd.UnitName,
		},
		prepare: func() error { return prepareHost(execCommand, lookupAccount) },
	}
}

func newManager(o Options, sys system, userService bool) (*Manager, error) {
	exe, err := executable(o.Executable)
	if err != nil {
		return nil, err
	}

	tmpl, err := Template()
	if err != nil {
		return nil, err
	}

	sd, err := systemdSystem()
	if err != nil {
		return nil, err
	}

	cfg := &kservice.Config{
		Name:        Name,
		Description: "edge-agent AWS identity and credentials for this device",
		Executable:  exe,
		Option: kservice.KeyValue{
			"SystemdScript": tmpl,
			"UserService":   userService,
		},
	}
	svc, err := sd.New(noopProgram{}, cfg)
	if err != nil {
		return nil, fmt.Errorf("set up systemd service %s: %w", Name, err)
	}
	return &Manager{exec: exe, svc: svc, sys: sys}, nil
}

// Template returns the packaged unit as a kardianos/service template: the
// same text, with the packaged binary path in ExecStart replaced by the
// path of the installing binary. Rendered for [systemd.ExecPath], it is the
// packaged unit byte for byte.
func Template() (string, error) {
	if strings.Contains(systemd.Unit, "{{") {
		return "", errors.New("packaged unit contains {{, which the template engine would expand")
	}

	old := "\nExecStart=" + systemd.ExecPath + " "
	if n := strings.Count(systemd.Unit, old); n != 1 {
		return "", fmt.Errorf("packaged unit has %d ExecStart lines naming %s, want 1", n, systemd.ExecPath)
	}
	return strings.Replace(systemd.Unit, old, "\nExecStart={{Path | cmdEscape}} ", 1), nil
}

// Executable reports the binary path that the installed unit starts.
func (m *Manager) Executable() string { return m.exec }

// Install creates the edge-agent user and groups when missing, creates
// /etc/edge-agent, writes the unit to /etc/systemd/system, enables it and
// reloads systemd. It does not start the service.
func (m *Manager) Install() error {
	if err := m.check(); err != nil {
		return err
	}

	if err := checkExecutable(m.exec); err != nil {
		return fmt.Errorf("install %s: %w", Name, err)
	}

	for _, p := range m.sys.packagedUnits {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("install %s: %w (%s)", Name, ErrPackaged, p)
		}
	}

	if err := m.sys.prepare(); err != nil {
		return fmt.Errorf("install %s: %w", Name, err)
	}

	if err := m.svc.Install(); err != nil {
		return fmt.Errorf("install %s: %w", Name, err)
	}
	return nil
}

// Uninstall stops and disables the service and removes the unit file that
// Install wrote. The user, the groups, the configuration and the state in
// /var/lib/edge-agent are kept.
func (m *Manager) Uninstall() error {
	if err := m.check(); err != nil {
		return err
	}

	if _, err := m.Status(); errors.Is(err, ErrNotInstalled) {
		return fmt.Errorf("uninstall %s: %w", Name, ErrNotInstalled)
	}

	_ = m.svc.Stop() // a stopped service is fine

	if err := m.svc.Uninstall(); err != nil {
		return fmt.Errorf("uninstall %s: %w", Name, err)
	}
	return nil
}

// Start starts the service.
func (m *Manager) Start() error {
	if err := m.check(); err != nil {
		return err
	}

	if err := m.svc.Start(); err != nil {
		return fmt.Errorf("start %s: %w (see systemctl status %s and journalctl -u %s)",
			Name, err, Name, Name)
	}
	return nil
}

// Stop stops the service.
func (m *Manager) Stop() error {
	if err := m.check(); err != nil {
		return err
	}

	if err := m.svc.Stop(); err != nil {
		return fmt.Errorf("stop %s: %w", Name, err)
	}
	return nil
}

// Status reports whether the service runs. It needs no root privileges.
func (m *Manager) Status() (State, error) {
	if !m.sys.systemdRunning() {
		return "", ErrNoSystemd
	}

	st, err := m.svc.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return "", ErrNotInstalled
	case err != nil:
		return "", fmt.Errorf("status of %s: %w", Name, err)
	case st == kservice.StatusRunning:
		return StateRunning, nil
	default:
		return StateStopped, nil
	}
}

// check reports why the manager cannot change the system, if it cannot.
func (m *Manager) check() error {
	if m.sys.euid() != 0 {
		return ErrNotRoot
	}
	if !m.sys.systemdRunning() {
		return ErrNoSystemd
	}
	return nil
}

// systemdRunning reports whether systemd is the init system (sd_booted).
func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// systemdSystem returns kardianos's systemd backend whatever init system it
// detected, so that the unit is rendered the same everywhere.
func systemdSystem() (kservice.System, error) {
	for _, s := range kservice.AvailableSystems() {
		if s.String() == "linux-systemd" {
			return s, nil
		}
	}
	return nil, errors.New("kardianos/service has no linux-systemd backend on this platform")
}

// executable resolves the binary path for ExecStart.
func executable(p string) (string, error) {
	if p == "" {
		var err error
		if p, err = os.Executable(); err != nil {
			return "", fmt.Errorf("find the running executable: %w", err)
		}
	}

	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve executable %s: %w", p, err)
	}
	return abs, nil
}

// checkExecutable refuses binaries in folders that the hardened unit hides.
func checkExecutable(p string) error {
	for _, hidden := range []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"} {
		if strings.HasPrefix(p, hidden) {
			return fmt.Errorf("executable %s: the unit hides %s (ProtectHome, PrivateTmp); copy the binary to /usr/local/bin first", p, hidden)
		}
	}
	return nil
}

// noopProgram satisfies kservice.Interface; this package never runs the
// daemon through kardianos, it only installs and controls the unit.
type noopProgram struct{}

func (noopProgram) Start(kservice.Service) error { return nil }
func (noopProgram) Stop(kservice.Service) error  { return nil }
