package sbom

import (
	"fmt"
	"strings"
)

// debPackage is one installed Debian package.
type debPackage struct {
	name, version, arch   string
	source, sourceVersion string
}

// field is one "Key: value" field of a control paragraph; continuation
// lines are joined with newlines.
type field struct{ key, value string }

// paragraph is one stanza of a deb822 file and the line it starts on.
type paragraph struct {
	line   int
	fields []field
}

func (p paragraph) get(key string) string {
	for _, f := range p.fields {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

// parseDeb822 splits a control file (dpkg's status database, a status.d
// entry) into paragraphs. A line that is neither a field, a continuation
// nor blank is an error naming its line.
func parseDeb822(data []byte) ([]paragraph, error) {
	var out []paragraph
	var cur *paragraph
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == nil || len(cur.fields) == 0 {
				return nil, fmt.Errorf("line %d: continuation line outside a field", n)
			}
			f := &cur.fields[len(cur.fields)-1]
			f.value += "\n" + strings.TrimSpace(line)
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: %q is not a field (Key: value)", n, truncate(line, 40))
		}
		if cur == nil {
			out = append(out, paragraph{line: n})
			cur = &out[len(out)-1]
		}
		cur.fields = append(cur.fields, field{key, strings.TrimSpace(value)})
	}
	return out, nil
}

// parseDpkgStatus reads dpkg's status database (or a distroless status.d
// file) and returns the installed packages: those whose Status ends in
// "installed", or with no Status at all (status.d entries have none).
func parseDpkgStatus(data []byte) ([]debPackage, error) {
	paras, err := parseDeb822(data)
	if err != nil {
		return nil, err
	}
	var out []debPackage
	for _, p := range paras {
		name := p.get("Package")
		if name == "" {
			return nil, fmt.Errorf("line %d: a paragraph without a Package field", p.line)
		}
		if st := p.get("Status"); st != "" {
			words := strings.Fields(st)
			if words[len(words)-1] != "installed" {
				continue
			}
		}
		version := p.get("Version")
		if version == "" {
			return nil, fmt.Errorf("line %d: package %s has no Version", p.line, truncate(name, 40))
		}
		pkg := debPackage{name: name, version: version, arch: p.get("Architecture")}
		if src := p.get("Source"); src != "" {
			s, v, ok := strings.Cut(src, " ")
			pkg.source = s
			if ok {
				pkg.sourceVersion = strings.Trim(strings.TrimSpace(v), "()")
			}
		}
		out = append(out, pkg)
	}
	return out, nil
}

// apkPackage is one installed Alpine package.
type apkPackage struct {
	name, version, arch, license, origin string
}

// parseApkInstalled reads apk's database (lib/apk/db/installed): paragraphs
// of "K:value" lines.
func parseApkInstalled(data []byte) ([]apkPackage, error) {
	var out []apkPackage
	var cur *apkPackage
	start := 0
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.name == "" || cur.version == "" {
			return fmt.Errorf("line %d: a package without P: (name) or V: (version)", start)
		}
		out = append(out, *cur)
		cur = nil
		return nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			if err := finish(); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, fmt.Errorf("line %d: %q is not a K:value field", i+1, truncate(line, 40))
		}
		if cur == nil {
			cur, start = &apkPackage{}, i+1
		}
		v := line[2:]
		switch line[0] {
		case 'P':
			cur.name = v
		case 'V':
			cur.version = v
		case 'A':
			cur.arch = v
		case 'L':
			cur.license = v
		case 'o':
			cur.origin = v
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
