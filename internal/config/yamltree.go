package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlTree finds the line of a dotted field path ("a.b[2].c") in a parsed
// document, so that validation errors can point at the line to fix.
type yamlTree struct{ doc *yaml.Node }

func (t *yamlTree) line(path string) int {
	if t == nil || t.doc == nil {
		return 0
	}
	n := t.doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for _, part := range splitPath(path) {
		next := step(n, part)
		if next == nil {
			return best
		}
		n = next
		best = n.Line
	}
	return best
}

func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	var parts []string
	for _, p := range strings.Split(path, ".") {
		for p != "" {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				parts = append(parts, p)
				break
			}
			if i > 0 {
				parts = append(parts, p[:i])
			}
			j := strings.IndexByte(p, ']')
			if j < i {
				parts = append(parts, p)
				break
			}
			parts = append(parts, p[i:j+1])
			p = p[j+1:]
		}
	}
	return parts
}

func step(n *yaml.Node, part string) *yaml.Node {
	if strings.HasPrefix(part, "[") {
		idx, err := strconv.Atoi(strings.Trim(part, "[]"))
		if err != nil || n.Kind != yaml.SequenceNode || idx < 0 || idx >= len(n.Content) {
			return nil
		}
		return n.Content[idx]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			// Point at the key's line: that is where a person looks.
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				return v
			}
			cp := *v
			if cp.Line == 0 || v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				cp.Line = n.Content[i].Line
			}
			return &cp
		}
	}
	return nil
}
