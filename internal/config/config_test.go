package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/pflag"
)

const goodYAML = `thing_name: sensor-0042
role_alias: SageMakerEdge-fleet-a
credential_endpoint: c1a2b3.credentials.iot.eu-west-1.amazonaws.com
region: eu-west-1
socket:
  path: /run/edge-agent/agent.sock
  group: edge-agent-clients
  allowed_uids: [1000]
tcp:
  port: 51080
log:
  level: debug
`

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "empty file gives defaults", body: "", check: func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("got %+v, want defaults", c)
			}
		}},
		{name: "contract example", body: goodYAML, check: func(t *testing.T, c Config) {
			if got, want := c.Socket.AllowedUIDs, []int{1000}; !reflect.DeepEqual(got, want) {
				t.Errorf("allowed_uids: got %v, want %v (a list replaces the default)", got, want)
			}
			if got, want := c.TCP.Addresses, []string{"127.0.0.1", "::1"}; !reflect.DeepEqual(got, want) {
				t.Errorf("tcp.addresses: got %v, want default %v", got, want)
			}
			if got, want := c.Log.Level, "debug"; got != want {
				t.Errorf("log.level: got %q, want %q", got, want)
			}
		}},
		{name: "BOM and CRLF", body: "\xef\xbb\xbfthing_name: a\r\nregion: eu-west-1\r\n", check: func(t *testing.T, c Config) {
			if c.ThingName != "a" || c.Region != "eu-west-1" {
				t.Errorf("got %q %q", c.ThingName, c.Region)
			}
		}},
		{name: "unknown top-level key", body: "thing_name: a\nthing: b\n", wantErr: `line 2: unknown key "thing"`},
		{name: "unknown nested key", body: "socket:\n  pathh: /x\n", wantErr: `line 2: unknown key "socket.pathh"`},
		{name: "section not a mapping", body: "socket: /x\n", wantErr: "socket: must be a mapping"},
		{name: "wrong type names key", body: "tcp:\n  port: lots\n", wantErr: "line 2: tcp.port: cannot unmarshal"},
		{name: "wrong type in list names key", body: "socket:\n  allowed_uids:\n    - 0\n    - root\n", wantErr: "line 4: socket.allowed_uids"},
		{name: "syntax error", body: "thing_name: [a\n", wantErr: "config test.yaml: yaml:"},
		{name: "not a mapping", body: "- a\n", wantErr: "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.body), "test.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error has several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeTemp(t, goodYAML)
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	opts := LoadOptions{
		LookupEnv: env(map[string]string{
			PathEnv:                          "/does/not/matter",
			"EDGE_AGENT_SOCKET_PATH":         "/tmp/env.sock",
			"EDGE_AGENT_TCP_PORT":            "6000",
			"EDGE_AGENT_SOCKET_ALLOWED_UIDS": "0, 1000",
			"EDGE_AGENT_THING_NAME":          "from-env",
			"EDGE_AGENT_ROLE_ALIAS":          "env-alias",
		}),
		Overrides: map[string]string{"role_alias": "override-alias"},
	}
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--thing", "from-flag", "--allow-custom-endpoint"}); err != nil {
		t.Fatal(err)
	}

	c, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, got, want string }{
		{"file value", c.Region, "eu-west-1"},
		{"env over file", c.Socket.Path, "/tmp/env.sock"},
		{"flag over env", c.ThingName, "from-flag"},
		{"override over env", c.RoleAlias, "override-alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if got, want := c.TCP.Port, 6000; got != want {
		t.Errorf("tcp.port: got %d, want %d", got, want)
	}
	if got, want := c.Socket.AllowedUIDs, []int{0, 1000}; !reflect.DeepEqual(got, want) {
		t.Errorf("allowed_uids: got %v, want %v", got, want)
	}
	if !c.AllowCustomEndpoint {
		t.Errorf("allow_custom_endpoint: got false, want true from flag")
	}
}

func TestLoadPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	good := writeTemp(t, "thing_name: from-file\n")
	tests := []struct {
		name      string
		opts      LoadOptions
		wantThing string
		wantErr   string
	}{
		{name: "explicit path", opts: LoadOptions{Path: good, LookupEnv: env(nil)}, wantThing: "from-file"},
		{name: "env path", opts: LoadOptions{LookupEnv: env(map[string]string{PathEnv: good})}, wantThing: "from-file"},
		{name: "explicit missing", opts: LoadOptions{Path: missing, LookupEnv: env(nil)}, wantErr: "missing.yaml"},
		{name: "env missing", opts: LoadOptions{LookupEnv: env(map[string]string{PathEnv: missing})}, wantErr: "missing.yaml"},
		{name: "bad env value", opts: LoadOptions{Path: good, LookupEnv: env(map[string]string{"EDGE_AGENT_TCP_PORT": "x"})}, wantErr: "EDGE_AGENT_TCP_PORT: config: tcp.port: must be a whole number"},
		{name: "bad override key", opts: LoadOptions{Path: good, LookupEnv: env(nil), Overrides: map[string]string{"nope": "1"}}, wantErr: `unknown key "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ThingName != tt.wantThing {
				t.Errorf("got thing %q, want %q", c.ThingName, tt.wantThing)
			}
		})
	}
}

func valid() Config {
	c := Default()
	c.ThingName = "sensor-0042"
	c.RoleAlias = "SageMakerEdge-fleet-a"
	c.CredentialEndpoint = "c1a2b3.credentials.iot.eu-west-1.amazonaws.com"
	c.Region = "eu-west-1"
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		partial bool
		wantKey string
		wantMsg string
	}{
		{name: "valid", mod: func(*Config) {}},
		{name: "china endpoint", mod: func(c *Config) {
			c.CredentialEndpoint, c.Region = "abc.credentials.iot.cn-north-1.amazonaws.com.cn", "cn-north-1"
		}},
		{name: "gov region", mod: func(c *Config) {
			c.CredentialEndpoint, c.Region = "abc.credentials.iot.us-gov-west-1.amazonaws.com", "us-gov-west-1"
		}},
		{name: "missing thing", mod: func(c *Config) { c.ThingName = "" }, wantKey: "thing_name", wantMsg: "is required"},
		{name: "partial allows missing", mod: func(c *Config) { *c = Default() }, partial: true},
		{name: "partial still checks form", mod: func(c *Config) { *c = Default(); c.ThingName = "a b" }, partial: true, wantKey: "thing_name", wantMsg: "1 to 128"},
		{name: "thing too long", mod: func(c *Config) { c.ThingName = strings.Repeat("a", 129) }, wantKey: "thing_name"},
		{name: "alias bad char", mod: func(c *Config) { c.RoleAlias = "a/b" }, wantKey: "role_alias", wantMsg: "_=,@-"},
		{name: "missing alias", mod: func(c *Config) { c.RoleAlias = "" }, wantKey: "role_alias", wantMsg: "is required"},
		{name: "bad region", mod: func(c *Config) { c.Region = "Europe" }, wantKey: "region", wantMsg: "eu-west-1"},
		{name: "data endpoint", mod: func(c *Config) { c.CredentialEndpoint = "a1b2c3-ats.iot.eu-west-1.amazonaws.com" }, wantKey: "credential_endpoint", wantMsg: "data endpoint"},
		{name: "data endpoint hint", mod: func(c *Config) { c.CredentialEndpoint = "a1b2c3-ats.iot.eu-west-1.amazonaws.com" }, wantKey: "credential_endpoint", wantMsg: "--endpoint-type iot:CredentialProvider"},
		{name: "endpoint with scheme", mod: func(c *Config) { c.CredentialEndpoint = "https://c1a2b3.credentials.iot.eu-west-1.amazonaws.com" }, wantKey: "credential_endpoint", wantMsg: "host name only"},
		{name: "other host", mod: func(c *Config) { c.CredentialEndpoint = "localhost" }, wantKey: "credential_endpoint", wantMsg: "allow_custom_endpoint"},
		{name: "region mismatch", mod: func(c *Config) { c.Region = "us-east-1" }, wantKey: "credential_endpoint", wantMsg: "region eu-west-1 but region is us-east-1"},
		{name: "custom host port", mod: func(c *Config) { c.AllowCustomEndpoint, c.CredentialEndpoint = true, "127.0.0.1:8443" }},
		{name: "custom ipv6", mod: func(c *Config) { c.AllowCustomEndpoint, c.CredentialEndpoint = true, "[::1]:8443" }},
		{name: "custom name", mod: func(c *Config) { c.AllowCustomEndpoint, c.CredentialEndpoint = true, "sandbox.local" }},
		{name: "custom bad port", mod: func(c *Config) { c.AllowCustomEndpoint, c.CredentialEndpoint = true, "host:0" }, wantKey: "credential_endpoint", wantMsg: "port"},
		{name: "data endpoint even when custom", mod: func(c *Config) {
			c.AllowCustomEndpoint, c.CredentialEndpoint = true, "a1b2c3-ats.iot.eu-west-1.amazonaws.com"
		}, wantKey: "credential_endpoint", wantMsg: "is the IoT data endpoint"},
		{name: "data endpoint with port when custom", mod: func(c *Config) {
			c.AllowCustomEndpoint, c.CredentialEndpoint = true, "A1B2C3-ATS.iot.eu-west-1.amazonaws.com:443"
		}, wantKey: "credential_endpoint", wantMsg: "--endpoint-type iot:CredentialProvider"},
		{name: "custom with scheme", mod: func(c *Config) { c.AllowCustomEndpoint, c.CredentialEndpoint = true, "https://host" }, wantKey: "credential_endpoint", wantMsg: "without scheme"},
		{name: "tcp not loopback", mod: func(c *Config) { c.TCP.Port, c.TCP.Addresses = 51080, []string{"0.0.0.0"} }, wantKey: "tcp.addresses", wantMsg: "loopback"},
		{name: "tcp hostname", mod: func(c *Config) { c.TCP.Port, c.TCP.Addresses = 51080, []string{"example.com"} }, wantKey: "tcp.addresses"},
		{name: "tcp no addresses", mod: func(c *Config) { c.TCP.Port, c.TCP.Addresses = 51080, nil }, wantKey: "tcp.addresses"},
		{name: "tcp port range", mod: func(c *Config) { c.TCP.Port = 70000 }, wantKey: "tcp.port"},
		{name: "imds port range", mod: func(c *Config) { c.IMDS.Port = -1 }, wantKey: "imds.port"},
		{name: "negative uid", mod: func(c *Config) { c.Socket.AllowedUIDs = []int{-1} }, wantKey: "socket.allowed_uids", wantMsg: "non-negative"},
		{name: "negative gid", mod: func(c *Config) { c.Socket.AllowedGIDs = []int{-5} }, wantKey: "socket.allowed_gids"},
		{name: "relative identity dir", mod: func(c *Config) { c.IdentityDir = "identity" }, wantKey: "identity_dir", wantMsg: "absolute"},
		{name: "relative cache", mod: func(c *Config) { c.CacheFile = "cache.json" }, wantKey: "cache_file"},
		{name: "long socket path", mod: func(c *Config) { c.Socket.Path = "/" + strings.Repeat("s", 120) }, wantKey: "socket.path", wantMsg: "unix socket limit"},
		{name: "relative token file", mod: func(c *Config) { c.TCP.Port, c.TCP.TokenFile = 1, "token" }, wantKey: "tcp.token_file"},
		{name: "log level", mod: func(c *Config) { c.Log.Level = "verbose" }, wantKey: "log.level", wantMsg: "debug, info, warn, error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			if tt.partial {
				err = c.ValidatePartial()
			}
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FieldError", err)
			}
			if fe.Key != tt.wantKey {
				t.Errorf("got key %q, want %q (%v)", fe.Key, tt.wantKey, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestValidateListsEveryField(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	if got, want := len(ve.Fields), 5; got != want {
		t.Errorf("got %d field errors, want %d: %v", got, want, err)
	}
}

func TestRegionFromEndpoint(t *testing.T) {
	tests := []struct{ ep, want string }{
		{"c1.credentials.iot.eu-west-1.amazonaws.com", "eu-west-1"},
		{"c1.credentials.iot.cn-north-1.amazonaws.com.cn", "cn-north-1"},
		{"c1-ats.iot.eu-west-1.amazonaws.com", ""},
		{"localhost:8443", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ep, func(t *testing.T) {
			if got := RegionFromEndpoint(tt.ep); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	c := valid()
	c.Socket.Group = "clients"
	c.TCP.Port = 51080
	c.AllowCustomEndpoint = true
	path := filepath.Join(t.TempDir(), "etc", "config.yaml")

	if err := WriteFile(path, c); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, c); err != nil {
		t.Fatalf("overwrite: %v", err)
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o640); got != want {
		t.Errorf("mode: got %v, want %v", got, want)
	}
	got, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip: got %+v, want %+v", got, c)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("got %d entries in the folder, want only config.yaml (no temporary files)", len(entries))
	}
}

func TestWriteFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	tests := []struct {
		name               string
		uid, gid           int
		wantUID, wantGroup int
	}{
		{"group only, as bootstrap does", -1, 65534, 0, 65534},
		{"user and group", 65534, 65534, 65534, 65534},
		{"neither", -1, -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := WriteFileOwner(path, valid(), 12345, 12345); err != nil {
				t.Fatal(err) // an older file with another owner is replaced
			}

			if err := WriteFileOwner(path, valid(), tt.uid, tt.gid); err != nil {
				t.Fatal(err)
			}

			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if int(sys.Uid) != tt.wantUID || int(sys.Gid) != tt.wantGroup {
				t.Errorf("owner: got %d:%d, want %d:%d", sys.Uid, sys.Gid, tt.wantUID, tt.wantGroup)
			}
			if got, want := st.Mode().Perm(), os.FileMode(FileMode); got != want {
				t.Errorf("mode: got %04o, want %04o", got, want)
			}
		})
	}
}

func TestSetDoesNotAlias(t *testing.T) {
	base := Default()
	c, err := Set(base, "socket.allowed_uids", "5")
	if err != nil {
		t.Fatal(err)
	}
	c.TCP.Addresses[0] = "changed"
	if got, want := base.TCP.Addresses[0], "127.0.0.1"; got != want {
		t.Errorf("base changed: got %q, want %q", got, want)
	}
	if got, want := base.Socket.AllowedUIDs, []int{0}; !reflect.DeepEqual(got, want) {
		t.Errorf("base changed: got %v, want %v", got, want)
	}
}

func TestLoadMissingDefaultFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "etc", "config.yaml")
	old := defaultPath
	defaultPath = missing
	t.Cleanup(func() { defaultPath = old })
	partial := writeTemp(t, "region: eu-west-1\n")

	tests := []struct {
		name    string
		opts    LoadOptions
		want    []string // in Validate's error; none means no error
		notWant string
	}{
		{name: "nothing set", opts: LoadOptions{LookupEnv: env(nil)}, want: []string{
			"no configuration file at " + missing,
			"thing_name, role_alias, region and credential_endpoint are not set",
			"run 'edge-agent bootstrap' (it writes the file) or create " + missing,
		}, notWant: "is required"},
		{name: "some keys from the environment", opts: LoadOptions{LookupEnv: env(map[string]string{
			"EDGE_AGENT_THING_NAME": "sensor-1", "EDGE_AGENT_REGION": "eu-west-1", "EDGE_AGENT_LOG_LEVEL": "loud",
		})}, want: []string{
			"no configuration file at " + missing + ", so role_alias and credential_endpoint are not set",
			"log.level: must be one of",
		}, notWant: "thing_name"},
		{name: "every key from the environment", opts: LoadOptions{LookupEnv: env(map[string]string{
			"EDGE_AGENT_THING_NAME": "sensor-1", "EDGE_AGENT_ROLE_ALIAS": "fleet", "EDGE_AGENT_REGION": "eu-west-1",
			"EDGE_AGENT_CREDENTIAL_ENDPOINT": "c1.credentials.iot.eu-west-1.amazonaws.com",
		})}},
		{name: "a file that lacks keys", opts: LoadOptions{Path: partial, LookupEnv: env(nil)},
			want: []string{"thing_name: is required"}, notWant: "no configuration file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.opts)
			if err != nil {
				t.Fatal(err)
			}

			err = c.Validate()

			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("got %q, want it without %q", err, tt.notWant)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("got %v, want errors.As to find a *FieldError", err)
			}
		})
	}
}

func TestLoadUnknownEnvironment(t *testing.T) {
	good := writeTemp(t, "thing_name: from-file\n")
	tests := []struct {
		name    string
		environ []string
		wantErr string
	}{
		{"known names", []string{"EDGE_AGENT_CONFIG=/x", "EDGE_AGENT_TCP_PORT=1", "HOME=/root", "EDGE_AGENTX=1"}, ""},
		{"misspelt", []string{"EDGE_AGENT_SOCKET_PAHT=/tmp/a.sock"},
			"environment: unknown variable EDGE_AGENT_SOCKET_PAHT (did you mean EDGE_AGENT_SOCKET_PATH?)"},
		{"part of a name", []string{"EDGE_AGENT_PORT=51080"}, "EDGE_AGENT_PORT (did you mean EDGE_AGENT_TCP_PORT?)"},
		{"token", []string{"EDGE_AGENT_TOKEN=/run/t"}, "EDGE_AGENT_TOKEN (did you mean EDGE_AGENT_TCP_TOKEN_FILE?)"},
		{"config file", []string{"EDGE_AGENT_CONFIG_FILE=/etc/x.yaml"}, "did you mean EDGE_AGENT_CONFIG?"},
		{"several, sorted", []string{"EDGE_AGENT_ZONE=a", "EDGE_AGENT_AREA=b"}, "EDGE_AGENT_AREA (did you mean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := tt.environ
			_, err := Load(LoadOptions{Path: good, LookupEnv: env(nil), Environ: func() []string { return environ }})

			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
