package config

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestDefaultsWithoutAnyConfigFile(t *testing.T) {
	fsys := fstest.MapFS{
		"services/api/Dockerfile":      file("FROM scratch\n"),
		"services/api/go.mod":          file("module api\n"),
		"services/web/Dockerfile":      file("FROM scratch\n"),
		"services/web/package.json":    file("{}\n"),
		"services/py/Dockerfile":       file("FROM scratch\n"),
		"services/py/requirements.txt": file(""),
		"services/docs/README.md":      file("not a service\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.Services {
		got = append(got, s.Name+":"+s.Language)
	}
	if want := "api:go py:python web:node"; strings.Join(got, " ") != want {
		t.Fatalf("services = %v, want %s", got, want)
	}
	api := cfg.Services[0]
	if api.Test.Unit != "go test ./..." || api.Test.Image != "golang:1.26-alpine" || api.Port != 8080 || api.Smoke.Path != "/health/ready" {
		t.Errorf("go defaults not applied: %+v", api)
	}
	if api.Deploy.Kind != "kustomize" || api.Deploy.File != "kustomization.yaml" || api.Deploy.ImageName != "api" {
		t.Errorf("deploy defaults not applied: %+v", api.Deploy)
	}
	if got := cfg.EnvironmentNames(); strings.Join(got, ",") != "dev,staging,prod" {
		t.Errorf("default environments = %v", got)
	}
	if !cfg.Project.Environments[0].AutoDeploy || cfg.Project.Environments[1].AutoDeploy {
		t.Errorf("only dev should auto-deploy by default: %+v", cfg.Project.Environments)
	}
	if got := cfg.Project.ImageRepository("registry:5000", api); got != "registry:5000/slipway/api" {
		t.Errorf("ImageRepository = %q", got)
	}
}

func TestFullServiceFile(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml": file(`version: 1
name: shop
registry:
  address: ghcr.io/acme
environments:
  - name: dev
    autoDeploy: true
  - name: prod
    requireSignature: true
    requireAttestations: [slsa, sbom]
    policy: {failOn: high, fixableOnly: true}
    mode: pull-request
`),
		"services/orders/Dockerfile": file("FROM scratch\n"),
		"services/orders/service.yaml": file(`name: orders
language: go
port: 9090
test:
  integration: go test -tags integration ./...
dependencies:
  - name: postgres
    image: postgres:15-bookworm
    port: 5432
    env: {POSTGRES_PASSWORD: test}
smoke:
  timeout: 90s
  requests:
    - path: /orders
deploy:
  environments: [prod]
`),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.File != "services/orders/service.yaml" || s.Port != 9090 || s.Smoke.Timeout.D() != 90*time.Second {
		t.Errorf("service not decoded: %+v", s)
	}
	if s.Smoke.Requests[0].Method != "GET" || s.Smoke.Requests[0].Status != 200 {
		t.Errorf("smoke request defaults: %+v", s.Smoke.Requests[0])
	}
	if s.DeploysTo("dev") || !s.DeploysTo("prod") {
		t.Errorf("DeploysTo wrong for %v", s.Deploy.Environments)
	}
	prod, err := cfg.Environment("prod")
	if err != nil || prod.Policy.FailOn != "HIGH" || prod.Mode != "pull-request" {
		t.Errorf("prod = %+v, %v", prod, err)
	}
	if cfg.Project.Registry.Prefix != "" {
		t.Errorf("prefix must stay empty with an explicit address, got %q", cfg.Project.Registry.Prefix)
	}
	if got := cfg.Project.ImageRepository("ghcr.io/acme", s); got != "ghcr.io/acme/orders" {
		t.Errorf("ImageRepository = %q", got)
	}
}

// wantErrors checks that err carries every expected "file:line: field" prefix.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not match ErrInvalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

func TestUnknownFieldNamesFileFieldAndLine(t *testing.T) {
	fsys := fstest.MapFS{
		"services/api/Dockerfile":   file("FROM scratch\n"),
		"services/api/service.yaml": file("name: api\ntest:\n  unti: go test\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err, "services/api/service.yaml:3: unti: unknown field")
}

func TestMalformedYAML(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml":            file("environments:\n  - name: dev\n   bad indent\n"),
		"services/api/Dockerfile": file("FROM scratch\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err, "slipway.yaml:")
}

func TestAllProblemsReportedTogether(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml": file(`name: Shop
parallelism: 0
environments:
  - name: dev
    policy:
      failOn: SEVERE
  - name: dev
    requireAttestations: [provenance]
    mode: push
gitops:
  overlay: overlays
  repo: https://user:pw@example.com/x.git
scan:
  scanner: clair
images:
  requiredLabels: [org.opencontainers.image.licenses, "team owner", org.opencontainers.image.licenses]
`),
		"services/API/Dockerfile": file("FROM scratch\n"),
		"services/api2/service.yaml": file(`dockerfile: ../Dockerfile
port: 70000
dependencies:
  - name: pg
    port: 5432
env:
  GITHUB_TOKEN: x
smoke:
  path: ready
deploy:
  kind: ansible
  environments: [qa]
`),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err,
		"slipway.yaml:1: name:",
		"slipway.yaml:6: environments[0].policy.failOn: \"SEVERE\" is not a severity",
		"slipway.yaml:7: environments[1].name: environment \"dev\" is declared twice",
		"environments[1].requireAttestations[0]",
		"environments[1].mode",
		"gitops.overlay",
		"gitops.repo: credentials must not be written in the URL",
		"scan.scanner",
		"images.requiredLabels[1]: \"team owner\" is not a label key",
		"images.requiredLabels[2]: \"org.opencontainers.image.licenses\" is listed twice",
		"services/API/Dockerfile: name:",
		"services/api2/service.yaml:1: dockerfile:",
		"services/api2/service.yaml:2: port: 70000",
		"dependencies[0].image: must name the image",
		"env.GITHUB_TOKEN: looks like a secret",
		"smoke.path",
		"deploy.kind",
		"deploy.environments[0]: unknown environment \"qa\"",
	)
	if strings.Contains(err.Error(), "pw@") {
		t.Errorf("error repeats the credentials of the URL: %v", err)
	}
}

func TestMissingDockerfileNamed(t *testing.T) {
	fsys := fstest.MapFS{
		"services/api/service.yaml": file("language: go\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err, "services/api/service.yaml", "dockerfile: services/api/Dockerfile does not exist")
}

func TestMissingServicesDir(t *testing.T) {
	_, err := LoadFS(fstest.MapFS{"slipway.yaml": file("servicesDir: apps\n")})
	wantErrors(t, err, "slipway.yaml:1: servicesDir: directory \"apps\" does not exist")
}

func TestBadDuration(t *testing.T) {
	fsys := fstest.MapFS{
		"services/api/Dockerfile":   file("FROM scratch\n"),
		"services/api/service.yaml": file("smoke:\n  timeout: soon\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err, "services/api/service.yaml:2:", "not a duration")
}

func TestDuplicateImageAcrossServices(t *testing.T) {
	fsys := fstest.MapFS{
		"services/a/Dockerfile":   file("FROM scratch\n"),
		"services/a/service.yaml": file("image: shared\n"),
		"services/b/Dockerfile":   file("FROM scratch\n"),
		"services/b/service.yaml": file("image: shared\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err, "services/b/service.yaml: image: image \"shared\" is also used by service a")
}

func TestLookups(t *testing.T) {
	cfg, err := LoadFS(fstest.MapFS{"services/a/Dockerfile": file("FROM scratch\n")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Service("nope"); err == nil || !strings.Contains(err.Error(), `unknown service "nope" (found in services/*, src/*, apps/*: a)`) {
		t.Errorf("Service(nope) error = %v", err)
	}
	if _, err := cfg.Environment("qa"); err == nil || !strings.Contains(err.Error(), "declared: dev, staging, prod") {
		t.Errorf("Environment(qa) error = %v", err)
	}
}

func FuzzLoadService(f *testing.F) {
	f.Add("name: api\nport: 80\n")
	f.Add("test: {unit: x, env: {A: b}}\ndependencies: [{name: pg, image: p, port: 1}]\n")
	f.Add("smoke:\n  timeout: 1s\n  requests: [{path: /x}]\n")
	f.Add(":\n- [")
	f.Fuzz(func(t *testing.T, y string) {
		fsys := fstest.MapFS{
			"services/api/Dockerfile":   file("FROM scratch\n"),
			"services/api/service.yaml": file(y),
		}
		cfg, err := LoadFS(fsys)
		if err == nil && len(cfg.Services) != 1 {
			t.Fatalf("valid config with %d services", len(cfg.Services))
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error not located: %v", err)
		}
	})
}

func TestMaxScanAge(t *testing.T) {
	base := fstest.MapFS{"services/api/Dockerfile": file("FROM scratch\n")}
	with := func(yaml string) fstest.MapFS {
		m := fstest.MapFS{"slipway.yaml": file(yaml)}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	cfg, err := LoadFS(with("environments:\n  - name: dev\n  - name: prod\n    requireAttestations: [vuln]\n    maxScanAge: 168h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := cfg.Environment("prod"); e.MaxScanAge.D() != 168*time.Hour {
		t.Errorf("prod maxScanAge = %v", e.MaxScanAge.D())
	}
	if e, _ := cfg.Environment("dev"); e.MaxScanAge != 0 {
		t.Errorf("dev maxScanAge = %v, want no limit", e.MaxScanAge.D())
	}
	_, err = LoadFS(with("environments:\n  - name: prod\n    requireAttestations: [vuln]\n    maxScanAge: -1h\n"))
	wantErrors(t, err, "slipway.yaml:4: environments[0].maxScanAge: -1h0m0s is negative")
	_, err = LoadFS(with("environments:\n  - name: prod\n    requireAttestations: [test]\n    maxScanAge: 1h\n"))
	wantErrors(t, err, "slipway.yaml:4: environments[0].maxScanAge:", "requireAttestations does not list vuln")
	_, err = LoadFS(with("environments:\n  - name: prod\n    maxScanAge: a week\n"))
	wantErrors(t, err, "slipway.yaml:3:", "not a duration")
}
