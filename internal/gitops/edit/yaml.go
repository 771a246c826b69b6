package edit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Result is the outcome of one edit.
type Result struct {
	// Data is the edited file. When nothing changed it holds the input bytes.
	Data []byte
	// Changed reports whether Data differs from the input.
	Changed bool
	// Old is the image the file held before the edit, as far as it said
	// (an entry created by the edit has an empty Old).
	Old Image
	// Edits are the byte splices that turn the input into Data, in input
	// order. Bytes outside them are unchanged.
	Edits []Edit
}

// Edit is one splice: the bytes src[Offset:Offset+Len] (Len is 0 for an
// insertion) were replaced by New.
type Edit struct {
	// Key names what was edited, e.g. `images[name=api].digest`.
	Key string
	// Line is the 1-based line of the input where the splice starts.
	Line   int
	Offset int
	Len    int
	Old    string
	New    string
}

// file is a parsed YAML stream plus the bookkeeping to splice into it.
type file struct {
	src    []byte
	lines  []int // byte offset where each line starts; lines[0] is line 1
	eol    string
	docs   []*yaml.Node
	shared map[*yaml.Node]bool // nodes that an alias refers to
	edits  []Edit
	ops    []op
}

type opKind int

const (
	opSet opKind = iota
	opDelete
	opAppend
)

// op is the logical change an edit makes, checked against the re-parsed
// output.
type op struct {
	doc   int
	path  []any // string keys and int indexes
	kind  opKind
	value any
}

func parse(src []byte) (f *file, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &Error{Err: fmt.Errorf("%w: %v", ErrMalformed, r)}
		}
	}()
	f = &file{src: src, eol: "\n", shared: map[*yaml.Node]bool{}}
	f.lines = lineStarts(src)
	if i := bytes.IndexAny(src, "\r\n"); i >= 0 && src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
		f.eol = "\r\n"
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		n := new(yaml.Node)
		err := dec.Decode(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
		}
		f.docs = append(f.docs, n)
	}
	for _, d := range f.docs {
		walk(d, func(n *yaml.Node) {
			if n.Kind == yaml.AliasNode && n.Alias != nil {
				f.shared[n.Alias] = true
			}
		})
	}
	return f, nil
}

func walk(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for _, c := range n.Content {
		walk(c, fn)
	}
}

// lineStarts mirrors yaml.v3's idea of a line break: \r\n, \r, \n, NEL, LS, PS.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i := 0; i < len(src); {
		w := breakWidth(src[i:])
		if w == 0 {
			i++
			continue
		}
		i += w
		starts = append(starts, i)
	}
	return starts
}

// breakWidth returns the length of the line break at the start of b, or 0.
func breakWidth(b []byte) int {
	switch {
	case len(b) == 0:
		return 0
	case b[0] == '\r' && len(b) > 1 && b[1] == '\n':
		return 2
	case b[0] == '\r' || b[0] == '\n':
		return 1
	case bytes.HasPrefix(b, []byte("\u0085")):
		return 2
	case bytes.HasPrefix(b, []byte("\u2028")), bytes.HasPrefix(b, []byte("\u2029")):
		return 3
	}
	return 0
}

// offset turns yaml.v3's 1-based line and (character) column into a byte
// offset, or -1.
func (f *file) offset(line, col int) int {
	if line < 1 || line > len(f.lines) || col < 1 {
		return -1
	}
	off := f.lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(f.src) {
			return -1
		}
		_, w := utf8.DecodeRune(f.src[off:])
		off += w
	}
	return off
}

// lineOf returns the 1-based line holding byte offset off.
func (f *file) lineOf(off int) int {
	return sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off })
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }
func isBreak(b byte) bool { return b == '\n' || b == '\r' }

func errLayout(key string, line int, format string, args ...any) error {
	return errAt(key, line, fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...)))
}

// span returns the byte range of a scalar's or alias's text (without its
// anchor and tag), checking that the text really denotes the node's value.
func (f *file) span(n *yaml.Node, flow bool, key string) (int, int, error) {
	off := f.offset(n.Line, n.Column)
	if off < 0 || off > len(f.src) {
		return 0, 0, errLayout(key, n.Line, "position out of range")
	}
	src := f.src
	if n.Kind == yaml.AliasNode {
		if off >= len(src) || src[off] != '*' {
			return 0, 0, errLayout(key, n.Line, "alias not found at its position")
		}
		end := off + 1
		for end < len(src) && !isSpace(src[end]) && !isBreak(src[end]) && !strings.ContainsRune(",[]{}", rune(src[end])) {
			end++
		}
		if string(src[off+1:end]) != n.Value {
			return 0, 0, errLayout(key, n.Line, "alias text does not match")
		}
		return off, end, nil
	}
	if n.Kind != yaml.ScalarNode {
		return 0, 0, errLayout(key, n.Line, "not a scalar")
	}
	// Skip the node's properties: &anchor and !tag.
	for off < len(src) && (src[off] == '&' || src[off] == '!') {
		for off < len(src) && !isSpace(src[off]) && !isBreak(src[off]) {
			off++
		}
		for off < len(src) && (isSpace(src[off]) || isBreak(src[off])) {
			off++
		}
	}
	if off >= len(src) {
		return 0, 0, errLayout(key, n.Line, "scalar text not found")
	}
	end := off
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if src[off] != '"' {
			return 0, 0, errLayout(key, n.Line, "quoted scalar not found at its position")
		}
		for end = off + 1; end < len(src); end++ {
			if src[end] == '\\' {
				end++
				continue
			}
			if src[end] == '"' {
				break
			}
		}
		end++
	case n.Style&yaml.SingleQuotedStyle != 0:
		if src[off] != '\'' {
			return 0, 0, errLayout(key, n.Line, "quoted scalar not found at its position")
		}
		for end = off + 1; end < len(src); end++ {
			if src[end] == '\'' {
				if end+1 < len(src) && src[end+1] == '\'' {
					end++
					continue
				}
				break
			}
		}
		end++
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, errLayout(key, n.Line, "block scalar")
	default:
		for end < len(src) && !isBreak(src[end]) {
			if isSpace(src[end]) && end+1 < len(src) && src[end+1] == '#' {
				break
			}
			if src[end] == ':' && (end+1 == len(src) || isSpace(src[end+1]) || isBreak(src[end+1]) || flow && strings.ContainsRune(",[]{}", rune(src[end+1]))) {
				break
			}
			if flow && strings.ContainsRune(",[]{}", rune(src[end])) {
				break
			}
			end++
		}
		for end > off && isSpace(src[end-1]) {
			end--
		}
		if string(src[off:end]) != n.Value {
			return 0, 0, errLayout(key, n.Line, "plain scalar spans lines")
		}
		return off, end, nil
	}
	if end > len(src) {
		return 0, 0, errLayout(key, n.Line, "unterminated quoted scalar")
	}
	var s string
	if err := yaml.Unmarshal(src[off:end], &s); err != nil || s != n.Value {
		return 0, 0, errLayout(key, n.Line, "quoted scalar spans lines")
	}
	return off, end, nil
}

// end returns the byte offset just past a node's last character.
func (f *file) end(n *yaml.Node, flow bool, key string) (int, error) {
	switch n.Kind {
	case yaml.ScalarNode, yaml.AliasNode:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" {
			return 0, errLayout(key, n.Line, "empty value")
		}
		_, e, err := f.span(n, flow, key)
		return e, err
	case yaml.MappingNode, yaml.SequenceNode:
		isFlow := n.Style&yaml.FlowStyle != 0
		closer := byte('}')
		if n.Kind == yaml.SequenceNode {
			closer = ']'
		}
		if len(n.Content) == 0 {
			if !isFlow {
				return 0, errLayout(key, n.Line, "empty block collection")
			}
			off := f.offset(n.Line, n.Column)
			if off < 0 {
				return 0, errLayout(key, n.Line, "position out of range")
			}
			for off < len(f.src) && f.src[off] != '[' && f.src[off] != '{' {
				off++
			}
			return f.closeFlow(off+1, closer, key, n.Line)
		}
		last := n.Content[len(n.Content)-1]
		var e int
		var err error
		if n.Kind == yaml.MappingNode && last.Kind == yaml.ScalarNode && last.Tag == "!!null" && last.Value == "" {
			e, err = f.afterColon(n.Content[len(n.Content)-2], isFlow, key)
		} else {
			e, err = f.end(last, isFlow, key)
		}
		if err != nil || !isFlow {
			return e, err
		}
		return f.closeFlow(e, closer, key, n.Line)
	}
	return 0, errLayout(key, n.Line, "unexpected node")
}

// afterColon returns the offset just past the colon that follows key node kn.
func (f *file) afterColon(kn *yaml.Node, flow bool, key string) (int, error) {
	_, ke, err := f.span(kn, flow, key)
	if err != nil {
		return 0, err
	}
	p := ke
	for p < len(f.src) && isSpace(f.src[p]) {
		p++
	}
	if p >= len(f.src) || f.src[p] != ':' {
		return 0, errLayout(key, kn.Line, "no colon after key")
	}
	return p + 1, nil
}

// closeFlow finds the closing bracket of a flow collection from off, which
// may only be preceded by blanks, a trailing comma and comments.
func (f *file) closeFlow(off int, closer byte, key string, line int) (int, error) {
	src := f.src
	for off < len(src) {
		switch {
		case src[off] == closer:
			return off + 1, nil
		case isSpace(src[off]) || isBreak(src[off]) || src[off] == ',':
			off++
		case src[off] == '#':
			for off < len(src) && !isBreak(src[off]) {
				off++
			}
		default:
			return 0, errLayout(key, line, "unexpected text before %q", closer)
		}
	}
	return 0, errLayout(key, line, "unterminated flow collection")
}

// nextLine returns the offset of the start of the line after off, and
// whether the file ended without a line break (the caller must add one).
func (f *file) nextLine(off int) (int, bool) {
	for off < len(f.src) {
		if w := breakWidth(f.src[off:]); w > 0 {
			return off + w, false
		}
		off++
	}
	return len(f.src), true
}

var plainRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./@:+=-]*$`)

// plainSafe reports whether s can be written as a plain scalar and still
// read back as the same string.
func plainSafe(s string) bool {
	if !plainRE.MatchString(s) || strings.HasSuffix(s, ":") {
		return false
	}
	var v any
	if err := yaml.Unmarshal([]byte("v: "+s), &v); err != nil {
		return false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	got, ok := m["v"].(string)
	return ok && got == s
}

// encode renders s as a scalar in the given style, falling back to double
// quotes when the style cannot hold it.
func encode(s string, style yaml.Style) string {
	switch {
	case style&yaml.SingleQuotedStyle != 0 && !strings.ContainsAny(s, "\r\n\t\\") && utf8.ValidString(s):
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	case style&yaml.DoubleQuotedStyle == 0 && plainSafe(s):
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\x%02x", r&0xff)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (f *file) splice(key string, start, end int, text string) {
	f.edits = append(f.edits, Edit{
		Key: key, Line: f.lineOf(start), Offset: start, Len: end - start,
		Old: string(f.src[start:end]), New: text,
	})
}

// lookup returns the index in m.Content of key k's key node, or -1. A key
// that may come from a merge key (`<<`) is reported as unsupported.
func lookup(m *yaml.Node, k, name string) (int, error) {
	merge := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		if kn.Kind == yaml.ScalarNode && kn.Value == k {
			return i, nil
		}
		if kn.Kind == yaml.ScalarNode && kn.Value == "<<" && kn.Tag == "!!merge" {
			merge = true
		}
	}
	if merge {
		return -1, errLayout(name, m.Line, "key %q may come from a merge key (<<)", k)
	}
	return -1, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// checkShared fails when any of the nodes is the target of an alias.
func (f *file) checkShared(name string, nodes ...*yaml.Node) error {
	for _, n := range nodes {
		if f.shared[n] {
			return errAt(name, n.Line, fmt.Errorf("%w (&%s)", ErrShared, n.Anchor))
		}
	}
	return nil
}

// setValue sets the value of the i-th key of mapping m to the string v,
// preserving its quoting style. An alias value is replaced by the literal.
func (f *file) setValue(m *yaml.Node, i int, doc int, path []any, name, v string) error {
	flow := m.Style&yaml.FlowStyle != 0
	kn, vn := m.Content[i], m.Content[i+1]
	if err := f.checkShared(name, vn); err != nil {
		return err
	}
	switch vn.Kind {
	case yaml.AliasNode:
		if vn.Alias != nil && vn.Alias.Kind == yaml.ScalarNode && vn.Alias.Value == v {
			return nil
		}
	case yaml.ScalarNode:
		if vn.Value == v && vn.Tag != "!!null" {
			return nil
		}
		if vn.Tag == "!!null" && vn.Value == "" {
			// `key:` with nothing after it: write after the colon.
			p, err := f.afterColon(kn, flow, name)
			if err != nil {
				return err
			}
			f.splice(name, p, p, " "+encode(v, 0))
			f.ops = append(f.ops, op{doc: doc, path: path, kind: opSet, value: v})
			return nil
		}
	default:
		return errAt(name, vn.Line, fmt.Errorf("%w: expected a string, found a %s", ErrUnsupported, kindName(vn)))
	}
	s, e, err := f.span(vn, flow, name)
	if err != nil {
		return err
	}
	style := vn.Style
	if vn.Kind == yaml.AliasNode {
		style = 0
	}
	f.splice(name, s, e, encode(v, style))
	f.ops = append(f.ops, op{doc: doc, path: path, kind: opSet, value: v})
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// field is one key to add to a mapping.
type field struct{ k, v string }

// insert appends keys to mapping m after its last entry: a new line per key
// at the mapping's indentation in block style, `, k: v` in flow style.
func (f *file) insert(m *yaml.Node, doc int, path []any, name string, fields ...field) error {
	if len(fields) == 0 {
		return nil
	}
	if err := f.checkShared(name, m); err != nil {
		return err
	}
	flow := m.Style&yaml.FlowStyle != 0
	e, err := f.end(m, false, name)
	if err != nil {
		return err
	}
	var text strings.Builder
	at := e
	if flow {
		if len(m.Content) == 0 {
			return errLayout(name, m.Line, "empty flow mapping")
		}
		// e is past the closing brace; insert after the last value.
		at, err = f.end(m.Content[len(m.Content)-1], true, name)
		if err != nil {
			return err
		}
		for _, fl := range fields {
			text.WriteString(", " + encode(fl.k, 0) + ": " + encode(fl.v, 0))
		}
	} else {
		if len(m.Content) == 0 {
			return errLayout(name, m.Line, "empty mapping")
		}
		indent := strings.Repeat(" ", m.Content[0].Column-1)
		if ko := f.offset(m.Content[0].Line, m.Content[0].Column); ko < 0 || !f.indentOK(ko, len(indent)) {
			return errLayout(name, m.Line, "cannot work out the mapping's indentation")
		}
		var missingEOL bool
		at, missingEOL = f.nextLine(e)
		if missingEOL {
			text.WriteString(f.eol)
		}
		for _, fl := range fields {
			text.WriteString(indent + encode(fl.k, 0) + ": " + encode(fl.v, 0) + f.eol)
		}
		if missingEOL {
			s := strings.TrimSuffix(text.String(), f.eol)
			text.Reset()
			text.WriteString(s)
		}
	}
	f.splice(name, at, at, text.String())
	for _, fl := range fields {
		f.ops = append(f.ops, op{doc: doc, path: append(clone(path), fl.k), kind: opSet, value: fl.v})
	}
	return nil
}

// indentOK reports whether the key at byte offset ko sits at column width
// (counting bytes) after only spaces, or after `- ` sequence indicators.
func (f *file) indentOK(ko, width int) bool {
	start := f.lines[f.lineOf(ko)-1]
	if ko-start != width {
		return false
	}
	for _, b := range f.src[start:ko] {
		if b != ' ' && b != '-' {
			return false
		}
	}
	return true
}

// remove deletes the i-th key of block mapping m with its value, taking
// whole lines; the key must start its line and the value end it.
func (f *file) remove(m *yaml.Node, i int, doc int, path []any, name string) error {
	if err := f.checkShared(name, m); err != nil {
		return err
	}
	if m.Style&yaml.FlowStyle != 0 || len(m.Content) < 4 {
		return errLayout(name, m.Content[i].Line, "cannot remove a key from this mapping")
	}
	ks, _, err := f.span(m.Content[i], false, name)
	if err != nil {
		return err
	}
	start := f.lines[f.lineOf(ks)-1]
	for _, b := range f.src[start:ks] {
		if b != ' ' {
			return errLayout(name, m.Content[i].Line, "key does not start its line")
		}
	}
	ve, err := f.end(m.Content[i+1], false, name)
	if err != nil {
		return err
	}
	p := ve
	for p < len(f.src) && isSpace(f.src[p]) {
		p++
	}
	if p < len(f.src) && f.src[p] == '#' {
		for p < len(f.src) && !isBreak(f.src[p]) {
			p++
		}
	}
	if p < len(f.src) && !isBreak(f.src[p]) {
		return errLayout(name, m.Content[i].Line, "value does not end its line")
	}
	end, _ := f.nextLine(p)
	f.splice(name, start, end, "")
	f.ops = append(f.ops, op{doc: doc, path: path, kind: opDelete})
	return nil
}

func clone(p []any) []any { return append([]any(nil), p...) }

// finish applies the splices, re-parses the output and checks that it says
// exactly what the input said plus the intended changes.
func (f *file) finish(old Image) (Result, error) {
	if len(f.edits) == 0 {
		return Result{Data: f.src, Old: old}, nil
	}
	sort.SliceStable(f.edits, func(a, b int) bool { return f.edits[a].Offset < f.edits[b].Offset })
	var out bytes.Buffer
	pos := 0
	for _, e := range f.edits {
		if e.Offset < pos {
			return Result{}, errLayout(e.Key, e.Line, "overlapping edits")
		}
		out.Write(f.src[pos:e.Offset])
		out.WriteString(e.New)
		pos = e.Offset + e.Len
	}
	out.Write(f.src[pos:])
	data := out.Bytes()
	if err := f.verify(data); err != nil {
		return Result{}, err
	}
	return Result{Data: data, Changed: !bytes.Equal(data, f.src), Old: old, Edits: f.edits}, nil
}

func (f *file) verify(data []byte) error {
	key := f.edits[0].Key
	g, err := parse(data)
	if err != nil {
		return errLayout(key, f.edits[0].Line, "the edited file does not parse: %v", err)
	}
	if len(g.docs) != len(f.docs) {
		return errLayout(key, f.edits[0].Line, "the edited file has %d documents, not %d", len(g.docs), len(f.docs))
	}
	for i := range f.docs {
		var want, got any
		if err := f.docs[i].Decode(&want); err != nil {
			return errLayout(key, f.edits[0].Line, "decoding document %d: %v", i+1, err)
		}
		want = normalize(want)
		for _, o := range f.ops {
			if o.doc == i {
				var ok bool
				if want, ok = applyOp(want, o.path, o); !ok {
					return errLayout(key, f.edits[0].Line, "path %v not found for checking", o.path)
				}
			}
		}
		if err := g.docs[i].Decode(&got); err != nil {
			return errLayout(key, f.edits[0].Line, "decoding edited document %d: %v", i+1, err)
		}
		if !equal(want, normalize(got)) {
			return errLayout(key, f.edits[0].Line, "the edited file would not say what was intended")
		}
	}
	return nil
}

func applyOp(v any, path []any, o op) (any, bool) {
	if len(path) == 0 {
		switch o.kind {
		case opSet:
			return o.value, true
		case opAppend:
			s, ok := v.([]any)
			if !ok && v != nil {
				return nil, false
			}
			return append(s, o.value), true
		}
		return nil, false
	}
	switch c := v.(type) {
	case map[string]any:
		k, ok := path[0].(string)
		if !ok {
			return nil, false
		}
		if len(path) == 1 && o.kind == opDelete {
			delete(c, k)
			return c, true
		}
		child, exists := c[k]
		if !exists && !(len(path) == 1 && o.kind != opDelete) {
			return nil, false
		}
		nv, ok := applyOp(child, path[1:], o)
		if !ok {
			return nil, false
		}
		c[k] = nv
		return c, true
	case []any:
		i, ok := path[0].(int)
		if !ok || i < 0 || i >= len(c) {
			return nil, false
		}
		nv, ok := applyOp(c[i], path[1:], o)
		if !ok {
			return nil, false
		}
		c[i] = nv
		return c, true
	}
	return nil, false
}

// normalize turns maps with non-string keys into string-keyed ones (keys
// rendered with fmt) so that paths of string keys reach into them.
func normalize(v any) any {
	switch c := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case map[string]any:
		for k, e := range c {
			c[k] = normalize(e)
		}
	case []any:
		for i, e := range c {
			c[i] = normalize(e)
		}
	}
	return v
}

// equal is reflect.DeepEqual with NaN equal to itself.
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
