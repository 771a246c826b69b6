package vuln

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/internal/config"
)

// ServiceIgnoreFile is the name of the optional per-service ignore file,
// in the service's directory (services/<name>/vuln-ignore.yaml). Its
// entries add to the repository-wide file's (scan.ignoreFile in
// slipway.yaml, by default .slipway/vuln-ignore.yaml).
const ServiceIgnoreFile = "vuln-ignore.yaml"

// DateLayout is the layout of an ignore entry's expires date.
const DateLayout = "2006-01-02"

// maxIgnoreFileSize bounds an ignore file; a bigger one is refused.
const maxIgnoreFileSize = 1 << 20

// IgnoreEntry is one accepted vulnerability: it stops the finding(s) whose
// ID or alias is ID (in Package, when given) from blocking, until the end of
// the day Expires (UTC).
type IgnoreEntry struct {
	// ID is a vulnerability identifier (CVE-…, GHSA-…, GO-…, DSA-…).
	ID string `json:"id"`
	// Reason says why the risk is accepted; required.
	Reason string `json:"reason"`
	// Expires is the last day (YYYY-MM-DD, UTC) on which the entry applies.
	Expires string `json:"expires"`
	// Package restricts the entry to one package name; empty means any.
	Package string `json:"package,omitempty"`
	// File and Line locate the entry, relative to the repository root.
	File string `json:"file"`
	Line int    `json:"line"`

	expires time.Time
}

// ExpiresAt is the instant the entry stops applying: midnight UTC after
// its Expires day.
func (e IgnoreEntry) ExpiresAt() time.Time { return e.expires.AddDate(0, 0, 1) }

// Expired reports whether the entry no longer applies at now.
func (e IgnoreEntry) Expired(now time.Time) bool { return !now.Before(e.ExpiresAt()) }

// Matches reports whether the entry names the finding: the finding's ID or
// one of its aliases equals ID (ignoring case), and, when the entry has a
// Package, the finding's package is that package.
func (e IgnoreEntry) Matches(f Finding) bool {
	if e.Package != "" && e.Package != f.Package {
		return false
	}
	return f.HasID(e.ID)
}

// Where is "file:line" of the entry.
func (e IgnoreEntry) Where() string { return fmt.Sprintf("%s:%d", e.File, e.Line) }

// IgnoreList is the ignore entries that apply to one service: the
// repository-wide file's, then the service's own.
type IgnoreList []IgnoreEntry

var (
	vulnID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{1,127}$`)
	ymdShape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// ParseIgnoreFile reads an ignore file. name is how errors name the file
// (its path relative to the repository root). The format is:
//
//	ignores:
//	  - id: CVE-2024-45337        # required: the ID or any alias of a finding
//	    reason: no SSH server     # required: why the risk is accepted
//	    expires: 2025-09-30       # required: last day it applies (UTC)
//	    package: golang.org/x/crypto  # optional: only in this package
//
// Every problem is reported, each as a *config.Error naming the file, the
// line and the field (ignores[2].expires); unknown fields are refused. An
// empty file is an empty list.
func ParseIgnoreFile(name string, data []byte) (IgnoreList, error) {
	if len(data) > maxIgnoreFileSize {
		return nil, config.Errors{{File: name, Msg: fmt.Sprintf("is %d bytes, more than the %d an ignore file may have", len(data), maxIgnoreFileSize)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlErrors(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, config.Errors{{File: name, Line: extra.Line, Msg: "holds more than one YAML document; put every entry under one ignores: list"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlErrors(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	var errs config.Errors
	add := func(n *yaml.Node, field, format string, args ...any) {
		line := 0
		if n != nil {
			line = n.Line
		}
		errs = append(errs, &config.Error{File: name, Field: field, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		add(root, "", "must be a mapping with an ignores: list")
		return nil, errs
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "ignores":
			list = v
		default:
			add(k, k.Value, "unknown field (the file has one field, ignores)")
		}
	}
	var out IgnoreList
	if list != nil && !(list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		if list.Kind != yaml.SequenceNode {
			add(list, "ignores", "must be a list of entries (- id: …, reason: …, expires: …)")
		} else {
			seen := map[string]int{}
			for i, item := range list.Content {
				e, ok := parseEntry(name, i, item, add)
				if !ok {
					continue
				}
				key := strings.ToUpper(e.ID) + "\x00" + e.Package
				if first, dup := seen[key]; dup {
					add(item, fmt.Sprintf("ignores[%d].id", i), "%s is already ignored at line %d", e.ID, first)
					continue
				}
				seen[key] = e.Line
				out = append(out, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func parseEntry(file string, i int, item *yaml.Node, add func(*yaml.Node, string, string, ...any)) (IgnoreEntry, bool) {
	at := fmt.Sprintf("ignores[%d]", i)
	if item.Kind != yaml.MappingNode {
		add(item, at, "must be a mapping with id, reason and expires")
		return IgnoreEntry{}, false
	}
	e := IgnoreEntry{File: file, Line: item.Line}
	ok := true
	got := map[string]*yaml.Node{}
	present := map[string]bool{}
	for j := 0; j+1 < len(item.Content); j += 2 {
		k, v := item.Content[j], item.Content[j+1]
		f := at + "." + k.Value
		switch k.Value {
		case "id", "reason", "expires", "package":
		default:
			add(k, f, "unknown field (an entry has id, reason, expires and optionally package)")
			ok = false
			continue
		}
		present[k.Value] = true
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			add(v, f, "must be a single value")
			ok = false
			continue
		}
		got[k.Value] = v
	}
	for _, req := range []string{"id", "reason", "expires"} {
		v, found := got[req]
		if !found && present[req] {
			continue // present but not a single value: already reported
		}
		if !found || strings.TrimSpace(v.Value) == "" {
			n := item
			if found {
				n = v
			}
			add(n, at+"."+req, "is required")
			ok = false
		}
	}
	if v := got["id"]; v != nil && strings.TrimSpace(v.Value) != "" {
		e.ID = strings.TrimSpace(v.Value)
		if !vulnID.MatchString(e.ID) {
			add(v, at+".id", "%q is not a vulnerability ID (such as CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx)", e.ID)
			ok = false
		}
	}
	if v := got["reason"]; v != nil {
		e.Reason = strings.TrimSpace(v.Value)
	}
	if v := got["package"]; v != nil {
		e.Package = strings.TrimSpace(v.Value)
		if e.Package == "" {
			add(v, at+".package", "must not be empty (leave it out to match any package)")
			ok = false
		}
	}
	if v := got["expires"]; v != nil && strings.TrimSpace(v.Value) != "" {
		e.Expires = strings.TrimSpace(v.Value)
		t, err := time.Parse(DateLayout, e.Expires)
		switch {
		case !ymdShape.MatchString(e.Expires) || err != nil:
			add(v, at+".expires", "%q is not a date written YYYY-MM-DD", e.Expires)
			ok = false
		case t.Year() < 2000:
			add(v, at+".expires", "%q is not a plausible expiry date", e.Expires)
			ok = false
		}
		e.expires = t
	}
	return e, ok
}

// yamlErrors turns a yaml.v3 syntax error into a located config error.
func yamlErrors(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &config.Error{File: file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		var n int
		if _, serr := fmt.Sscanf(rest, "%d:", &n); serr == nil {
			e.Line = n
			if i := strings.Index(rest, ": "); i >= 0 {
				e.Msg = rest[i+2:]
			}
		}
	}
	return config.Errors{e}
}

// IgnoreFiles returns the ignore files that apply to service s, relative to
// the repository root: the repository-wide one (scan.ignoreFile) and the
// service's own (ServiceIgnoreFile in its directory).
func IgnoreFiles(p config.Project, s config.Service) []string {
	return []string{p.Scan.IgnoreFile, path.Join(s.Dir, ServiceIgnoreFile)}
}

// LoadIgnores reads the named ignore files from fsys (the repository) and
// returns their entries in order. A file that does not exist is skipped;
// any other problem, in any file, is an error.
func LoadIgnores(fsys fs.FS, files ...string) (IgnoreList, error) {
	var out IgnoreList
	var errs config.Errors
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := fs.ReadFile(fsys, f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the ignore file %s: %w", f, err)
		}
		l, err := ParseIgnoreFile(f, b)
		var ce config.Errors
		if errors.As(err, &ce) {
			errs = append(errs, ce...)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// NewIgnoreEntry builds an entry as if read from a file, checking it the
// same way: id, reason and expires (YYYY-MM-DD) are required.
func NewIgnoreEntry(id, reason, expires, pkg string) (IgnoreEntry, error) {
	var y strings.Builder
	fmt.Fprintf(&y, "ignores:\n  - id: %q\n    reason: %q\n    expires: %q\n", id, reason, expires)
	if pkg != "" {
		fmt.Fprintf(&y, "    package: %q\n", pkg)
	}
	l, err := ParseIgnoreFile("(entry)", []byte(y.String()))
	if err != nil {
		return IgnoreEntry{}, err
	}
	return l[0], nil
}
