// Package state is slipway's memory of release decisions, kept in the GitOps
// repository itself so that every pipeline, on any machine, sees it: pins
// (an environment's service is held at a digest, e.g. after a rollback, and
// automation must leave it alone) and a denylist of digests that must never
// be deployed or promoted again.
//
// The state is one YAML file, <gitops.path>/slipway-state.yaml, meant to be
// read by people: every entry says why, who and when. Comments written into
// it by hand survive slipway's edits. Reads are plain file reads from a
// checkout; writes go through the GitOps repository's retrying update path,
// either alone (CommitFiles, for pin, unpin and reject) or in the same
// commit as an image change (a rollback and its pin).
package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
)

// FileName is the state file's name, inside the configuration's gitops.path.
const FileName = "slipway-state.yaml"

// Path returns where the state file lives in the GitOps repository:
// <gitops.path>/slipway-state.yaml.
func Path(cfg *config.Config) string {
	return path.Join(cfg.Project.GitOps.Path, FileName)
}

// Pin holds one service of one environment at a digest: `ci` leaves the
// service alone, promotions into the environment are refused for it, and
// only a rollback (which replaces the pin) or an unpin changes that.
type Pin struct {
	Environment string `yaml:"environment" json:"environment"`
	Service     string `yaml:"service" json:"service"`
	// Digest the service is held at (sha256:...).
	Digest string `yaml:"digest" json:"digest"`
	// Image is the repository the digest was deployed from, for people.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Reason says why, e.g. "rollback: 5xx after release 412".
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
	// By is who pinned it (a user or the CI actor).
	By string `yaml:"by,omitempty" json:"by,omitempty"`
	// At is when, in UTC.
	At time.Time `yaml:"at" json:"at"`
	// SourceCommit is the commit the digest was built from, when known.
	SourceCommit string `yaml:"sourceCommit,omitempty" json:"sourceCommit,omitempty"`
}

// Denied is a digest that must never be deployed or promoted again.
type Denied struct {
	Digest string    `yaml:"digest" json:"digest"`
	Reason string    `yaml:"reason" json:"reason"`
	By     string    `yaml:"by,omitempty" json:"by,omitempty"`
	At     time.Time `yaml:"at" json:"at"`
}

// document is the file's shape.
type document struct {
	Version  int      `yaml:"version"`
	Pins     []Pin    `yaml:"pins"`
	Denylist []Denied `yaml:"denylist"`
}

// State is the parsed state file. The zero value is not usable; get one
// from Parse or Read.
type State struct {
	file string
	// original bytes, to tell whether anything changed.
	before []byte
	doc    document
	// root is the file's YAML tree, edited in place so that comments stay.
	root *yaml.Node
}

// Sentinel errors.
var (
	// ErrInvalid is wrapped by every error about the file's content.
	ErrInvalid = errors.New("invalid state file")
	// ErrInvalidEntry means a pin or denylist entry given to the API is
	// incomplete or malformed.
	ErrInvalidEntry = errors.New("invalid state entry")
)

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ValidDigest reports whether d is a sha256 content digest.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

const header = `# slipway state: pins and rejected digests. Every pipeline reads this file
# before it deploys or promotes.
#   pins:     a service held at a digest in one environment (written by
#             rollback and pin); ci and promote leave it alone until unpin.
#   denylist: digests that are never deployed or promoted again (reject).
# Change it with the slipway commands; hand edits go through review like any
# other change to this repository. Comments are kept.
version: 1
pins: []
denylist: []
`

// Parse reads a state file's content; file names it in errors. Empty data
// is an empty state.
func Parse(file string, data []byte) (*State, error) {
	s := &State{file: file, before: data}
	src := data
	if len(bytes.TrimSpace(data)) == 0 {
		src = []byte(header)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&s.doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, ErrInvalid, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, ErrInvalid, err)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: %w: not a mapping", file, ErrInvalid)
	}
	s.root = &root
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *State) validate() error {
	var errs []error
	bad := func(field string, node *yaml.Node, format string, args ...any) {
		line := ""
		if node != nil {
			line = fmt.Sprintf(":%d", node.Line)
		}
		errs = append(errs, fmt.Errorf("%s%s: %s: %w: %s", s.file, line, field, ErrInvalid, fmt.Sprintf(format, args...)))
	}
	if s.doc.Version != 0 && s.doc.Version != 1 {
		bad("version", s.value("version"), "unsupported version %d (only 1 exists)", s.doc.Version)
	}
	pins := s.seq("pins", false)
	seen := map[string]int{}
	for i, p := range s.doc.Pins {
		f := fmt.Sprintf("pins[%d]", i)
		n := item(pins, i)
		if err := p.check(); err != nil {
			bad(f, n, "%v", err)
		}
		k := p.Environment + "/" + p.Service
		if j, ok := seen[k]; ok {
			bad(f, n, "service %s is pinned twice in %s (also pins[%d])", p.Service, p.Environment, j)
		}
		seen[k] = i
	}
	deny := s.seq("denylist", false)
	seenD := map[string]int{}
	for i, d := range s.doc.Denylist {
		f := fmt.Sprintf("denylist[%d]", i)
		n := item(deny, i)
		if err := d.check(); err != nil {
			bad(f, n, "%v", err)
		}
		if j, ok := seenD[d.Digest]; ok {
			bad(f, n, "%s is listed twice (also denylist[%d])", d.Digest, j)
		}
		seenD[d.Digest] = i
	}
	return errors.Join(errs...)
}

func (p Pin) check() error {
	switch {
	case p.Environment == "":
		return fmt.Errorf("%w: no environment", ErrInvalidEntry)
	case p.Service == "":
		return fmt.Errorf("%w: no service", ErrInvalidEntry)
	case !ValidDigest(p.Digest):
		return fmt.Errorf("%w: digest %q is not sha256:<64 hex>", ErrInvalidEntry, p.Digest)
	}
	return nil
}

func (d Denied) check() error {
	switch {
	case !ValidDigest(d.Digest):
		return fmt.Errorf("%w: digest %q is not sha256:<64 hex>", ErrInvalidEntry, d.Digest)
	case strings.TrimSpace(d.Reason) == "":
		return fmt.Errorf("%w: %s: a rejection needs a reason", ErrInvalidEntry, d.Digest)
	}
	return nil
}

// Read reads the state file at file (repository-relative) from a checkout
// of the GitOps repository at dir. A missing file is an empty state.
func Read(dir, file string) (*State, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the GitOps checkout: %w", err)
	}
	defer root.Close()
	b, err := root.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return Parse(file, b)
}

// File is the state file's repository-relative path.
func (s *State) File() string { return s.file }

// Pins returns every pin, in file order.
func (s *State) Pins() []Pin { return append([]Pin(nil), s.doc.Pins...) }

// Denylist returns every denied digest, in file order.
func (s *State) Denylist() []Denied { return append([]Denied(nil), s.doc.Denylist...) }

// Pinned returns the pin of service in environment env, if any.
func (s *State) Pinned(env, service string) (Pin, bool) {
	for _, p := range s.doc.Pins {
		if p.Environment == env && p.Service == service {
			return p, true
		}
	}
	return Pin{}, false
}

// Denylisted returns the denylist entry of digest, if any.
func (s *State) Denylisted(digest string) (Denied, bool) {
	for _, d := range s.doc.Denylist {
		if d.Digest == digest {
			return d, true
		}
	}
	return Denied{}, false
}

// Hold says why the state holds back pointing service in env at digest:
// the digest is denylisted, or the service is pinned there to another
// digest. ok is false when the change may go ahead.
func (s *State) Hold(env, service, digest string) (reason string, ok bool) {
	if d, denied := s.Denylisted(digest); denied {
		return fmt.Sprintf("%s is denylisted (%s)", digest, describe(d.Reason, d.By, d.At)), true
	}
	if p, pinned := s.Pinned(env, service); pinned && p.Digest != digest {
		return fmt.Sprintf("%s is pinned in %s to %s (%s)", service, env, p.Digest, describe(p.Reason, p.By, p.At)), true
	}
	return "", false
}

func describe(reason, by string, at time.Time) string {
	var parts []string
	if reason != "" {
		parts = append(parts, reason)
	}
	if by != "" {
		parts = append(parts, "by "+by)
	}
	if !at.IsZero() {
		parts = append(parts, "at "+at.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, ", ")
}

// SetPin pins p.Service in p.Environment to p.Digest, replacing a pin to
// another digest. A pin to the same digest is kept as it is (its reason,
// author and time too) and SetPin reports no change.
func (s *State) SetPin(p Pin) (changed bool, err error) {
	if err := p.check(); err != nil {
		return false, err
	}
	if p.At.IsZero() {
		p.At = time.Now()
	}
	p.At = p.At.UTC().Truncate(time.Second)
	seq := s.seq("pins", true)
	for i, q := range s.doc.Pins {
		if q.Environment != p.Environment || q.Service != p.Service {
			continue
		}
		if q.Digest == p.Digest {
			return false, nil
		}
		n, err := encodeNode(p)
		if err != nil {
			return false, err
		}
		n.HeadComment = seq.Content[i].HeadComment
		seq.Content[i] = n
		s.doc.Pins[i] = p
		return true, nil
	}
	n, err := encodeNode(p)
	if err != nil {
		return false, err
	}
	seq.Content = append(seq.Content, n)
	seq.Style = 0
	s.doc.Pins = append(s.doc.Pins, p)
	return true, nil
}

// Unpin removes the pin of service in env, returning it; ok is false when
// there was none.
func (s *State) Unpin(env, service string) (Pin, bool) {
	for i, p := range s.doc.Pins {
		if p.Environment == env && p.Service == service {
			seq := s.seq("pins", true)
			seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
			s.doc.Pins = append(s.doc.Pins[:i], s.doc.Pins[i+1:]...)
			return p, true
		}
	}
	return Pin{}, false
}

// Deny adds d to the denylist; a digest already there is left as it is and
// Deny reports no change.
func (s *State) Deny(d Denied) (changed bool, err error) {
	if err := d.check(); err != nil {
		return false, err
	}
	if _, ok := s.Denylisted(d.Digest); ok {
		return false, nil
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	d.At = d.At.UTC().Truncate(time.Second)
	n, err := encodeNode(d)
	if err != nil {
		return false, err
	}
	seq := s.seq("denylist", true)
	seq.Content = append(seq.Content, n)
	seq.Style = 0
	s.doc.Denylist = append(s.doc.Denylist, d)
	return true, nil
}

// Marshal renders the state file. An untouched state renders its original
// bytes.
func (s *State) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s.root); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", s.file, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", s.file, err)
	}
	return buf.Bytes(), nil
}

// Changed reports whether the state differs from what was read.
func (s *State) Changed() (bool, error) {
	b, err := s.Update()
	if err != nil {
		return false, err
	}
	return b.Path != "", nil
}

// Update returns the file update that writes the state, or a zero
// FileUpdate (empty Path) when nothing changed. Re-rendering an unchanged
// file is not a change, even if the rendering would differ in layout.
func (s *State) Update() (gitops.FileUpdate, error) {
	cur, err := Parse(s.file, s.before)
	if err != nil {
		return gitops.FileUpdate{}, err
	}
	if equalDocs(cur.doc, s.doc) {
		return gitops.FileUpdate{}, nil
	}
	after, err := s.Marshal()
	if err != nil {
		return gitops.FileUpdate{}, err
	}
	return gitops.FileUpdate{Path: s.file, Before: s.before, After: after}, nil
}

func equalDocs(a, b document) bool {
	if len(a.Pins) != len(b.Pins) || len(a.Denylist) != len(b.Denylist) {
		return false
	}
	for i := range a.Pins {
		if !a.Pins[i].At.Equal(b.Pins[i].At) {
			return false
		}
		x, y := a.Pins[i], b.Pins[i]
		x.At, y.At = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	for i := range a.Denylist {
		if !a.Denylist[i].At.Equal(b.Denylist[i].At) {
			return false
		}
		x, y := a.Denylist[i], b.Denylist[i]
		x.At, y.At = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

// value returns the value node of a top-level key, or nil.
func (s *State) value(key string) *yaml.Node {
	m := s.root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// seq returns the sequence node of a top-level key, creating it (or
// replacing a null) when create is set.
func (s *State) seq(key string, create bool) *yaml.Node {
	v := s.value(key)
	if v != nil && v.Kind == yaml.SequenceNode {
		return v
	}
	if !create {
		return nil
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if v != nil {
		*v = *n
		return v
	}
	m := s.root.Content[0]
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
	return n
}

func item(seq *yaml.Node, i int) *yaml.Node {
	if seq == nil || i >= len(seq.Content) {
		return nil
	}
	return seq.Content[i]
}

func encodeNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEntry, err)
	}
	return &n, nil
}
