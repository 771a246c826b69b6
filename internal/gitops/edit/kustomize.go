package edit

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// KustomizeOptions tunes Kustomize.
type KustomizeOptions struct {
	// Create appends a missing `images:` entry (and the `images:` list
	// itself when absent) instead of failing with ErrNotFound.
	Create bool
}

// Kustomize points the `images:` entry whose `name` is name at img in a
// kustomization file: `newName` is set when img.Name is given (and added
// only when it differs from name), `newTag` is set to img.Tag (and removed
// when img.Tag is empty), `digest` is set to img.Digest. Missing keys are
// added after the entry's last key. A missing entry is ErrNotFound unless
// opts.Create is set.
func Kustomize(src []byte, name string, img Image, opts KustomizeOptions) (Result, error) {
	key := fmt.Sprintf("images[name=%s]", name)
	if name == "" {
		return Result{}, errAt("images[name=]", 0, fmt.Errorf("%w: empty image name to match", ErrInvalidImage))
	}
	if err := img.Validate(); err != nil {
		return Result{}, errAt(key, 0, err)
	}
	f, err := parse(src)
	if err != nil {
		return Result{}, err
	}
	doc, root := -1, (*yaml.Node)(nil)
	for i, d := range f.docs {
		if len(d.Content) == 1 && d.Content[0].Kind == yaml.MappingNode {
			doc, root = i, d.Content[0]
			break
		}
	}
	if root == nil {
		return Result{}, errAt("images", 0, fmt.Errorf("%w: the file holds no kustomization mapping", ErrNotFound))
	}
	ki, err := lookup(root, "images", "images")
	if err != nil {
		return Result{}, err
	}
	if ki < 0 {
		if !opts.Create {
			return Result{}, errAt(key, root.Line, fmt.Errorf("%w: the file has no images list", ErrNotFound))
		}
		return f.createImages(root, doc, name, img)
	}
	seq := resolve(root.Content[ki+1])
	if seq.Kind != yaml.SequenceNode {
		return Result{}, errAt("images", root.Content[ki].Line, fmt.Errorf("%w: images is a %s, not a list", ErrUnsupported, kindName(seq)))
	}
	if err := f.checkShared("images", seq); err != nil {
		return Result{}, err
	}
	for i, it := range seq.Content {
		entry := resolve(it)
		if entry.Kind != yaml.MappingNode {
			continue
		}
		ni, err := lookup(entry, "name", key)
		if err != nil {
			return Result{}, err
		}
		if ni < 0 || resolve(entry.Content[ni+1]).Value != name {
			continue
		}
		if it.Kind == yaml.AliasNode {
			return Result{}, errAt(key, it.Line, fmt.Errorf("%w: the entry is an alias", ErrShared))
		}
		return f.editImage(entry, doc, []any{"images", i}, key, name, img)
	}
	if !opts.Create {
		return Result{}, errAt(key, seq.Line, fmt.Errorf("%w: no images entry with this name", ErrNotFound))
	}
	return f.appendImage(seq, doc, name, img)
}

func (f *file) editImage(entry *yaml.Node, doc int, path []any, key, name string, img Image) (Result, error) {
	get := func(k string) (int, string, error) {
		i, err := lookup(entry, k, key+"."+k)
		if err != nil || i < 0 {
			return i, "", err
		}
		return i, resolve(entry.Content[i+1]).Value, nil
	}
	var old Image
	nn, oldName, err := get("newName")
	if err != nil {
		return Result{}, err
	}
	nt, oldTag, err := get("newTag")
	if err != nil {
		return Result{}, err
	}
	nd, oldDigest, err := get("digest")
	if err != nil {
		return Result{}, err
	}
	old = Image{Name: name, Tag: oldTag, Digest: oldDigest}
	if nn >= 0 {
		old.Name = oldName
	}
	sub := func(k string) []any { return append(clone(path), k) }
	var add []field
	if img.Name != "" {
		if nn >= 0 {
			if err := f.setValue(entry, nn, doc, sub("newName"), key+".newName", img.Name); err != nil {
				return Result{}, err
			}
		} else if img.Name != name {
			add = append(add, field{"newName", img.Name})
		}
	}
	switch {
	case img.Tag != "" && nt >= 0:
		if err := f.setValue(entry, nt, doc, sub("newTag"), key+".newTag", img.Tag); err != nil {
			return Result{}, err
		}
	case img.Tag != "":
		add = append(add, field{"newTag", img.Tag})
	case nt >= 0:
		if err := f.remove(entry, nt, doc, sub("newTag"), key+".newTag"); err != nil {
			return Result{}, err
		}
	}
	if nd >= 0 {
		if err := f.setValue(entry, nd, doc, sub("digest"), key+".digest", img.Digest); err != nil {
			return Result{}, err
		}
	} else {
		add = append(add, field{"digest", img.Digest})
	}
	if err := f.insert(entry, doc, path, key, add...); err != nil {
		return Result{}, err
	}
	return f.finish(old)
}

// entryLines renders a new images entry in block style.
func (f *file) entryLines(dashIndent, keyIndent int, name string, img Image) (string, map[string]any) {
	want := map[string]any{"name": name}
	var b strings.Builder
	pad := strings.Repeat(" ", keyIndent-dashIndent-1)
	b.WriteString(strings.Repeat(" ", dashIndent) + "-" + pad + "name: " + encode(name, 0) + f.eol)
	kv := func(k, v string) {
		b.WriteString(strings.Repeat(" ", keyIndent) + k + ": " + encode(v, 0) + f.eol)
		want[k] = v
	}
	if img.Name != "" && img.Name != name {
		kv("newName", img.Name)
	}
	if img.Tag != "" {
		kv("newTag", img.Tag)
	}
	kv("digest", img.Digest)
	return b.String(), want
}

// appendImage adds an entry at the end of a block `images:` list, indented
// like the list's first entry.
func (f *file) appendImage(seq *yaml.Node, doc int, name string, img Image) (Result, error) {
	key := fmt.Sprintf("images[name=%s]", name)
	if seq.Style&yaml.FlowStyle != 0 || len(seq.Content) == 0 {
		return Result{}, errLayout(key, seq.Line, "can only append to a block images list")
	}
	first := seq.Content[0]
	ko := f.offset(first.Line, first.Column)
	if ko < 0 {
		return Result{}, errLayout(key, first.Line, "position out of range")
	}
	lineStart := f.lines[first.Line-1]
	dash := ko - 1
	for dash > lineStart && f.src[dash] == ' ' {
		dash--
	}
	if f.src[dash] != '-' || !f.indentOK(dash, dash-lineStart) || strings.Trim(string(f.src[lineStart:dash]), " ") != "" {
		return Result{}, errLayout(key, first.Line, "cannot work out the list's indentation")
	}
	e, err := f.end(seq, false, key)
	if err != nil {
		return Result{}, err
	}
	at, missingEOL := f.nextLine(e)
	text, want := f.entryLines(dash-lineStart, ko-lineStart, name, img)
	if missingEOL {
		text = f.eol + strings.TrimSuffix(text, f.eol)
	}
	f.splice(key, at, at, text)
	f.ops = append(f.ops, op{doc: doc, path: []any{"images"}, kind: opAppend, value: want})
	return f.finish(Image{})
}

// createImages adds an `images:` list holding one entry at the end of the
// kustomization.
func (f *file) createImages(root *yaml.Node, doc int, name string, img Image) (Result, error) {
	key := fmt.Sprintf("images[name=%s]", name)
	if root.Style&yaml.FlowStyle != 0 || len(root.Content) == 0 {
		return Result{}, errLayout(key, root.Line, "can only add images to a block mapping")
	}
	indent := root.Content[0].Column - 1
	if ko := f.offset(root.Content[0].Line, root.Content[0].Column); ko < 0 || !f.indentOK(ko, indent) {
		return Result{}, errLayout(key, root.Line, "cannot work out the mapping's indentation")
	}
	e, err := f.end(root, false, key)
	if err != nil {
		return Result{}, err
	}
	at, missingEOL := f.nextLine(e)
	entry, want := f.entryLines(indent, indent+2, name, img)
	text := strings.Repeat(" ", indent) + "images:" + f.eol + entry
	if missingEOL {
		text = f.eol + strings.TrimSuffix(text, f.eol)
	}
	f.splice(key, at, at, text)
	f.ops = append(f.ops, op{doc: doc, path: []any{"images"}, kind: opSet, value: []any{want}})
	return f.finish(Image{})
}
