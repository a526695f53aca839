//go:build integration

// Package packaging checks the systemd unit with systemd-analyze and the .deb
// packages with dpkg: contents, modes, maintainer scripts, an install into a
// throw-away root, and the foreign binaries under qemu-user.
package packaging

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository root, relative to this package.
const root = "../.."

var arches = []struct {
	deb     string
	machine elf.Machine
	qemu    string
	goarch  string
}{
	{"amd64", elf.EM_X86_64, "", "linux/amd64"},
	{"arm64", elf.EM_AARCH64, "qemu-aarch64-static", "linux/arm64"},
	{"armhf", elf.EM_ARM, "qemu-arm-static", "linux/arm"},
}

// need skips the test when a program is missing.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s is not installed (scripts/install-test-deps.sh installs it)", prog)
	}
	return p
}

// run runs a command and returns its combined output, failing on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	debsOnce sync.Once
	debsOut  map[string]string
	debsErr  string
)

// debs runs `make deb` once and returns the package path per architecture.
func debs(t *testing.T) map[string]string {
	t.Helper()
	debsOnce.Do(func() {
		if err := os.RemoveAll(filepath.Join(root, "dist")); err != nil {
			debsErr = err.Error()
			return
		}
		out, err := exec.Command("make", "-C", root, "deb").CombinedOutput()
		if err != nil {
			debsErr = "make deb: " + err.Error() + "\n" + string(out)
			return
		}
		debsOut = map[string]string{}
		for _, a := range arches {
			m, _ := filepath.Glob(filepath.Join(root, "dist", "edge-agent_*_"+a.deb+".deb"))
			if len(m) == 1 {
				debsOut[a.deb] = m[0]
			}
		}
	})
	if debsErr != "" {
		t.Fatal(debsErr)
	}
	return debsOut
}

// unitCopy writes the unit into dir with ExecStart naming an existing file,
// which systemd-analyze verify requires.
func unitCopy(t *testing.T, dir, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ExecStart=\S+`)
	b = re.ReplaceAll(b, []byte("ExecStart="+exe))
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestUnitVerify(t *testing.T) {
	need(t, "systemd-analyze")
	dir := t.TempDir()
	agent := unitCopy(t, dir, filepath.Join(root, "packaging/systemd/edge-agent.service"))
	consumer := unitCopy(t, dir, filepath.Join(root, "packaging/systemd/examples/consumer.service"))

	for _, unit := range []string{agent, consumer} {
		t.Run(filepath.Base(unit), func(t *testing.T) {
			cmd := exec.Command("systemd-analyze", "verify", unit)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
			// verify only warns about unknown keys; they are errors here.
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(strings.ToLower(line), "unknown") {
					t.Errorf("systemd-analyze verify: %s", line)
				}
			}
		})
	}
}

func TestUnitSecurity(t *testing.T) {
	need(t, "systemd-analyze")
	unit := unitCopy(t, t.TempDir(), filepath.Join(root, "packaging/systemd/edge-agent.service"))

	// security exits non-zero only with --threshold; read the summary line.
	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}

	score, level := string(m[1]), string(m[2])
	t.Logf("systemd-analyze security: exposure %s %s", score, level)
	if !slices.Contains([]string{"PERFECT", "SAFE", "OK"}, level) {
		t.Errorf("got exposure level %s %s, want OK or better\n%s", score, level, out)
	}
}

func TestPackageContents(t *testing.T) {
	need(t, "dpkg-deb")
	pkgs := debs(t)

	for _, a := range arches {
		t.Run(a.deb, func(t *testing.T) {
			pkg := pkgs[a.deb]
			if pkg == "" {
				t.Fatalf("no %s package in dist/", a.deb)
			}
			fi, err := os.Stat(pkg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes", filepath.Base(pkg), fi.Size())

			checkFields(t, pkg, a.deb)
			checkFileList(t, pkg)
			checkControl(t, pkg)
			checkBinary(t, pkg, a.machine)
		})
	}
}

func checkFields(t *testing.T, pkg, arch string) {
	t.Helper()
	want := map[string]string{"Package": "edge-agent", "Architecture": arch}
	for field, w := range want {
		if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", pkg, field)); got != w {
			t.Errorf("%s: got %q, want %q", field, got, w)
		}
	}
}

// checkFileList compares the modes of the packaged files.
func checkFileList(t *testing.T, pkg string) {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(run(t, "dpkg-deb", "-c", pkg), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			got[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
		}
	}

	want := map[string]string{
		"/usr/bin/edge-agent":                           "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/edge-agent.service":    "-rw-r--r-- root/root",
		"/etc/edge-agent/":                              "drwxr-x--- root/root",
		"/etc/edge-agent/config.yaml":                   "-rw-r----- root/root",
		"/usr/share/doc/edge-agent/copyright":           "-rw-r--r-- root/root",
		"/usr/share/doc/edge-agent/changelog.Debian.gz": "-rw-r--r-- 0/0",
	}
	for path, w := range want {
		if got[path] != w {
			t.Errorf("%s: got %q, want %q", path, got[path], w)
		}
	}
}

// checkControl checks conffiles and the maintainer scripts' syntax.
func checkControl(t *testing.T, pkg string) {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "-e", pkg, dir)

	conffiles, err := os.ReadFile(filepath.Join(dir, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(conffiles)), "/etc/edge-agent/config.yaml"; got != want {
		t.Errorf("conffiles: got %q, want %q", got, want)
	}

	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(dir, s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: got mode %v, want 0755", s, fi.Mode().Perm())
		}
		run(t, "sh", "-n", p)
		if _, err := exec.LookPath("dash"); err == nil {
			run(t, "dash", "-n", p)
		}
	}
}

// checkBinary extracts /usr/bin/edge-agent and checks that it is built for
// arch, static and stripped.
func checkBinary(t *testing.T, pkg string, machine elf.Machine) {
	t.Helper()
	bin := extractBinary(t, pkg)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if f.Machine != machine {
		t.Errorf("machine: got %v, want %v", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an ELF interpreter: not static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("binary has a .symtab: not stripped")
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stripped binary: %d bytes", fi.Size())
	if fi.Size() > maxBinarySize {
		t.Errorf("stripped binary: %d bytes, over %d: something turned off the linker's dead "+
			"code elimination (text/template or reflect.Method reachable, e.g. a cobra template)",
			fi.Size(), maxBinarySize)
	}
}

// maxBinarySize is a ceiling well above the stripped binary's size (about
// 17 MB with the admin commands) and well below what it becomes when dead code
// elimination is lost (44 MB), so that such a regression fails here.
const maxBinarySize = 24 << 20

func extractBinary(t *testing.T, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", pkg, dir)
	return filepath.Join(dir, "usr/bin/edge-agent")
}

// TestInstallIntoRoot installs the amd64 package into an empty root with
// dpkg --root. Maintainer scripts run outside a chroot (there is no shell in
// the root) with DPKG_ROOT set, so they only enable the unit there.
func TestInstallIntoRoot(t *testing.T) {
	need(t, "dpkg")
	pkg := debs(t)["amd64"]
	dir := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(args ...string) string {
		return run(t, "dpkg", append([]string{"--root=" + dir, "--force-script-chrootless",
			"--force-depends", "--force-not-root", "--log=/dev/null"}, args...)...)
	}

	dpkg("-i", pkg)

	out := run(t, filepath.Join(dir, "usr/bin/edge-agent"), "version")
	if !strings.Contains(out, "linux/amd64") {
		t.Errorf("edge-agent version: got %q, want it to name linux/amd64", out)
	}
	wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants/edge-agent.service")
	if _, err := os.Lstat(wants); err != nil {
		t.Errorf("unit not enabled in the root: %v", err)
	}

	state := filepath.Join(dir, "var/lib/edge-agent")
	if err := os.MkdirAll(filepath.Join(state, "identity"), 0o700); err != nil {
		t.Fatal(err)
	}
	dpkg("--purge", "edge-agent")

	for _, p := range []string{"usr/bin/edge-agent", "etc/edge-agent", "var/lib/edge-agent",
		"usr/lib/systemd/system/edge-agent.service", "etc/systemd/system/multi-user.target.wants/edge-agent.service"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s is left after purge", p)
		}
	}
}

// TestForeignBinaries runs the arm64 and armhf binaries under qemu-user.
func TestForeignBinaries(t *testing.T) {
	pkgs := debs(t)
	for _, a := range arches {
		if a.qemu == "" {
			continue
		}
		t.Run(a.deb, func(t *testing.T) {
			qemu := need(t, a.qemu)
			bin := extractBinary(t, pkgs[a.deb])

			out := run(t, qemu, bin, "version")
			if !strings.Contains(out, a.goarch) {
				t.Errorf("edge-agent version: got %q, want it to name %s", out, a.goarch)
			}
		})
	}
}

// TestPostinstAccounts runs postinst with stand-ins for the commands that
// change the system, and checks what it would have run.
func TestPostinstAccounts(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	stub := "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> " + log + "\n"
	for _, name := range []string{"groupadd", "useradd", "usermod", "chgrp", "dpkg-statoverride",
		"deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// getent finds nothing, so every account is created.
	if err := os.WriteFile(filepath.Join(dir, "getent"), []byte(stub+"exit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("sh", filepath.Join(root, "packaging/deb/scripts/postinst"), "configure")
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "DPKG_ROOT="}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postinst configure: %v\n%s", err, out)
	}

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "getent ") {
			got = append(got, l)
		}
	}
	want := []string{
		"groupadd --system edge-agent",
		"useradd --system --gid edge-agent --home-dir /var/lib/edge-agent --no-create-home " +
			"--shell /usr/sbin/nologin --comment edge-agent daemon edge-agent",
		"groupadd --system edge-agent-clients",
		"usermod --append --groups edge-agent-clients edge-agent",
		"deb-systemd-helper unmask edge-agent.service",
		"deb-systemd-helper --quiet was-enabled edge-agent.service",
		"deb-systemd-helper enable edge-agent.service",
	}
	if !slices.Equal(got, want) {
		t.Errorf("postinst ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPostrmPurge runs postrm purge with stand-ins for the commands that
// change the system: it deletes the state and runtime folders and
// /etc/edge-agent when empty, and leaves the system accounts alone.
func TestPostrmPurge(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	stub := "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> " + log + "\n"
	// getent finds every account, so a script that deleted them would try.
	for _, name := range []string{"getent", "rm", "rmdir", "userdel", "groupdel", "deluser", "delgroup",
		"gpasswd", "deb-systemd-helper", "systemctl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("sh", filepath.Join(root, "packaging/deb/scripts/postrm"), "purge")
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "DPKG_ROOT="}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postrm purge: %v\n%s", err, out)
	}

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// daemon-reload runs only where systemd is running.
		if !strings.HasPrefix(l, "systemctl ") {
			got = append(got, l)
		}
	}
	want := []string{
		"deb-systemd-helper purge edge-agent.service",
		"deb-systemd-helper unmask edge-agent.service",
		"rm -rf /var/lib/edge-agent /run/edge-agent",
		"rmdir /etc/edge-agent",
	}
	if !slices.Equal(got, want) {
		t.Errorf("postrm purge ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
