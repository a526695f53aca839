// Package config holds the agent's configuration: defaults, the YAML file,
// EDGE_AGENT_* environment variables and command-line flags, resolved once
// into an immutable [Config] value, and the validation rules that every
// command relies on.
package config

// DefaultPath is where the agent reads its configuration file unless
// --config or EDGE_AGENT_CONFIG names another.
const DefaultPath = "/etc/edge-agent/config.yaml"

// PathEnv is the environment variable that overrides [DefaultPath].
const PathEnv = "EDGE_AGENT_CONFIG"

// EnvPrefix starts every environment variable that overrides a key, as in
// EDGE_AGENT_SOCKET_PATH for socket.path.
const EnvPrefix = "EDGE_AGENT_"

// Config is the agent's resolved configuration. Treat it as immutable: a
// reload builds a new value rather than changing a shared one, and the slices
// it holds must not be modified by callers (use [Config.Clone] first).
type Config struct {
	// ThingName is sent as x-amzn-iot-thingname.
	ThingName string `yaml:"thing_name"`
	// RoleAlias is the IoT role alias exchanged for credentials.
	RoleAlias string `yaml:"role_alias"`
	// CredentialEndpoint is the host (and, for custom endpoints, port) of
	// the IoT credentials provider.
	CredentialEndpoint string `yaml:"credential_endpoint"`
	// Region is the AWS region of the credentials endpoint.
	Region string `yaml:"region"`
	// AllowCustomEndpoint accepts any host[:port] as the credentials
	// endpoint, for the sandbox and private test setups.
	AllowCustomEndpoint bool `yaml:"allow_custom_endpoint"`
	// IdentityDir holds the device certificate, key and root CA.
	IdentityDir string `yaml:"identity_dir"`
	// CacheFile keeps the last good credentials across restarts.
	CacheFile string `yaml:"cache_file"`
	// Socket configures the local unix socket.
	Socket SocketConfig `yaml:"socket"`
	// TCP configures the optional loopback TCP listener.
	TCP TCPConfig `yaml:"tcp"`
	// IMDS configures the optional instance-metadata style listener.
	IMDS IMDSConfig `yaml:"imds"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`

	// missingFile is the path [Load] looked for the file at, when no file
	// was named and none was at [DefaultPath]; "" when a file was read.
	missingFile string
}

// SocketConfig configures the unix socket of the local API.
type SocketConfig struct {
	// Path is the socket file.
	Path string `yaml:"path"`
	// Group, when set, owns the socket so that its members may connect.
	Group string `yaml:"group"`
	// AllowedUIDs are the peer user ids allowed to ask for credentials.
	AllowedUIDs []int `yaml:"allowed_uids"`
	// AllowedGIDs are the peer group ids allowed to ask for credentials.
	AllowedGIDs []int `yaml:"allowed_gids"`
}

// TCPConfig configures the optional loopback TCP listener.
type TCPConfig struct {
	// Port is the TCP port; 0 turns the listener off.
	Port int `yaml:"port"`
	// TokenFile holds the token clients must send.
	TokenFile string `yaml:"token_file"`
	// Addresses are the loopback addresses to listen on.
	Addresses []string `yaml:"addresses"`
}

// IMDSConfig configures the optional instance-metadata style listener.
type IMDSConfig struct {
	// Port is the TCP port; 0 turns the listener off.
	Port int `yaml:"port"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
}

// Default returns the configuration used for every key that neither the
// file, the environment nor a flag sets.
func Default() Config {
	return Config{
		IdentityDir: "/var/lib/edge-agent/identity",
		CacheFile:   "/var/lib/edge-agent/cache.json",
		Socket: SocketConfig{
			Path:        "/run/edge-agent/agent.sock",
			AllowedUIDs: []int{0},
			AllowedGIDs: []int{},
		},
		TCP: TCPConfig{
			TokenFile: "/run/edge-agent/token",
			Addresses: []string{"127.0.0.1", "::1"},
		},
		Log: LogConfig{Level: "info"},
	}
}

// Clone returns a deep copy of c, safe to modify.
func (c Config) Clone() Config {
	c.Socket.AllowedUIDs = append([]int(nil), c.Socket.AllowedUIDs...)
	c.Socket.AllowedGIDs = append([]int(nil), c.Socket.AllowedGIDs...)
	c.TCP.Addresses = append([]string(nil), c.TCP.Addresses...)
	return c
}

// MissingFile returns the default configuration file that [Load] found
// missing, or "" when Load read a file (or the Config did not come from
// Load).
func (c Config) MissingFile() string {
	return c.missingFile
}
