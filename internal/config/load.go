package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/cabundle"
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
	pc := collector{file: ProjectFile, root: tree, errs: &errs}
	cfg.Project.validate(pc)
	cfg.Project.CABundle = readCACertificates(fsys, cfg.Project.CACertificates, pc)
	k := &cfg.Project.Signing.Keyless
	k.SigningConfigJSON = readSigstoreFile(fsys, "signing.keyless.signingConfig", k.SigningConfig, "application/vnd.dev.sigstore.signingconfig", pc)
	k.TrustedRootJSON = readSigstoreFile(fsys, "signing.keyless.trustedRoot", k.TrustedRoot, "application/vnd.dev.sigstore.trustedroot", pc)

	svcs, skipped, err := discover(fsys, cfg.Project, pc)
	if err != nil {
		return nil, err
	}
	cfg.Services, cfg.Skipped = svcs, skipped
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

// discover finds services: every directory a services glob matches that
// holds a service.yaml or a Dockerfile, or a single Dockerfile a few
// levels below (src/x/src/Dockerfile). Every other matched directory is
// listed in skipped with the reason.
func discover(fsys fs.FS, p Project, pc collector) (svcs []Service, skipped []Skipped, err error) {
	var dirs []string
	seen := map[string]bool{}
	for i, g := range p.Services {
		matches, err := fs.Glob(fsys, g)
		if err != nil {
			pc.add(fmt.Sprintf("services[%d]", i), "%q is not a valid glob: %v", g, err)
			continue
		}
		found := false
		for _, m := range matches {
			if st, err := fs.Stat(fsys, m); err != nil || !st.IsDir() || strings.HasPrefix(path.Base(m), ".") || seen[m] {
				continue
			}
			seen[m], found = true, true
			dirs = append(dirs, m)
		}
		switch {
		case found || p.DefaultServices:
		case p.ServicesDir != "":
			if !exists(fsys, p.ServicesDir) {
				pc.add("servicesDir", "directory %q does not exist", p.ServicesDir)
			}
		default:
			pc.add(fmt.Sprintf("services[%d]", i), "%q matches no directory", g)
		}
	}
	for _, dir := range sortedNodeKeys(p.ServiceConfig) {
		if !seen[dir] {
			pc.add("serviceConfig."+dir, "no service directory %s: serviceConfig is keyed by the directories services: matches (%s)", dir, strings.Join(p.Services, ", "))
		}
	}
	if len(dirs) == 0 && p.DefaultServices {
		pc.add("services", "no service directory found: looked in %s; set services: in %s to the globs of your service directories, e.g. [\"backend/*\"]",
			strings.Join(p.Services, ", "), ProjectFile)
		return nil, nil, nil
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		s, reason, err := loadService(fsys, dir, pc, p.ServiceConfig)
		if err != nil {
			return nil, nil, err
		}
		if reason != "" {
			skipped = append(skipped, Skipped{Dir: dir, Reason: reason})
			continue
		}
		if s != nil {
			svcs = append(svcs, *s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	return svcs, skipped, nil
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// nestedDepth is how far below a service directory a Dockerfile is looked
// for when there is none at its top.
const nestedDepth = 3

// nestedDockerfiles lists the Dockerfiles below dir (not at its top), at
// most nestedDepth levels down, relative to dir, skipping what is never an
// input (node_modules, .git, …).
func nestedDockerfiles(fsys fs.FS, dir string) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(d.Name(), ".") || ignoredDir(d.Name()) || strings.Count(rel, "/") >= nestedDepth) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Name() == "Dockerfile" && p != path.Join(dir, "Dockerfile") {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// ignoredDir names directories that never hold a service's Dockerfile.
func ignoredDir(name string) bool {
	switch name {
	case "node_modules", "__pycache__", "vendor", "testdata", "target", "bin", "obj", "dist", "build":
		return true
	}
	return false
}

// loadService reads one service directory. It returns the service, or the
// reason the directory is not one; configuration errors go to errs (and
// then neither is returned).
func loadService(fsys fs.FS, dir string, pc collector, inProject map[string]yaml.Node) (*Service, string, error) {
	var s Service
	errs := pc.errs
	file := path.Join(dir, ServiceFile)
	var tree *yamlTree
	b, err := fs.ReadFile(fsys, file)
	node, configured := inProject[dir]
	switch {
	case configured && err == nil:
		pc.add("serviceConfig."+dir, "%s exists too: configure the service in one place", file)
		return nil, "", nil
	case configured:
		// Configured in slipway.yaml: decoded as strictly as a service.yaml,
		// errors located there.
		pc.prefix = "serviceConfig." + dir + "."
		if err := decodeNode(&node, &s); err != nil {
			e := &Error{File: ProjectFile, Field: pc.prefix + err.field, Line: pc.root.line(pc.prefix + err.field), Msg: err.msg}
			if err.line > 0 {
				// The node was decoded on its own: its line 1 is node.Line.
				e.Line = node.Line + err.line - 1
			}
			*errs = append(*errs, e)
			return nil, "", nil
		}
		s.Dir = dir
		c := pc
		s.mergeBuild(c)
		return finishService(fsys, &s, c, dir)
	case err == nil:
		t, derr := decodeStrict(file, b, &s)
		if derr != nil {
			var es Errors
			if errors.As(derr, &es) {
				*errs = append(*errs, es...)
				return nil, "", nil
			}
			return nil, "", derr
		}
		tree = t
		s.File = file
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, "", fmt.Errorf("reading %s: %w", file, err)
	}
	s.Dir = dir
	c := collector{file: file, root: tree, errs: errs}
	if s.File == "" {
		c.file = path.Join(dir, "Dockerfile")
	}
	s.mergeBuild(c)
	return finishService(fsys, &s, c, dir)
}

// finishService finds a nested Dockerfile when the service names none and
// has none at its top, applies the defaults and validates.
func finishService(fsys fs.FS, sp *Service, c collector, dir string) (*Service, string, error) {
	s := *sp
	configured := s.File != "" || c.prefix != ""
	if s.Dockerfile == "" && !exists(fsys, path.Join(dir, "Dockerfile")) {
		nested, err := nestedDockerfiles(fsys, dir)
		if err != nil {
			return nil, "", fmt.Errorf("looking for a Dockerfile under %s: %w", dir, err)
		}
		switch {
		case len(nested) == 1:
			s.Dockerfile = nested[0]
			if s.Context == "" {
				s.Context = path.Dir(path.Join(dir, nested[0]))
			}
			if !configured {
				c.file = path.Join(dir, nested[0])
			}
		case configured:
			// service.yaml (or slipway.yaml) says this is a service:
			// validate reports the missing Dockerfile.
		case len(nested) == 0:
			return nil, "no Dockerfile and no " + ServiceFile, nil
		default:
			return nil, fmt.Sprintf("several Dockerfiles (%s): add a %s naming build.dockerfile", strings.Join(nested, ", "), ServiceFile), nil
		}
	}
	s.applyDefaults(fsys)
	s.validate(fsys, c)
	return &s, "", nil
}

// mergeBuild folds service.yaml's build block into the resolved fields; a
// value given both there and in the older top-level field is an error.
func (s *Service) mergeBuild(c collector) {
	b := s.Build
	if b.Dockerfile != "" {
		if s.Dockerfile != "" {
			c.add("build.dockerfile", "also given as dockerfile: keep one")
		}
		s.Dockerfile = b.Dockerfile
	}
	if b.Target != "" {
		if s.Target != "" {
			c.add("build.target", "also given as target: keep one")
		}
		s.Target = b.Target
	}
	if len(b.Args) > 0 {
		if len(s.BuildArgs) > 0 {
			c.add("build.args", "also given as buildArgs: keep one")
		}
		s.BuildArgs = b.Args
	}
	if b.Context != "" {
		s.Context = path.Clean(b.Context)
	}
	s.BuildSecrets = b.Secrets
	s.Platforms = b.Platforms
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
	case exists(fsys, path.Join(dir, "pom.xml")), exists(fsys, path.Join(dir, "build.gradle")), exists(fsys, path.Join(dir, "build.gradle.kts")):
		return "java"
	case exists(fsys, path.Join(dir, "Cargo.toml")):
		return "rust"
	case globAny(fsys, dir, "*.csproj", "*.fsproj", "*.sln"):
		return "dotnet"
	}
	return "docker"
}

// globAny reports whether dir holds a file matching any of the patterns.
func globAny(fsys fs.FS, dir string, patterns ...string) bool {
	for _, p := range patterns {
		if m, _ := fs.Glob(fsys, path.Join(dir, p)); len(m) > 0 {
			return true
		}
	}
	return false
}

// nodeError is a problem decoding a service configured in slipway.yaml,
// with its line in the node decoded on its own (0 when unknown).
type nodeError struct {
	field, msg string
	line       int
}

// decodeNode decodes a service's configuration from its node in
// slipway.yaml as strictly as a service.yaml: an unknown field is an error
// naming it.
func decodeNode(n *yaml.Node, out *Service) *nodeError {
	b, err := yaml.Marshal(n)
	if err != nil {
		return &nodeError{"", err.Error(), 0}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		e := yamlError(ProjectFile, err)
		var es Errors
		if errors.As(e, &es) && len(es) > 0 {
			return &nodeError{es[0].Field, es[0].Msg, es[0].Line}
		}
		return &nodeError{"", err.Error(), 0}
	}
	return nil
}

func sortedNodeKeys(m map[string]yaml.Node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readCACertificates reads caCertificates into one bundle, each
// certificate once; a file that is missing or holds anything but
// certificates is an error at its entry.
func readCACertificates(fsys fs.FS, files []string, c collector) string {
	var pems []string
	for i, f := range files {
		field := fmt.Sprintf("caCertificates[%d]", i)
		if relPath(f) != "" {
			continue // validate named it
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			c.add(field, "%s: no such file in the repository (a PEM file of CA certificates, relative to the repository root)", f)
			continue
		}
		if _, err := cabundle.Parse(b); err != nil {
			c.add(field, "%s %v", f, err)
			continue
		}
		pems = append(pems, string(b))
	}
	if len(pems) == 0 {
		return ""
	}
	return cabundle.Merge(pems...)
}

// readSigstoreFile reads a Sigstore JSON document (a signing config or a
// trusted root) named in slipway.yaml and checks its media type; the
// worker parses it fully when it signs or verifies.
func readSigstoreFile(fsys fs.FS, field, file, mediaType string, c collector) string {
	if file == "" || relPath(file) != "" {
		return ""
	}
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		c.add(field, "%s: no such file in the repository", file)
		return ""
	}
	var doc struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		c.add(field, "%s is not JSON: %v", file, err)
		return ""
	}
	if !strings.HasPrefix(doc.MediaType, mediaType) {
		c.add(field, "%s has mediaType %q, want %s…", file, doc.MediaType, mediaType)
		return ""
	}
	return string(b)
}
