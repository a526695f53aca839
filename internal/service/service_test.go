package service

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/packaging/systemd"
)

// fakeHost gives kardianos a fake systemctl and a home for user units, so
// that Install renders the real template into a temporary folder.
type fakeHost struct {
	home, log string
}

func newFakeHost(t *testing.T, active string) fakeHost {
	t.Helper()
	dir := t.TempDir()
	h := fakeHost{home: filepath.Join(dir, "home"), log: filepath.Join(dir, "systemctl.log")}

	script := `#!/bin/sh
echo "$*" >> "` + h.log + `"
case "$1" in
is-active) echo "` + active + `"; [ "` + active + `" = active ] ;;
list-unit-files) echo "edge-agent.service enabled" ;;
esac
`
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", h.home)
	return h
}

func (h fakeHost) unit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.home, ".config/systemd/user", systemd.UnitName))
	if err != nil {
		t.Fatalf("read installed unit: %v", err)
	}
	return string(b)
}

func (h fakeHost) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(h.log)
	if err != nil {
		t.Fatalf("read systemctl log: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// fakeSystem is a root machine running systemd, with nothing to prepare.
func fakeSystem() system {
	return system{
		euid:           func() int { return 0 },
		systemdRunning: func() bool { return true },
		prepare:        func() error { return nil },
	}
}

func TestInstallWritesPackagedUnit(t *testing.T) {
	tests := []struct {
		name, exe, execStart string
	}{
		{"packaged path", systemd.ExecPath, "ExecStart=/usr/bin/edge-agent run"},
		{"other path", "/opt/edge agent/edge-agent", `ExecStart=/opt/edge\x20agent/edge-agent run`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, "inactive")
			m, err := newManager(Options{Executable: tt.exe}, fakeSystem(), true)
			if err != nil {
				t.Fatal(err)
			}

			if err := m.Install(); err != nil {
				t.Fatalf("install: %v", err)
			}

			want := strings.Replace(systemd.Unit,
				"ExecStart=/usr/bin/edge-agent run", tt.execStart, 1)
			if got := h.unit(t); got != want {
				t.Errorf("installed unit differs from the packaged one:\ngot:\n%s\nwant:\n%s", got, want)
			}
			wantCalls := []string{"enable --user edge-agent.service", "daemon-reload --user"}
			if got := h.calls(t); !reflect.DeepEqual(got, wantCalls) {
				t.Errorf("got systemctl calls %q, want %q", got, wantCalls)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tmpl, err := Template()
	if err != nil {
		t.Fatal(err)
	}

	got := strings.Replace(tmpl, "{{Path | cmdEscape}}", systemd.ExecPath, 1)
	if got != systemd.Unit {
		t.Errorf("template with %s is not the packaged unit", systemd.ExecPath)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		active string
		want   State
	}{
		{"active", StateRunning},
		{"inactive", StateStopped},
	}
	for _, tt := range tests {
		t.Run(tt.active, func(t *testing.T) {
			newFakeHost(t, tt.active)
			m, err := newManager(Options{Executable: systemd.ExecPath}, fakeSystem(), true)
			if err != nil {
				t.Fatal(err)
			}

			got, err := m.Status()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	packaged := filepath.Join(t.TempDir(), systemd.UnitName)
	if err := os.WriteFile(packaged, []byte(systemd.Unit), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change func(*system)
		want   error
	}{
		{"not root", func(s *system) { s.euid = func() int { return 1000 } }, ErrNotRoot},
		{"no systemd", func(s *system) { s.systemdRunning = func() bool { return false } }, ErrNoSystemd},
		{"packaged", func(s *system) { s.packagedUnits = []string{packaged} }, ErrPackaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newFakeHost(t, "inactive")
			sys := fakeSystem()
			tt.change(&sys)
			m, err := newManager(Options{Executable: systemd.ExecPath}, sys, true)
			if err != nil {
				t.Fatal(err)
			}

			if err := m.Install(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestExecutable(t *testing.T) {
	tests := []struct {
		path    string
		wantErr bool
	}{
		{"/usr/local/bin/edge-agent", false},
		{"/usr/bin/edge-agent", false},
		{"/home/pi/edge-agent", true},
		{"/root/edge-agent", true},
		{"/tmp/edge-agent", true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := executable(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.path {
				t.Errorf("got %q, want %q", got, tt.path)
			}

			err = checkExecutable(got)
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestEnsureAccounts(t *testing.T) {
	useradd := "useradd --system --gid edge-agent --home-dir /var/lib/edge-agent " +
		"--no-create-home --shell /usr/sbin/nologin --comment edge-agent daemon edge-agent"
	usermod := "usermod --append --groups edge-agent-clients edge-agent"
	tests := []struct {
		name   string
		exists map[string]bool
		want   []string
	}{
		{"fresh", nil, []string{"groupadd --system edge-agent", useradd,
			"groupadd --system edge-agent-clients", usermod}},
		{"all exist", map[string]bool{"group/edge-agent": true, "passwd/edge-agent": true,
			"group/edge-agent-clients": true}, []string{usermod}},
		{"clients group missing", map[string]bool{"group/edge-agent": true, "passwd/edge-agent": true},
			[]string{"groupadd --system edge-agent-clients", usermod}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			run := func(name string, args ...string) error {
				got = append(got, name+" "+strings.Join(args, " "))
				return nil
			}
			lookup := func(db, name string) (bool, error) { return tt.exists[db+"/"+name], nil }

			if err := ensureAccounts(run, lookup); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnsureConfigDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "edge-agent")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown to root needs root")
	}

	if err := ensureConfigDir(dir, os.Getgid()); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o750); got != want {
		t.Errorf("got mode %v, want %v", got, want)
	}
}
