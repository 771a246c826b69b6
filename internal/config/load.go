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
	"time"

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

func (p *Project) applyDefaults() {
	if p.Version == 0 {
		p.Version = 1
	}
	if p.ServicesDir == "" {
		p.ServicesDir = "services"
	}
	if p.Parallelism == 0 {
		p.Parallelism = 4
	}
	if p.Name == "" {
		p.Name = "slipway"
	}
	if p.Registry.Prefix == "" && p.Registry.Address == "" {
		p.Registry.Prefix = p.Name
	}
	if len(p.Environments) == 0 {
		p.Environments = []Environment{
			{Name: "dev", AutoDeploy: true, Policy: Policy{FailOn: "CRITICAL"}},
			{Name: "staging", RequireSignature: true, Policy: Policy{FailOn: "HIGH"}},
			{Name: "prod", RequireSignature: true, RequireAttestations: []string{"slsa", "sbom", "test"}, Policy: Policy{FailOn: "HIGH", Strict: true}},
		}
	}
	for i := range p.Environments {
		e := &p.Environments[i]
		e.FailOnSet = e.Policy.FailOn != ""
		if e.Policy.FailOn == "" {
			e.Policy.FailOn = "CRITICAL"
		}
		e.Policy.FailOn = strings.ToUpper(e.Policy.FailOn)
		if e.Mode == "" {
			e.Mode = "commit"
		}
	}
	g := &p.GitOps
	if g.Branch == "" {
		g.Branch = "main"
	}
	if g.Path == "" {
		g.Path = "deploy"
	}
	if g.Overlay == "" {
		g.Overlay = "overlays/{env}"
	}
	if g.AuthorName == "" {
		g.AuthorName = "slipway"
	}
	if g.AuthorEmail == "" {
		g.AuthorEmail = "slipway@users.noreply.github.com"
	}
	if g.GitHubAPI == "" {
		g.GitHubAPI = "https://api.github.com"
	}
	if p.Scan.Scanner == "" {
		p.Scan.Scanner = "osv-scanner"
	}
	if p.Scan.IgnoreFile == "" {
		p.Scan.IgnoreFile = ".slipway/vuln-ignore.yaml"
	}
}

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	imageName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$`)
	// A registry host with optional port, then optional path components.
	registryAddr = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$`)
	envVarName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Severities in increasing order; NONE never blocks.
var Severities = []string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// AttestationKinds are the accepted values of requireAttestations.
var AttestationKinds = []string{"slsa", "sbom", "vuln", "test"}

func (p *Project) validate(c collector) {
	if p.Version != 1 {
		c.add("version", "unsupported version %d (only 1 exists)", p.Version)
	}
	if !dnsLabel.MatchString(p.Name) {
		c.add("name", "%q is not a valid name (lower-case letters, digits and dashes)", p.Name)
	}
	if err := relPath(p.ServicesDir); err != "" {
		c.add("servicesDir", "%s", err)
	}
	for i, s := range p.Shared {
		if err := relPath(s); err != "" {
			c.add(fmt.Sprintf("shared[%d]", i), "%s", err)
		}
	}
	if p.Parallelism < 1 || p.Parallelism > 64 {
		c.add("parallelism", "must be between 1 and 64, got %d", p.Parallelism)
	}
	if a := p.Registry.Address; a != "" && !registryAddr.MatchString(a) {
		c.add("registry.address", "%q is not a registry address such as ghcr.io/acme or registry.local:5000", a)
	}
	if pr := p.Registry.Prefix; pr != "" && !imageName.MatchString(pr) {
		c.add("registry.prefix", "%q is not a valid repository path (lower-case letters, digits, . _ - /)", pr)
	}
	seen := map[string]bool{}
	for i, e := range p.Environments {
		f := fmt.Sprintf("environments[%d]", i)
		switch {
		case !dnsLabel.MatchString(e.Name):
			c.add(f+".name", "%q is not a valid environment name (lower-case letters, digits and dashes)", e.Name)
		case seen[e.Name]:
			c.add(f+".name", "environment %q is declared twice", e.Name)
		}
		seen[e.Name] = true
		if !contains(Severities, e.Policy.FailOn) {
			c.add(f+".policy.failOn", "%q is not a severity (one of %s)", e.Policy.FailOn, strings.Join(Severities, ", "))
		}
		for j, a := range e.RequireAttestations {
			if !contains(AttestationKinds, a) {
				c.add(fmt.Sprintf("%s.requireAttestations[%d]", f, j), "%q is not an attestation kind (one of %s)", a, strings.Join(AttestationKinds, ", "))
			}
		}
		if e.MaxScanAge.D() < 0 {
			c.add(f+".maxScanAge", "%s is negative (a duration such as 168h; leave it out for no limit)", e.MaxScanAge.D())
		}
		if e.MaxScanAge.D() > 0 && !contains(e.RequireAttestations, "vuln") {
			c.add(f+".maxScanAge", "bounds the age of the vuln attestation, but requireAttestations does not list vuln")
		}
		if e.Mode != "commit" && e.Mode != "pull-request" {
			c.add(f+".mode", "%q is not a GitOps mode (commit or pull-request)", e.Mode)
		}
	}
	if err := relPath(p.GitOps.Path); err != "" {
		c.add("gitops.path", "%s", err)
	}
	if !strings.Contains(p.GitOps.Overlay, "{env}") {
		c.add("gitops.overlay", "%q must contain {env}", p.GitOps.Overlay)
	}
	if r := p.GitOps.Repo; r != "" && !(strings.HasPrefix(r, "https://") || strings.HasPrefix(r, "http://") || strings.HasPrefix(r, "ssh://") || strings.HasPrefix(r, "file://") || strings.Contains(r, "@")) {
		c.add("gitops.repo", "%q is not a git URL (https://…, ssh://…, git@host:path or file://…)", r)
	}
	if strings.Contains(p.GitOps.Repo, "://") && strings.Contains(strings.SplitN(p.GitOps.Repo, "://", 2)[1], "@") && strings.HasPrefix(p.GitOps.Repo, "http") {
		c.add("gitops.repo", "credentials must not be written in the URL; pass the token as a secret (--gitops-token)")
	}
	if s := p.Scan.Scanner; s != "trivy" && s != "osv-scanner" {
		c.add("scan.scanner", "%q is not a supported scanner (trivy or osv-scanner)", s)
	}
	labels := map[string]bool{}
	for i, l := range p.Images.RequiredLabels {
		f := fmt.Sprintf("images.requiredLabels[%d]", i)
		switch {
		case l == "" || strings.ContainsAny(l, " \t=\"'"):
			c.add(f, "%q is not a label key", l)
		case labels[l]:
			c.add(f, "%q is listed twice", l)
		}
		labels[l] = true
	}
}

// relPath checks a path is relative, clean and stays inside the repository.
func relPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case path.IsAbs(p):
		return fmt.Sprintf("%q must be relative to the repository root", p)
	case path.Clean(p) != strings.TrimSuffix(p, "/") || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Sprintf("%q must be a clean path inside the repository", p)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

// Default images by language, overridable per service (test.image) and by
// the module's image arguments. They are ordinary Docker Hub names so that a
// laptop with Docker pulls them as they are; the offline harness mirrors them.
var DefaultTestImages = map[string]string{
	"go":     "golang:1.26-alpine",
	"python": "python:3.11-slim-bookworm",
	"node":   "node:18-bookworm-slim",
}

// DefaultUnitCommands run a language's conventional test runner.
var DefaultUnitCommands = map[string]string{
	"go":     "go test ./...",
	"python": "python3 -m unittest discover -s tests -v",
	"node":   "node --test",
}

func (s *Service) applyDefaults(fsys fs.FS) {
	if s.Name == "" {
		s.Name = path.Base(s.Dir)
	}
	if s.Language == "" {
		s.Language = DetectLanguage(fsys, s.Dir)
	}
	if s.Dockerfile == "" {
		s.Dockerfile = "Dockerfile"
	}
	if s.Image == "" {
		s.Image = s.Name
	}
	if s.Port == 0 {
		s.Port = 8080
	}
	if s.Test.Image == "" {
		s.Test.Image = DefaultTestImages[s.Language]
	}
	if s.Test.Unit == "" {
		s.Test.Unit = DefaultUnitCommands[s.Language]
	}
	if s.Test.Unit == "" && s.Test.Integration == "" {
		s.Test.Skip = true
	}
	if s.Smoke.Path == "" {
		s.Smoke.Path = "/health/ready"
	}
	if s.Smoke.Timeout == 0 {
		s.Smoke.Timeout = Duration(60 * time.Second)
	}
	for i := range s.Smoke.Requests {
		if s.Smoke.Requests[i].Method == "" {
			s.Smoke.Requests[i].Method = "GET"
		}
		if s.Smoke.Requests[i].Status == 0 {
			s.Smoke.Requests[i].Status = 200
		}
	}
	if s.Deploy.Kind == "" {
		s.Deploy.Kind = "kustomize"
	}
	if s.Deploy.File == "" {
		switch s.Deploy.Kind {
		case "helm":
			s.Deploy.File = "values.yaml"
		case "kustomize":
			s.Deploy.File = "kustomization.yaml"
		}
	}
	if s.Deploy.Kind == "helm" && s.Deploy.Key == "" {
		s.Deploy.Key = "image"
	}
	if s.Deploy.ImageName == "" {
		s.Deploy.ImageName = s.Image
	}
}

var languages = []string{"go", "python", "node", "docker"}

func (s *Service) validate(fsys fs.FS, c collector) {
	if !dnsLabel.MatchString(s.Name) {
		c.add("name", "%q is not a valid service name (lower-case letters, digits and dashes, at most 63)", s.Name)
	}
	if !contains(languages, s.Language) {
		c.add("language", "%q is not a supported language (one of %s)", s.Language, strings.Join(languages, ", "))
	}
	df := path.Join(s.Dir, s.Dockerfile)
	if path.IsAbs(s.Dockerfile) || strings.HasPrefix(path.Clean(s.Dockerfile), "..") {
		c.add("dockerfile", "%q must be a path inside the service directory", s.Dockerfile)
	} else if !exists(fsys, df) {
		c.add("dockerfile", "%s does not exist", df)
	}
	if !imageName.MatchString(s.Image) {
		c.add("image", "%q is not a valid repository name (lower-case letters, digits, . _ - /)", s.Image)
	}
	if s.Port < 1 || s.Port > 65535 {
		c.add("port", "%d is not a TCP port (1-65535)", s.Port)
	}
	for i, sh := range s.Shared {
		if err := relPath(sh); err != "" {
			c.add(fmt.Sprintf("shared[%d]", i), "%s", err)
		} else if !exists(fsys, sh) {
			c.add(fmt.Sprintf("shared[%d]", i), "%s does not exist", sh)
		}
	}
	if !s.Test.Skip && s.Test.Image == "" {
		c.add("test.image", "no default test image for language %q: set test.image", s.Language)
	}
	checkEnv(c, "test.env", s.Test.Env)
	checkEnv(c, "env", s.Env)
	names := map[string]bool{}
	for i, d := range s.Dependencies {
		f := fmt.Sprintf("dependencies[%d]", i)
		switch {
		case !dnsLabel.MatchString(d.Name):
			c.add(f+".name", "%q is not a valid host name", d.Name)
		case names[d.Name]:
			c.add(f+".name", "dependency %q is declared twice", d.Name)
		}
		names[d.Name] = true
		if d.Image == "" {
			c.add(f+".image", "must name the image to run, e.g. postgres:15-bookworm")
		}
		if d.Port < 1 || d.Port > 65535 {
			c.add(f+".port", "%d is not a TCP port (1-65535)", d.Port)
		}
		checkEnv(c, f+".env", d.Env)
	}
	if !strings.HasPrefix(s.Smoke.Path, "/") {
		c.add("smoke.path", "%q must start with /", s.Smoke.Path)
	}
	if st := s.Smoke.ExpectStatus; st != 0 && (st < 100 || st > 599) {
		c.add("smoke.expectStatus", "%d is not an HTTP status", st)
	}
	if s.Smoke.Timeout.D() <= 0 || s.Smoke.Timeout.D() > 10*time.Minute {
		c.add("smoke.timeout", "must be between 1s and 10m")
	}
	for i, r := range s.Smoke.Requests {
		f := fmt.Sprintf("smoke.requests[%d]", i)
		if !strings.HasPrefix(r.Path, "/") {
			c.add(f+".path", "%q must start with /", r.Path)
		}
		if r.Status < 100 || r.Status > 599 {
			c.add(f+".status", "%d is not an HTTP status", r.Status)
		}
	}
	switch s.Deploy.Kind {
	case "kustomize", "helm", "manifest":
	default:
		c.add("deploy.kind", "%q is not a deploy kind (kustomize, helm or manifest)", s.Deploy.Kind)
	}
	if s.Deploy.Kind == "manifest" && s.Deploy.File == "" {
		c.add("deploy.file", "is required for deploy.kind manifest (the file holding the Deployment, relative to the environment directory)")
	} else if s.Deploy.File != "" {
		if err := relPath(s.Deploy.File); err != "" {
			c.add("deploy.file", "%s", err)
		}
	}
}

func checkEnv(c collector, field string, env map[string]string) {
	for k := range env {
		if !envVarName.MatchString(k) {
			c.add(field, "%q is not a valid environment variable name", k)
		}
		if looksSecret(k) {
			c.add(field+"."+k, "looks like a secret: configuration files are not for secrets (pass them as Dagger secrets)")
		}
	}
}

// looksSecret flags variable names that conventionally hold credentials,
// unless they are clearly test fixtures (the value is not inspected).
func looksSecret(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "API_KEY", "SECRET", "PRIVATE_KEY"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// crossValidate checks references between files: deploy environments must
// exist and service and image names must be unique.
func (cfg *Config) crossValidate(errs *Errors) {
	envs := map[string]bool{}
	for _, e := range cfg.Project.Environments {
		envs[e.Name] = true
	}
	names := map[string]string{}
	images := map[string]string{}
	for _, s := range cfg.Services {
		file := s.File
		if file == "" {
			file = path.Join(s.Dir, "Dockerfile")
		}
		if other, ok := names[s.Name]; ok {
			*errs = append(*errs, &Error{File: file, Field: "name", Msg: fmt.Sprintf("service name %q is also used by %s", s.Name, other)})
		}
		names[s.Name] = s.Dir
		if other, ok := images[s.Image]; ok {
			*errs = append(*errs, &Error{File: file, Field: "image", Msg: fmt.Sprintf("image %q is also used by service %s", s.Image, other)})
		}
		images[s.Image] = s.Name
		for i, e := range s.Deploy.Environments {
			if !envs[e] {
				*errs = append(*errs, &Error{File: file, Field: fmt.Sprintf("deploy.environments[%d]", i), Msg: fmt.Sprintf("unknown environment %q (slipway.yaml declares %s)", e, strings.Join(cfg.EnvironmentNames(), ", "))})
			}
		}
	}
}

// EnvironmentNames lists the environments in promotion order.
func (cfg *Config) EnvironmentNames() []string {
	out := make([]string, len(cfg.Project.Environments))
	for i, e := range cfg.Project.Environments {
		out[i] = e.Name
	}
	return out
}

// Environment returns the named environment.
func (cfg *Config) Environment(name string) (Environment, error) {
	for _, e := range cfg.Project.Environments {
		if e.Name == name {
			return e, nil
		}
	}
	return Environment{}, fmt.Errorf("%s: environments: unknown environment %q (declared: %s)", ProjectFile, name, strings.Join(cfg.EnvironmentNames(), ", "))
}

// Service returns the named service.
func (cfg *Config) Service(name string) (Service, error) {
	for _, s := range cfg.Services {
		if s.Name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	return Service{}, fmt.Errorf("unknown service %q (found under %s: %s)", name, cfg.Project.ServicesDir, strings.Join(names, ", "))
}

// DeploysTo reports whether the service is deployed to the environment.
func (s Service) DeploysTo(env string) bool {
	if s.Deploy.Skip {
		return false
	}
	return len(s.Deploy.Environments) == 0 || contains(s.Deploy.Environments, env)
}

// ImageRepository is the full repository of the service's image under the
// given registry address (which may be the embedded registry's address).
func (p Project) ImageRepository(address string, s Service) string {
	parts := []string{strings.TrimSuffix(address, "/")}
	if p.Registry.Prefix != "" {
		parts = append(parts, p.Registry.Prefix)
	}
	parts = append(parts, s.Image)
	return strings.Join(parts, "/")
}

// UnmarshalYAML reads durations such as "30s" or "2m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes durations as "30s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes durations as "30s" in JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads durations as "30s" from JSON.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
