package config

import (
	"fmt"
	"slices"
	"strings"
)

// checkEnvNames refuses EDGE_AGENT_* variables that set no key, as the file
// refuses unknown keys: a misspelt variable would otherwise be ignored
// silently. environ holds KEY=VALUE strings, as os.Environ returns them.
func checkEnvNames(environ []string) error {
	known := knownEnvNames()
	var problems []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(known, name) {
			continue
		}
		problems = append(problems, fmt.Sprintf("unknown variable %s (did you mean %s?)", name, closest(name, known)))
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("environment: %s; correct the name or unset it", strings.Join(problems, "; "))
}

// knownEnvNames lists EDGE_AGENT_CONFIG and the variable of every key.
func knownEnvNames() []string {
	names := []string{PathEnv}
	for _, k := range keys {
		names = append(names, EnvName(k.name))
	}
	return names
}

// closest returns the candidate nearest to name: one whose key contains
// name's key, or the other way round (EDGE_AGENT_PORT, EDGE_AGENT_TCP_PORT),
// before any other, then the smallest edit distance.
func closest(name string, candidates []string) string {
	key := strings.TrimPrefix(name, EnvPrefix)
	best, bestScore := "", 0
	for i, c := range candidates {
		score := editDistance(name, c)
		if ck := strings.TrimPrefix(c, EnvPrefix); key != "" && (strings.Contains(ck, key) || strings.Contains(key, ck)) {
			score -= 1000
		}
		if i == 0 || score < bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
