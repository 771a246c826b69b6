package edit

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// HelmKeys names the keys of a Helm image mapping. The zero value means the
// common chart convention: repository, tag, digest.
type HelmKeys struct {
	// Repository is the key holding the repository; default "repository".
	Repository string
	// Tag is the key holding the tag; default "tag".
	Tag string
	// Digest is the key holding the digest; default "digest".
	Digest string
	// DigestInTag writes `tag@sha256:…` into the tag key and leaves no
	// digest key, for charts whose templates render `repository:tag`.
	DigestInTag bool
	// SkipRepository never writes the repository (for charts that split it
	// into registry and repository).
	SkipRepository bool
}

func (k HelmKeys) withDefaults() HelmKeys {
	if k.Repository == "" {
		k.Repository = "repository"
	}
	if k.Tag == "" {
		k.Tag = "tag"
	}
	if k.Digest == "" {
		k.Digest = "digest"
	}
	return k
}

// HelmValues sets the image at a dotted path (`image`, `api.image`) of a Helm
// values file. When the path holds a mapping, its repository, tag and digest
// keys are set (missing ones are added after the mapping's last key); when
// it holds a string, the whole pinned reference `name:tag@digest` is written
// there. An empty img.Name keeps the repository in the file; an empty
// img.Tag leaves the tag key alone.
func HelmValues(src []byte, path string, img Image, keys HelmKeys) (Result, error) {
	keys = keys.withDefaults()
	if path == "" {
		return Result{}, errAt("", 0, fmt.Errorf("%w: empty values path", ErrNotFound))
	}
	if err := img.Validate(); err != nil {
		return Result{}, errAt(path, 0, err)
	}
	if keys.DigestInTag && img.Tag == "" {
		return Result{}, errAt(path, 0, fmt.Errorf("%w: a tag is needed to write the digest into it", ErrInvalidImage))
	}
	f, err := parse(src)
	if err != nil {
		return Result{}, err
	}
	if len(f.docs) == 0 || len(f.docs[0].Content) == 0 || f.docs[0].Content[0].Kind != yaml.MappingNode {
		return Result{}, errAt(path, 0, fmt.Errorf("%w: the file holds no values mapping", ErrNotFound))
	}
	parts := strings.Split(path, ".")
	parent, node := (*yaml.Node)(nil), f.docs[0].Content[0]
	idx := -1
	var on []*yaml.Node
	var at []any
	for i, p := range parts {
		name := strings.Join(parts[:i+1], ".")
		if node.Kind != yaml.MappingNode {
			return Result{}, errAt(name, node.Line, fmt.Errorf("%w: %s is a %s, not a mapping", ErrNotFound, strings.Join(parts[:i], "."), kindName(node)))
		}
		j, err := lookup(node, p, name)
		if err != nil {
			return Result{}, err
		}
		if j < 0 {
			return Result{}, errAt(name, node.Line, ErrNotFound)
		}
		on = append(on, node)
		at = append(at, p)
		parent, idx = node, j
		v := node.Content[j+1]
		if v.Kind == yaml.AliasNode && i < len(parts)-1 {
			return Result{}, errAt(name, v.Line, fmt.Errorf("%w: the path goes through an alias", ErrShared))
		}
		node = v
	}
	target := resolve(node)
	if err := f.checkShared(path, append(on, node)...); err != nil {
		return Result{}, err
	}
	switch target.Kind {
	case yaml.ScalarNode:
		old := ParseImage(target.Value)
		nw := img
		if nw.Name == "" {
			nw.Name = old.Name
		}
		if err := f.setValue(parent, idx, 0, at, path, nw.String()); err != nil {
			return Result{}, err
		}
		return f.finish(old)
	case yaml.MappingNode:
		if node.Kind == yaml.AliasNode {
			return Result{}, errAt(path, node.Line, fmt.Errorf("%w: the image mapping is an alias", ErrShared))
		}
	default:
		return Result{}, errAt(path, node.Line, fmt.Errorf("%w: %s is a %s", ErrUnsupported, path, kindName(target)))
	}
	m := target
	get := func(k string) (int, string, error) {
		i, err := lookup(m, k, path+"."+k)
		if err != nil || i < 0 {
			return i, "", err
		}
		return i, resolve(m.Content[i+1]).Value, nil
	}
	ri, repo, err := get(keys.Repository)
	if err != nil {
		return Result{}, err
	}
	ti, tag, err := get(keys.Tag)
	if err != nil {
		return Result{}, err
	}
	old := Image{Name: repo, Tag: tag}
	di := -1
	if keys.DigestInTag {
		t := ParseImage("x:" + tag)
		old.Tag, old.Digest = t.Tag, t.Digest
	} else if di, old.Digest, err = get(keys.Digest); err != nil {
		return Result{}, err
	}
	sub := func(k string) []any { return append(clone(at), k) }
	var add []field
	set := func(i int, k, v string) error {
		if i < 0 {
			add = append(add, field{k, v})
			return nil
		}
		return f.setValue(m, i, 0, sub(k), path+"."+k, v)
	}
	if img.Name != "" && !keys.SkipRepository {
		if err := set(ri, keys.Repository, img.Name); err != nil {
			return Result{}, err
		}
	}
	switch {
	case keys.DigestInTag:
		err = set(ti, keys.Tag, img.Tag+"@"+img.Digest)
	case img.Tag != "":
		err = set(ti, keys.Tag, img.Tag)
	}
	if err != nil {
		return Result{}, err
	}
	if !keys.DigestInTag {
		if err := set(di, keys.Digest, img.Digest); err != nil {
			return Result{}, err
		}
	}
	if err := f.insert(m, 0, at, path, add...); err != nil {
		return Result{}, err
	}
	return f.finish(old)
}
