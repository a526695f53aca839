// Command deb builds the edge-agent .deb packages for amd64, arm64 and armhf
// from the binaries that `make cross` leaves in bin/, with nfpm used as a
// library so that the build needs no tool beyond the Go module cache.
//
// Run it from the repository root (`make deb` does):
//
//	go run ./packaging/deb -version v1.2.3 -bin bin -out dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
)

// target ties a Debian architecture to the folder `make cross` builds into.
type target struct {
	debArch, binDir string
}

var targets = []target{
	{"amd64", "linux-amd64"},
	{"arm64", "linux-arm64"},
	{"armhf", "linux-armv7"},
}

func main() {
	version := flag.String("version", "dev", "version (git describe); normalized to a Debian version")
	bin := flag.String("bin", "bin", "folder with linux-<arch>/edge-agent from make cross")
	out := flag.String("out", "dist", "folder for the .deb files")
	config := flag.String("config", "packaging/deb/nfpm.yaml", "nfpm configuration")
	flag.Parse()

	if err := run(*config, *version, *bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "deb:", err)
		os.Exit(1)
	}
}

func run(config, version, bin, out string) error {
	ver, pre := debianVersion(version)

	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create output folder %s: %w", out, err)
	}

	changelog, err := writeChangelog(out, debianFullVersion(ver, pre), version, buildDate())
	if err != nil {
		return err
	}
	defer os.Remove(changelog)

	for _, t := range targets {
		vars := map[string]string{
			"ARCH":       t.debArch,
			"VERSION":    ver,
			"PRERELEASE": pre,
			"BINARY":     filepath.Join(bin, t.binDir, "edge-agent"),
			"CHANGELOG":  changelog,
		}
		path, err := build(config, out, vars)
		if err != nil {
			return fmt.Errorf("build %s package: %w", t.debArch, err)
		}
		fmt.Println(path)
	}
	return nil
}

// build writes one package and returns its path.
func build(config, out string, vars map[string]string) (string, error) {
	if _, err := os.Stat(vars["BINARY"]); err != nil {
		return "", fmt.Errorf("binary missing (run make cross first): %w", err)
	}

	cfg, err := nfpm.ParseFileWithEnvMapping(config, func(k string) string { return vars[k] })
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", config, err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", fmt.Errorf("read %s: %w", config, err)
	}
	info.Changelog = vars["CHANGELOG"]
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("validate %s: %w", config, err)
	}

	path := filepath.Join(out, deb.Default.ConventionalFileName(info))
	if err := writePackage(path, info); err != nil {
		return "", err
	}
	return path, nil
}

// writePackage writes the package to a temporary file and renames it, so a
// failed build leaves no truncated .deb behind.
func writePackage(path string, info *nfpm.Info) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".deb-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(f.Name())

	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return fmt.Errorf("package %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("set mode of %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

var notDebian = regexp.MustCompile(`[^A-Za-z0-9.+~]+`)

// debianVersion turns a git describe string into an upstream version and a
// pre-release part that sorts before it ("1.2.3" + "~rc1"). Without a
// tag ("8715ff6-dirty") the version is 0.0.0 with "git8715ff6.dirty".
func debianVersion(describe string) (version, prerelease string) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(describe, "v"))
	if err != nil {
		v, err = semver.NewVersion(describe)
	}
	if err != nil || !strings.ContainsRune(describe, '.') {
		return "0.0.0", "git" + notDebian.ReplaceAllString(describe, ".")
	}

	return fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch()),
		notDebian.ReplaceAllString(v.Prerelease(), ".")
}

// debianFullVersion joins the version and pre-release as nfpm writes them into
// the package's Version field.
func debianFullVersion(version, prerelease string) string {
	if prerelease == "" {
		return version
	}
	return version + "~" + prerelease
}

// buildDate is SOURCE_DATE_EPOCH when set, for reproducible packages, and
// the current time otherwise.
func buildDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Now().UTC()
}

// changelogYAML is the one-entry changelog, in the chglog format nfpm reads,
// that becomes changelog.Debian.gz. The project keeps its history in git; the
// entry records which revision the package was built from.
const changelogYAML = `- semver: %q
  date: %s
  packager: "edge-agent developers <edge-agent@users.noreply.github.com>"
  deb:
    urgency: medium
    distributions: [stable]
  changes:
    - commit: ""
      note: %q
`

// writeChangelog writes the changelog for version into a temporary file in
// dir and returns its path.
func writeChangelog(dir, version, describe string, date time.Time) (string, error) {
	f, err := os.CreateTemp(dir, ".changelog-*.yaml")
	if err != nil {
		return "", fmt.Errorf("create changelog in %s: %w", dir, err)
	}

	note := "Build of " + describe + "; the git history holds the changes."
	_, err = fmt.Fprintf(f, changelogYAML, version, date.Format(time.RFC3339), note)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write changelog %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}
