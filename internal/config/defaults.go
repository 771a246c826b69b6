package config

import (
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/dockerfile"
)

// DefaultServiceGlobs are where services are looked for when slipway.yaml
// names no services globs: the layouts of most public monorepos.
var DefaultServiceGlobs = []string{"services/*", "src/*", "apps/*"}

func (p *Project) applyDefaults() {
	if p.Version == 0 {
		p.Version = 1
	}
	if p.Signing.Format == "" {
		p.Signing.Format = "bundle"
	}
	switch {
	case len(p.Services) > 0:
	case p.ServicesDir != "":
		p.Services = []string{path.Join(p.ServicesDir, "*")}
		p.servicesFromDir = true
	default:
		p.Services = append([]string(nil), DefaultServiceGlobs...)
		p.DefaultServices = true
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
	if g.PullRequestBranch == "" {
		g.PullRequestBranch = "slipway/{env}"
	}
	if p.Scan.Scanner == "" {
		p.Scan.Scanner = "osv-scanner"
	}
	if p.Scan.IgnoreFile == "" {
		p.Scan.IgnoreFile = ".slipway/vuln-ignore.yaml"
	}
}

// Default images by language, overridable per service (test.image). They
// are ordinary Docker Hub names so that a laptop with Docker pulls them as
// they are; the offline harness mirrors the Go, Python, Node and Rust ones.
var DefaultTestImages = map[string]string{
	"go":     "golang:1.26-alpine",
	"python": "python:3.11-slim-bookworm",
	"node":   "node:18-bookworm-slim",
	"java":   "maven:3.9-eclipse-temurin-21",
	"dotnet": "mcr.microsoft.com/dotnet/sdk:8.0",
	"rust":   "rust:1-slim-bookworm", // the newest Rust 1.x
}

// DefaultUnitCommands run a language's conventional test runner (Python's
// and Java's depend on the layout: see unitDefault).
var DefaultUnitCommands = map[string]string{
	"go":     "go test ./...",
	"python": "python3 -m unittest discover -s tests -v",
	"node":   "node --test",
	"java":   "mvn -B --no-transfer-progress test",
	"dotnet": "dotnet test",
	"rust":   "cargo test --locked",
}

// unitDefault is the default unit test command for the service's layout
// ("" when there is no test to run).
func (s *Service) unitDefault(fsys fs.FS) string {
	dir := s.Workdir
	has := func(name string) bool { return exists(fsys, path.Join(dir, name)) }
	contains := func(name, what string) bool {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		return err == nil && strings.Contains(string(b), what)
	}
	switch s.Language {
	case "python":
		// pytest where the project uses it; unittest only where a test
		// directory exists.
		switch {
		case has("pytest.ini"), has("conftest.py"), contains("pyproject.toml", "[tool.pytest"), contains("setup.cfg", "[tool:pytest]"),
			contains("requirements.txt", "pytest"), contains("requirements-dev.txt", "pytest"):
			return "python3 -m pytest -v"
		case has("tests"):
			return "python3 -m unittest discover -s tests -v"
		case has("test"):
			return "python3 -m unittest discover -s test -v"
		}
		return ""
	case "java":
		if has("build.gradle") || has("build.gradle.kts") {
			if has("gradlew") {
				return "./gradlew test --no-daemon"
			}
			return "gradle test --no-daemon"
		}
	case "rust":
		// --locked only where there is a lock file to hold to (libraries
		// often commit none).
		if !has("Cargo.lock") {
			return "cargo test"
		}
	}
	return DefaultUnitCommands[s.Language]
}

func (s *Service) applyDefaults(fsys fs.FS) {
	if s.Name == "" {
		s.Name = path.Base(s.Dir)
	}
	if s.Language == "" {
		s.Language = DetectLanguage(fsys, s.Dir)
		// A Dockerfile found below the service directory (src/x/src/Dockerfile)
		// usually sits next to the code it builds.
		if dfDir := path.Dir(path.Join(s.Dir, s.Dockerfile)); s.Language == "docker" && s.Dockerfile != "" && dfDir != s.Dir {
			if l := DetectLanguage(fsys, dfDir); l != "docker" {
				s.Language, s.Workdir = l, dfDir
			}
		}
	}
	if s.Dockerfile == "" {
		s.Dockerfile = "Dockerfile"
	}
	if s.Context == "" {
		s.Context = s.Dir
	}
	if s.Workdir == "" {
		s.Workdir = s.Dir
	}
	if s.Image == "" {
		s.Image = s.Name
	}
	if s.Port == 0 {
		// The port the image says it serves: the single EXPOSE of the
		// Dockerfile's last stage, else 8080.
		s.Port = 8080
		if b, err := fs.ReadFile(fsys, path.Join(s.Dir, s.Dockerfile)); err == nil {
			if ports := dockerfile.ExposedPorts(string(b)); len(ports) == 1 {
				s.Port = ports[0]
			}
		}
	}
	if s.Test.Image == "" {
		s.Test.Image = DefaultTestImages[s.Language]
		if s.Language == "java" && (exists(fsys, path.Join(s.Workdir, "build.gradle")) || exists(fsys, path.Join(s.Workdir, "build.gradle.kts"))) {
			s.Test.Image = "gradle:8.10-jdk21"
		}
	}
	s.unitSet = s.Test.Unit != ""
	if s.Test.Unit == "" && s.Test.Target == "" {
		s.Test.Unit = s.unitDefault(fsys)
	}
	if s.Test.Unit == "" && s.Test.Integration == "" && s.Test.Target == "" {
		s.Test.Skip = true
	}
	if s.Smoke.Protocol == "" {
		s.Smoke.Protocol = "http"
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
