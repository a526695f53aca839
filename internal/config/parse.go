package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize caps the configuration file; a real one is a few hundred bytes.
const maxFileSize = 1 << 20

// sections are the keys whose values are mappings of further keys.
var sections = map[string]bool{"socket": true, "tcp": true, "imds": true, "log": true}

// ParseFile reads the YAML file at path on top of [Default]. Unknown keys
// are an error that names the key and its line.
func ParseFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes YAML on top of [Default]; name (a path or a description
// such as "edge-agent.yaml from s3://bucket/prefix/") appears in errors.
// Unknown keys are an error that names the key and its line.
func Parse(data []byte, name string) (Config, error) {
	cfg := Default()
	if len(data) > maxFileSize {
		return cfg, fmt.Errorf("config %s: file is larger than %d bytes", name, maxFileSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return cfg, fmt.Errorf("config %s: %s", name, oneLine(err.Error()))
	}
	if len(doc.Content) == 0 {
		return cfg, nil
	}

	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return cfg, fmt.Errorf("config %s: line %d: the file must be a mapping of keys such as thing_name", name, root.Line)
	}
	lines := map[int]string{}
	if err := checkKeys(root, "", lines); err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	if err := root.Decode(&cfg); err != nil {
		return Default(), fmt.Errorf("config %s: %s", name, describeDecodeError(err, lines))
	}
	return cfg, nil
}

// checkKeys walks a mapping, refuses keys the agent does not know and
// records the line of each known key so that decode errors can name it.
func checkKeys(m *yaml.Node, prefix string, lines map[int]string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		full := prefix + k.Value

		switch {
		case sections[full] && v.Kind == yaml.MappingNode:
			if err := checkKeys(v, full+".", lines); err != nil {
				return err
			}
		case sections[full] && v.Tag == "!!null":
		case sections[full]:
			return fmt.Errorf("line %d: %s: must be a mapping of keys", k.Line, full)
		case isKey(full):
			lines[k.Line] = full
			for _, item := range v.Content {
				lines[item.Line] = full
			}
		default:
			return fmt.Errorf("line %d: unknown key %q (known keys: %s)", k.Line, full, knownNear(prefix))
		}
	}
	return nil
}

func isKey(name string) bool {
	for _, k := range keys {
		if k.name == name {
			return true
		}
	}
	return false
}

// knownNear lists the keys at the level of prefix, for "did you mean" help.
func knownNear(prefix string) string {
	var names []string
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k.name, prefix)
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, ".")
		if !seen[rest] {
			seen[rest] = true
			names = append(names, rest)
		}
	}
	return strings.Join(names, ", ")
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// describeDecodeError turns yaml.v3's multi-line type errors into one line
// that names the key of each failing value.
func describeDecodeError(err error, lines map[int]string) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return oneLine(err.Error())
	}
	parts := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			parts = append(parts, e)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if k, ok := lines[n]; ok {
			parts = append(parts, fmt.Sprintf("line %d: %s: %s", n, k, m[2]))
		} else {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, "; ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
