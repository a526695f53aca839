package bootstrap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
)

func TestResolveOwner(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		euid    int
		service string
		want    *Owner
		wantErr string
	}{
		{"default as root with the service user", "", 0, "nobody", &Owner{65534, 65534, "nobody:nogroup"}, ""},
		{"default as root without the service user", "", 0, "no-such-user-x", nil, ""},
		{"default when not root", "", 1000, "nobody", nil, ""},
		{"root keeps root", "root", 0, "nobody", &Owner{0, 0, "root:root"}, ""},
		{"user and group", "nobody:root", 0, "", &Owner{65534, 0, "nobody:root"}, ""},
		{"numeric ids", "65534:0", 0, "", &Owner{65534, 0, "nobody:root"}, ""},
		{"unknown numeric ids", "4242:4343", 0, "", &Owner{4242, 4343, "4242:4343"}, ""},
		{"unknown numeric user alone", "4242", 0, "", nil, "--owner 4242:GROUP"},
		{"unknown user", "no-such-user-x", 0, "", nil, `--owner: no user "no-such-user-x" on this system`},
		{"unknown group", "nobody:no-such-group-x", 0, "", nil, `--owner: no group "no-such-group-x"`},
		{"no user", ":root", 0, "", nil, "want USER or USER:GROUP"},
		{"empty group", "nobody:", 0, "", nil, "want USER or USER:GROUP"},
		{"another user when not root", "nobody", 1000, "", nil, "--owner nobody: only root"},
		{"oneself when not root", "nobody", 65534, "", &Owner{65534, 65534, "nobody:nogroup"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveOwner(tt.spec, tt.euid, tt.service)

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got (%v, %v), want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// nobody is the owner the tests give files to.
var nobody = &Owner{UID: 65534, GID: 65534, Name: "nobody:nogroup"}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
}

func ownerOf(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return int(sys.Uid), int(sys.Gid)
}

// assertOwners checks the identity folder, its public names, and the
// config file's owner and group.
func assertOwners(t *testing.T, tg target, uid, gid, cfgUID, cfgGID int) {
	t.Helper()
	paths := []string{tg.identity}
	for _, name := range []string{"device.pem.crt", "private.pem.key", "AmazonRootCA1.pem"} {
		p := filepath.Join(tg.identity, name)
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p, real)
	}
	for _, p := range paths {
		if u, g := ownerOf(t, p); u != uid || g != gid {
			t.Errorf("%s: got owner %d:%d, want %d:%d", p, u, g, uid, gid)
		}
	}
	if u, g := ownerOf(t, tg.config); u != cfgUID || g != cfgGID {
		t.Errorf("%s: got owner %d:%d, want %d:%d", tg.config, u, g, cfgUID, cfgGID)
	}
}

func TestRunGivesFilesToOwner(t *testing.T) {
	needRoot(t)
	dev := newDevice(t)
	tg := newTarget(t)
	opts := withSettings(tg.options(DirSource{Dir: writeDir(t, dev.files())}))
	opts.Owner = nobody

	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	assertOwners(t, tg, 65534, 65534, 0, 65534)
	if want := "; owner nobody:nogroup; wrote config "; !strings.Contains(res.String(), want) {
		t.Errorf("got %q, want it to contain %q", res, want)
	}
	st, _ := os.Stat(tg.config)
	if got, want := st.Mode().Perm(), os.FileMode(config.FileMode); got != want {
		t.Errorf("config mode: got %04o, want %04o", got, want)
	}
}

// TestRunGivesKeptFilesToOwner repairs what an older bootstrap left owned
// by root: the kept identity and the config file are given to the owner.
func TestRunGivesKeptFilesToOwner(t *testing.T) {
	needRoot(t)
	dev := newDevice(t)
	tg := newTarget(t)
	if _, err := Run(context.Background(), withSettings(tg.options(DirSource{Dir: writeDir(t, dev.files())}))); err != nil {
		t.Fatal(err)
	}
	assertOwners(t, tg, 0, 0, 0, 0)
	cfgBefore, _ := os.ReadFile(tg.config)
	opts := tg.options(failSource{t})
	opts.Owner = nobody

	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	if !res.AlreadyInstalled || res.Owner != nobody.Name || res.ConfigPath != "" {
		t.Errorf("got %+v, want the identity kept, given to %s, no config written", res, nobody.Name)
	}
	assertOwners(t, tg, 65534, 65534, 0, 65534)
	if cfgAfter, _ := os.ReadFile(tg.config); string(cfgAfter) != string(cfgBefore) {
		t.Errorf("config content changed although no settings were given")
	}
}

func TestRunKeptIdentityStillAppliesSettings(t *testing.T) {
	dev := newDevice(t)
	tests := []struct {
		name      string
		verifyErr error
		wantRole  string
		wantErr   string
	}{
		{"settings update the config", nil, "fleet-b", ""},
		{"failed verify changes nothing", errors.New("403 Forbidden"), "fleet-a", "verify identity (nothing installed): 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			if _, err := Run(context.Background(), withSettings(tg.options(DirSource{Dir: writeDir(t, dev.files())}))); err != nil {
				t.Fatal(err)
			}
			opts := tg.options(failSource{t})
			opts.Settings = Settings{RoleAlias: "fleet-b"}
			opts.Verify = func(context.Context, *certstore.Identity, config.Config) error { return tt.verifyErr }

			res, err := Run(context.Background(), opts)

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if want := "; updated config " + tg.config + " with the given settings"; !strings.Contains(res.String(), want) {
				t.Errorf("got %q, want it to contain %q", res, want)
			}
			cfg, err := config.ParseFile(tg.config)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RoleAlias != tt.wantRole || cfg.ThingName != "sensor-0042" || cfg.IdentityDir != tg.identity {
				t.Errorf("config: got alias %q thing %q identity_dir %q, want %s, sensor-0042, %s",
					cfg.RoleAlias, cfg.ThingName, cfg.IdentityDir, tt.wantRole, tg.identity)
			}
			if got, want := tg.fingerprint(t), dev.fingerprint(t); got != want {
				t.Errorf("identity: got %s, want the kept %s", got, want)
			}
		})
	}
}
