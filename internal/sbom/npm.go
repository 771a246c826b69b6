package sbom

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// npmPackage is one package installed under a node_modules directory.
type npmPackage struct {
	name, version, license string
}

// isNodeModule says whether dir is a package directory directly under a
// node_modules directory (node_modules/NAME or node_modules/@SCOPE/NAME).
func isNodeModule(dir string) bool {
	parent, base := path.Split(dir)
	parent = strings.TrimSuffix(parent, "/")
	if base == "" || base[0] == '.' {
		return false
	}
	if path.Base(parent) == "node_modules" {
		return !strings.HasPrefix(base, "@")
	}
	scope := path.Base(parent)
	return strings.HasPrefix(scope, "@") && len(scope) > 1 && path.Base(path.Dir(parent)) == "node_modules"
}

// parsePackageJSON reads a package's package.json. ok is false when it
// names no package (no name or version), which is not an error.
func parsePackageJSON(data []byte) (p npmPackage, ok bool, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return npmPackage{}, false, fmt.Errorf("not a JSON object: %v", err)
	}
	str := func(k string) string {
		var s string
		if raw, ok := doc[k]; ok {
			_ = json.Unmarshal(raw, &s)
		}
		return strings.TrimSpace(s)
	}
	p = npmPackage{name: str("name"), version: str("version"), license: str("license")}
	if p.license == "" {
		// The older forms: {"type": "MIT"} and [{"type": "MIT"}, ...].
		var obj struct{ Type string }
		var list []struct{ Type string }
		if raw, ok := doc["license"]; ok && json.Unmarshal(raw, &obj) == nil {
			p.license = obj.Type
		} else if raw, ok := doc["licenses"]; ok && json.Unmarshal(raw, &list) == nil {
			var types []string
			for _, l := range list {
				if l.Type != "" {
					types = append(types, l.Type)
				}
			}
			p.license = strings.Join(types, " OR ")
		}
	}
	if p.name == "" || p.version == "" {
		return npmPackage{}, false, nil
	}
	return p, true, nil
}

// npmPURL is the package URL of an npm package: its scope, if any, is the
// namespace.
func npmPURL(name, version string) purl {
	if scope, n, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
		return purl{typ: "npm", namespace: scope, name: n, version: version}
	}
	return purl{typ: "npm", name: name, version: version}
}
