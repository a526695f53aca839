package config

import (
	"fmt"
	"strconv"
	"strings"
)

// key describes one configuration key that the environment and flags can
// set, by its dotted YAML name.
type key struct {
	name string
	set  func(c *Config, v string) error
}

// keys lists every settable key in the order of the YAML file.
var keys = []key{
	{"thing_name", setString(func(c *Config) *string { return &c.ThingName })},
	{"role_alias", setString(func(c *Config) *string { return &c.RoleAlias })},
	{"credential_endpoint", setString(func(c *Config) *string { return &c.CredentialEndpoint })},
	{"region", setString(func(c *Config) *string { return &c.Region })},
	{"allow_custom_endpoint", setBool(func(c *Config) *bool { return &c.AllowCustomEndpoint })},
	{"identity_dir", setString(func(c *Config) *string { return &c.IdentityDir })},
	{"cache_file", setString(func(c *Config) *string { return &c.CacheFile })},
	{"socket.path", setString(func(c *Config) *string { return &c.Socket.Path })},
	{"socket.group", setString(func(c *Config) *string { return &c.Socket.Group })},
	{"socket.allowed_uids", setInts(func(c *Config) *[]int { return &c.Socket.AllowedUIDs })},
	{"socket.allowed_gids", setInts(func(c *Config) *[]int { return &c.Socket.AllowedGIDs })},
	{"tcp.port", setInt(func(c *Config) *int { return &c.TCP.Port })},
	{"tcp.token_file", setString(func(c *Config) *string { return &c.TCP.TokenFile })},
	{"tcp.addresses", setStrings(func(c *Config) *[]string { return &c.TCP.Addresses })},
	{"imds.port", setInt(func(c *Config) *int { return &c.IMDS.Port })},
	{"log.level", setString(func(c *Config) *string { return &c.Log.Level })},
}

// Keys returns the dotted YAML names of every key that [Set], the
// environment and flags can set.
func Keys() []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// EnvName returns the environment variable for a dotted key, for example
// EDGE_AGENT_SOCKET_ALLOWED_UIDS for socket.allowed_uids.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
}

// Set returns a copy of c with the dotted key name set from its text form.
// Lists are comma-separated ("0,1000"); an empty string gives an empty list.
func Set(c Config, name, value string) (Config, error) {
	c = c.Clone()
	for _, k := range keys {
		if k.name == name {
			if err := k.set(&c, value); err != nil {
				return c, &FieldError{Key: name, Rule: err.Error()}
			}
			return c, nil
		}
	}
	return c, fmt.Errorf("config: unknown key %q", name)
}

func setString(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = strings.TrimSpace(v)
		return nil
	}
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", v)
		}
		*field(c) = b
		return nil
	}
}

func setInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("must be a whole number, got %q", v)
		}
		*field(c) = n
		return nil
	}
}

func setInts(field func(*Config) *[]int) func(*Config, string) error {
	return func(c *Config, v string) error {
		out := []int{}
		for _, s := range splitList(v) {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("must be a comma-separated list of whole numbers, got %q", v)
			}
			out = append(out, n)
		}
		*field(c) = out
		return nil
	}
}

func setStrings(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = splitList(v)
		return nil
	}
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	out := []string{}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
