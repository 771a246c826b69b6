package sbom

import (
	"fmt"
	"regexp"
	"strings"
)

// pyDist is one installed Python distribution.
type pyDist struct {
	name, version, license string
}

// parsePythonMetadata reads the header of a core metadata file
// (*.dist-info/METADATA, *.egg-info/PKG-INFO): RFC 822 style fields up to
// the first blank line.
func parsePythonMetadata(data []byte) (pyDist, error) {
	var d pyDist
	var expr, lic string
	var classifiers []string
	last := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return pyDist{}, fmt.Errorf("line %d: continuation line outside a field", i+1)
			}
			continue // only the first line of a folded field is used
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return pyDist{}, fmt.Errorf("line %d: %q is not a field (Key: value)", i+1, truncate(line, 40))
		}
		last = k
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "name":
			d.name = v
		case "version":
			d.version = v
		case "license-expression":
			expr = v
		case "license":
			if v != "UNKNOWN" {
				lic = v
			}
		case "classifier":
			if rest, ok := strings.CutPrefix(v, "License :: "); ok {
				parts := strings.Split(rest, " :: ")
				classifiers = append(classifiers, parts[len(parts)-1])
			}
		}
	}
	if d.name == "" || d.version == "" {
		return pyDist{}, fmt.Errorf("no Name or Version field")
	}
	switch {
	case expr != "":
		d.license = expr
	case lic != "" && len(lic) <= 80 && !strings.Contains(lic, "\n"):
		d.license = lic
	case len(classifiers) == 1:
		d.license = classifiers[0]
	}
	return d, nil
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// pypiName normalises a distribution name as PEP 503 and the purl
// specification ask: lower case, runs of -_. become one dash.
func pypiName(n string) string {
	return pypiSeparators.ReplaceAllString(strings.ToLower(n), "-")
}
