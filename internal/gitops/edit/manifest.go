package edit

import (
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Match selects the containers whose image Manifest rewrites.
type Match struct {
	// Container selects containers by name. When set, Images is ignored.
	Container string
	// Images selects containers whose image repository (the reference
	// without tag and digest) is one of these.
	Images []string
	// Paths selects, besides Images, containers whose repository is one of
	// these paths or ends with "/" and one of them, on any registry
	// ("orders" matches ghcr.io/acme/shop/orders and
	// registry.local:5000/orders, not …/orders-worker): the same service's
	// image after the registry changed, or after a promotion to another
	// registry.
	Paths []string
}

// String renders the match for error messages.
func (m Match) String() string {
	if m.Container != "" {
		return "name=" + m.Container
	}
	s := "image=" + strings.Join(m.Images, "|")
	if len(m.Paths) > 0 {
		s += " or */" + strings.Join(m.Paths, "|*/")
	}
	return s
}

func (m Match) matches(name, image string) bool {
	if m.Container != "" {
		return name == m.Container
	}
	repo := ParseImage(image).Name
	if slices.Contains(m.Images, repo) {
		return true
	}
	for _, p := range m.Paths {
		if p != "" && (repo == p || strings.HasSuffix(repo, "/"+p)) {
			return true
		}
	}
	return false
}

// podSpecPaths lists where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"PodTemplate":           {"template", "spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Manifest rewrites `image:` of every matching container and init container
// in the workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob, Pod, PodTemplate) of a multi-document manifest file to the
// pinned reference name:tag@digest. An empty img.Name keeps each container's
// repository. No matching container in the whole file is ErrNotFound.
func Manifest(src []byte, match Match, img Image) (Result, error) {
	if match.Container == "" && len(match.Images) == 0 {
		return Result{}, errAt("containers", 0, fmt.Errorf("%w: nothing to match containers by", ErrNotFound))
	}
	key := fmt.Sprintf("containers[%s].image", match)
	if err := img.Validate(); err != nil {
		return Result{}, errAt(key, 0, err)
	}
	f, err := parse(src)
	if err != nil {
		return Result{}, err
	}
	var old Image
	found := false
	for di, d := range f.docs {
		if len(d.Content) != 1 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		root := d.Content[0]
		kind := scalarAt(root, "kind")
		specPath, ok := podSpecPaths[kind]
		if !ok {
			continue
		}
		obj := kind
		if md := child(root, "metadata"); md != nil {
			if n := scalarAt(md, "name"); n != "" {
				obj += "/" + n
			}
		}
		spec, nodes := root, []*yaml.Node{root}
		for _, p := range specPath {
			if spec = child(spec, p); spec == nil {
				break
			}
			nodes = append(nodes, spec)
		}
		if spec == nil {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			seq := child(spec, field)
			if seq == nil || seq.Kind != yaml.SequenceNode {
				continue
			}
			for ci, c := range seq.Content {
				if c.Kind != yaml.MappingNode {
					continue
				}
				name := scalarAt(c, "name")
				ii, err := lookup(c, "image", obj)
				if err != nil {
					return Result{}, err
				}
				if ii < 0 || resolve(c.Content[ii+1]).Kind != yaml.ScalarNode {
					continue
				}
				cur := resolve(c.Content[ii+1]).Value
				if !match.matches(name, cur) {
					continue
				}
				k := fmt.Sprintf("%s: %s.%s[name=%s].image", obj, strings.Join(specPath, "."), field, name)
				if err := f.checkShared(k, append(nodes, seq, c)...); err != nil {
					return Result{}, err
				}
				prev := ParseImage(cur)
				if !found {
					old, found = prev, true
				}
				nw := img
				if nw.Name == "" {
					nw.Name = prev.Name
				}
				path := make([]any, 0, len(specPath)+3)
				for _, p := range specPath {
					path = append(path, p)
				}
				path = append(path, field, ci, "image")
				if err := f.setValue(c, ii, di, path, k, nw.String()); err != nil {
					return Result{}, err
				}
			}
		}
	}
	if !found {
		return Result{}, errAt(key, 0, fmt.Errorf("%w: no workload container matches", ErrNotFound))
	}
	return f.finish(old)
}

// child returns the value of key k in mapping m when it is a direct,
// non-alias mapping or sequence, else nil.
func child(m *yaml.Node, k string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == k {
			v := m.Content[i+1]
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				return v
			}
			return nil
		}
	}
	return nil
}

func scalarAt(m *yaml.Node, k string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == k {
			if v := resolve(m.Content[i+1]); v.Kind == yaml.ScalarNode {
				return v.Value
			}
		}
	}
	return ""
}
