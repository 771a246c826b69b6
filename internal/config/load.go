package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads slipway.yaml and every service under the services directory of
// the repository rooted at root. A missing slipway.yaml means all defaults.
// It returns every problem found (as Errors), not just the first.
func Load(root string) (*Config, error) {
	return LoadFS(os.DirFS(root))
}

// LoadFS is Load over any file system whose root is the repository root.
func LoadFS(fsys fs.FS) (*Config, error) {
	var errs Errors
	cfg := &Config{}

	proj, tree, err := readProject(fsys)
	if err != nil {
		return nil, err
	}
	cfg.Project = proj
	cfg.Project.applyDefaults()
	cfg.Project.validate(collector{file: ProjectFile, root: tree, errs: &errs})

	svcs, err := discover(fsys, cfg.Project, &errs)
	if err != nil {
		return nil, err
	}
	cfg.Services = svcs
	cfg.crossValidate(&errs)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func readProject(fsys fs.FS) (Project, *yamlTree, error) {
	var p Project
	b, err := fs.ReadFile(fsys, ProjectFile)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil, nil
	}
	if err != nil {
		return p, nil, fmt.Errorf("reading %s: %w", ProjectFile, err)
	}
	tree, err := decodeStrict(ProjectFile, b, &p)
	if err != nil {
		return p, nil, err
	}
	return p, tree, nil
}

// decodeStrict decodes one YAML document, refusing unknown fields, and
// returns the node tree for line look-ups.
func decodeStrict(file string, b []byte, out any) (*yamlTree, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if len(bytes.TrimSpace(b)) == 0 || doc.Kind == 0 {
		return &yamlTree{}, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, yamlError(file, err)
	}
	return &yamlTree{doc: &doc}, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError turns yaml.v3's messages into located configuration errors.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs Errors
		for _, m := range te.Errors {
			errs = append(errs, lineError(file, m))
		}
		return errs
	}
	return Errors{lineError(file, strings.TrimPrefix(err.Error(), "yaml: "))}
}

func lineError(file, msg string) *Error {
	e := &Error{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &e.Line)
		e.Msg = m[2]
		// "field foo not found in type config.Service" → name the field.
		if f, ok := strings.CutPrefix(e.Msg, "field "); ok {
			if i := strings.Index(f, " not found"); i > 0 {
				e.Field = f[:i]
				e.Msg = "unknown field (check its spelling against docs/configuration.md)"
			}
		}
	}
	return e
}

// discover finds services: every directory under ServicesDir with a
// service.yaml, or with a Dockerfile next to go.mod, package.json,
// pyproject.toml or requirements.txt (or any Dockerfile at all).
func discover(fsys fs.FS, p Project, errs *Errors) ([]Service, error) {
	entries, err := fs.ReadDir(fsys, p.ServicesDir)
	if errors.Is(err, fs.ErrNotExist) {
		*errs = append(*errs, &Error{File: ProjectFile, Field: "servicesDir", Msg: fmt.Sprintf("directory %q does not exist", p.ServicesDir)})
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p.ServicesDir, err)
	}
	var out []Service
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := path.Join(p.ServicesDir, e.Name())
		s, ok, err := loadService(fsys, dir, errs)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

func loadService(fsys fs.FS, dir string, errs *Errors) (Service, bool, error) {
	var s Service
	file := path.Join(dir, ServiceFile)
	var tree *yamlTree
	b, err := fs.ReadFile(fsys, file)
	switch {
	case err == nil:
		t, derr := decodeStrict(file, b, &s)
		if derr != nil {
			var es Errors
			if errors.As(derr, &es) {
				*errs = append(*errs, es...)
				return s, false, nil
			}
			return s, false, derr
		}
		tree = t
		s.File = file
	case errors.Is(err, fs.ErrNotExist):
		if !exists(fsys, path.Join(dir, "Dockerfile")) {
			return s, false, nil // not a service (a library, docs, …)
		}
	default:
		return s, false, fmt.Errorf("reading %s: %w", file, err)
	}
	s.Dir = dir
	s.applyDefaults(fsys)
	cfile := file
	if s.File == "" {
		cfile = path.Join(dir, "Dockerfile")
	}
	s.validate(fsys, collector{file: cfile, root: tree, errs: errs})
	return s, true, nil
}

// DetectLanguage guesses a service's language from the files in dir.
func DetectLanguage(fsys fs.FS, dir string) string {
	switch {
	case exists(fsys, path.Join(dir, "go.mod")):
		return "go"
	case exists(fsys, path.Join(dir, "package.json")):
		return "node"
	case exists(fsys, path.Join(dir, "pyproject.toml")), exists(fsys, path.Join(dir, "requirements.txt")):
		return "python"
	}
	return "docker"
}
