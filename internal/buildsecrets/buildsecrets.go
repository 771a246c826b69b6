// Package buildsecrets reads the module's --build-secrets file: one
// NAME=value per line, the values a service's Dockerfile mounts with
// RUN --mount=type=secret,id=NAME. No error it returns holds a value.
package buildsecrets

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var name = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads NAME=value lines; blank lines and lines starting with # are
// skipped, and a value in matching single or double quotes loses them.
func Parse(text string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		k, v, ok := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		if !ok || !name.MatchString(k) {
			return nil, fmt.Errorf("--build-secrets: line %d is not NAME=value", i+1)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--build-secrets: %s is given twice (line %d)", k, i+1)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out, nil
}

// Missing lists the ids in want that secrets lacks, sorted.
func Missing(secrets map[string]string, want []string) []string {
	var out []string
	for _, id := range want {
		if _, ok := secrets[id]; !ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
