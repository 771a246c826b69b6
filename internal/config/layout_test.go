package config

import (
	"strings"
	"testing"
	"testing/fstest"
)

// A monorepo laid out as public ones are: services under src/, one with
// its Dockerfile nested next to its code, one built from the repository
// root so that it can COPY a shared library; directories that are not
// services are listed with the reason, not dropped in silence.
func TestLayoutOfAPublicMonorepo(t *testing.T) {
	fsys := fstest.MapFS{
		"src/cart/Dockerfile":                file("FROM scratch\n"),
		"src/cart/package.json":              file("{}\n"),
		"src/checkout/src/Dockerfile":        file("FROM scratch\n"),
		"src/checkout/src/go.mod":            file("module checkout\n"),
		"src/checkout/README.md":             file("docs\n"),
		"src/pricing/Dockerfile":             file("FROM scratch\n"),
		"src/pricing/service.yaml":           file("build:\n  context: .\n  dockerfile: Dockerfile\n  target: run\n  args: {MODE: release}\n"),
		"src/protos/demo.proto":              file("syntax = \"proto3\";\n"),
		"src/twins/a/Dockerfile":             file("FROM scratch\n"),
		"src/twins/b/Dockerfile":             file("FROM scratch\n"),
		"src/cart/node_modules/x/Dockerfile": file("FROM scratch\n"),
		"lib/money/money.go":                 file("package money\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "cart,checkout,pricing" {
		t.Fatalf("services %v", names)
	}
	cart, _ := cfg.Service("cart")
	if cart.Context != "src/cart" || cart.Dockerfile != "Dockerfile" || cart.Workdir != "src/cart" || cart.Language != "node" {
		t.Errorf("cart %+v", cart)
	}
	co, _ := cfg.Service("checkout")
	if co.Dockerfile != "src/Dockerfile" || co.Context != "src/checkout/src" || co.Language != "go" || co.Workdir != "src/checkout/src" {
		t.Errorf("checkout (nested Dockerfile) %+v", co)
	}
	pr, _ := cfg.Service("pricing")
	if pr.Context != "." || pr.Dockerfile != "Dockerfile" || pr.Target != "run" || pr.BuildArgs["MODE"] != "release" || pr.Workdir != "src/pricing" {
		t.Errorf("pricing (root context) %+v", pr)
	}
	want := map[string]string{
		"src/protos": "no Dockerfile and no service.yaml",
		"src/twins":  "several Dockerfiles (a/Dockerfile, b/Dockerfile): add a service.yaml naming build.dockerfile",
	}
	if len(cfg.Skipped) != len(want) {
		t.Errorf("skipped %+v", cfg.Skipped)
	}
	for _, s := range cfg.Skipped {
		if want[s.Dir] != s.Reason {
			t.Errorf("skipped %s: %q, want %q", s.Dir, s.Reason, want[s.Dir])
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	cases := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{"nothing where services are looked for", fstest.MapFS{"README.md": file("hi\n")},
			[]string{`slipway.yaml: services: no service directory found: looked in services/*, src/*, apps/*; set services: in slipway.yaml`}},
		{"a glob that matches nothing", fstest.MapFS{"slipway.yaml": file("services: [backend/*]\n"), "src/a/Dockerfile": file("FROM scratch\n")},
			[]string{`slipway.yaml:1: services[0]: "backend/*" matches no directory`}},
		{"a bad glob", fstest.MapFS{"slipway.yaml": file("services: [\"src/[\"]\n")},
			[]string{`services[0]: "src/[" is not a valid glob`}},
		{"services and servicesDir", fstest.MapFS{"slipway.yaml": file("servicesDir: src\nservices: [src/*]\n"), "src/a/Dockerfile": file("FROM scratch\n")},
			[]string{"servicesDir: services is set too: keep one"}},
		{"a context outside the repository", fstest.MapFS{
			"src/a/Dockerfile": file("FROM scratch\n"), "src/a/service.yaml": file("build:\n  context: ../..\n")},
			[]string{`src/a/service.yaml:2: build.context: "../.." must be a clean path inside the repository`}},
		{"a context that is not there", fstest.MapFS{
			"src/a/Dockerfile": file("FROM scratch\n"), "src/a/service.yaml": file("build:\n  context: shared\n")},
			[]string{"src/a/service.yaml:2: build.context: shared is not a directory of the repository"}},
		{"a Dockerfile outside the context", fstest.MapFS{
			"src/a/Dockerfile": file("FROM scratch\n"), "lib/x.go": file("package x\n"), "src/a/service.yaml": file("build:\n  context: lib\n")},
			[]string{"src/a/service.yaml:2: build.context: src/a/Dockerfile is outside the build context lib: the Dockerfile is read from the context"}},
		{"dockerfile given twice", fstest.MapFS{
			"src/a/Dockerfile": file("FROM scratch\n"), "src/a/service.yaml": file("dockerfile: Dockerfile\nbuild:\n  dockerfile: Dockerfile\n")},
			[]string{"src/a/service.yaml:3: build.dockerfile: also given as dockerfile: keep one"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFS(c.fsys)
			wantErrors(t, err, c.want...)
		})
	}
}

// Without port:, a service's port is what its Dockerfile's last stage
// EXPOSEs, when that is one port.
func TestPortFromExpose(t *testing.T) {
	fsys := fstest.MapFS{
		"src/one/Dockerfile":   file("FROM golang AS build\nEXPOSE 9999\nFROM scratch\nEXPOSE \\\n  3550/tcp\n"),
		"src/two/Dockerfile":   file("FROM scratch\nEXPOSE 8081 9090\n"),
		"src/udp/Dockerfile":   file("FROM scratch\nEXPOSE 53/udp 7000\n"),
		"src/none/Dockerfile":  file("FROM scratch\n"),
		"src/set/Dockerfile":   file("FROM scratch\nEXPOSE 5000\n"),
		"src/set/service.yaml": file("port: 5001\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"one": 3550, "two": 8080, "udp": 7000, "none": 8080, "set": 5001} {
		if s, _ := cfg.Service(name); s.Port != want {
			t.Errorf("%s: port %d, want %d", name, s.Port, want)
		}
	}
}

// Languages slipway recognises get a test image and command for their
// layout; a Dockerfile stage can run the tests of any language; a service
// with nothing to run is "no tests", never a default that fails.
func TestTestDefaultsByLayout(t *testing.T) {
	df := file("FROM scratch\n")
	fsys := fstest.MapFS{
		"src/mvn/Dockerfile": df, "src/mvn/pom.xml": file("<project/>\n"),
		"src/gradle/Dockerfile": df, "src/gradle/build.gradle.kts": file(""), "src/gradle/gradlew": file(""),
		"src/cs/Dockerfile": df, "src/cs/cart.csproj": file("<Project/>\n"),
		"src/rs/Dockerfile": df, "src/rs/Cargo.toml": file("[package]\n"), "src/rs/Cargo.lock": file("version = 3\n"),
		"src/rslib/Dockerfile": df, "src/rslib/Cargo.toml": file("[package]\n"),
		"src/pyt/Dockerfile": df, "src/pyt/requirements.txt": file("flask\npytest==8.0\n"),
		"src/pyu/Dockerfile": df, "src/pyu/pyproject.toml": file("[project]\n"), "src/pyu/tests/test_a.py": file(""),
		"src/pyn/Dockerfile": df, "src/pyn/requirements.txt": file("flask\n"),
		"src/shell/Dockerfile":  df,
		"src/staged/Dockerfile": file("FROM scratch AS test\nFROM scratch\n"), "src/staged/service.yaml": file("test:\n  target: test\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][3]string{
		"mvn":    {"java", "maven:3.9-eclipse-temurin-21", "mvn -B --no-transfer-progress test"},
		"gradle": {"java", "gradle:8.10-jdk21", "./gradlew test --no-daemon"},
		"cs":     {"dotnet", "mcr.microsoft.com/dotnet/sdk:8.0", "dotnet test"},
		"rs":     {"rust", "rust:1-slim-bookworm", "cargo test --locked"},
		"rslib":  {"rust", "rust:1-slim-bookworm", "cargo test"}, // no lock file to hold to
		"pyt":    {"python", "python:3.11-slim-bookworm", "python3 -m pytest -v"},
		"pyu":    {"python", "python:3.11-slim-bookworm", "python3 -m unittest discover -s tests -v"},
		"pyn":    {"python", "python:3.11-slim-bookworm", ""},
		"shell":  {"docker", "", ""},
		"staged": {"docker", "", ""},
	} {
		s, err := cfg.Service(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Language != want[0] || s.Test.Image != want[1] || s.Test.Unit != want[2] {
			t.Errorf("%s: language %q, image %q, unit %q; want %q", name, s.Language, s.Test.Image, s.Test.Unit, want)
		}
		skip := want[2] == "" && name != "staged"
		if s.Test.Skip != skip {
			t.Errorf("%s: skip %v, want %v (nothing to run is no tests)", name, s.Test.Skip, skip)
		}
	}
	if s, _ := cfg.Service("staged"); s.Test.Target != "test" {
		t.Errorf("staged: target %q", s.Test.Target)
	}
	_, err = LoadFS(fstest.MapFS{"src/a/Dockerfile": df, "src/a/service.yaml": file("test:\n  unit: make test\n  target: test\n")})
	wantErrors(t, err, "src/a/service.yaml:3: test.target: test.unit is set too")
}

// Manifests beside the code: one environment may write gitops.path itself
// (overlay "."), several need {env} or directories of their own.
func TestGitOpsDirectories(t *testing.T) {
	df := file("FROM scratch\n")
	cfg, err := LoadFS(fstest.MapFS{
		"slipway.yaml":     file("environments: [{name: prod, autoDeploy: true}]\ngitops: {path: k8s, overlay: .}\n"),
		"src/a/Dockerfile": df, "src/a/service.yaml": file("deploy: {create: true}\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := cfg.Service("a"); !a.Deploy.Create {
		t.Error("deploy.create was not read")
	}
	cfg, err = LoadFS(fstest.MapFS{
		"slipway.yaml":     file("environments: [{name: dev, autoDeploy: true, directory: .}, {name: prod, directory: prod}]\ngitops: {path: k8s, overlay: .}\n"),
		"src/a/Dockerfile": df,
	})
	if err != nil || cfg.Project.Environments[1].Directory != "prod" {
		t.Fatalf("directories of their own: %v", err)
	}
	_, err = LoadFS(fstest.MapFS{
		"slipway.yaml":     file("environments: [{name: dev}, {name: prod}]\ngitops: {overlay: manifests}\n"),
		"src/a/Dockerfile": df,
	})
	wantErrors(t, err, `slipway.yaml:2: gitops.overlay: "manifests" has no {env}, so environments dev, prod would write the same files`)
	_, err = LoadFS(fstest.MapFS{"src/a/Dockerfile": df, "src/a/service.yaml": file("deploy: {kind: helm, create: true}\n")})
	wantErrors(t, err, "deploy.create: only a kustomize images entry can be created (deploy.kind is helm)")
}

func TestSmokeProtocols(t *testing.T) {
	df := file("FROM scratch\nEXPOSE 9090\n")
	cfg, err := LoadFS(fstest.MapFS{
		"src/rpc/Dockerfile": df, "src/rpc/service.yaml": file("smoke: {protocol: grpc, grpcService: shop.Cart}\n"),
		"src/db/Dockerfile": df, "src/db/service.yaml": file("smoke: {protocol: tcp}\n"),
		"src/web/Dockerfile": df,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"rpc": "grpc", "db": "tcp", "web": "http"} {
		if s, _ := cfg.Service(name); s.Smoke.Protocol != want || s.Port != 9090 {
			t.Errorf("%s: protocol %q port %d", name, s.Smoke.Protocol, s.Port)
		}
	}
	_, err = LoadFS(fstest.MapFS{"src/a/Dockerfile": df, "src/a/service.yaml": file("smoke:\n  protocol: udp\n")})
	wantErrors(t, err, `src/a/service.yaml:2: smoke.protocol: "udp" is not a probe protocol (http, grpc or tcp)`)
	_, err = LoadFS(fstest.MapFS{"src/a/Dockerfile": df, "src/a/service.yaml": file("smoke:\n  protocol: grpc\n  requests: [{path: /x}]\n")})
	wantErrors(t, err, "smoke.protocol: smoke.requests and smoke.expectStatus are HTTP: they do not apply to grpc")
}

// A repository adopts slipway with slipway.yaml alone: services are
// configured there as in a service.yaml, and errors point there.
func TestServiceConfigInSlipwayYAML(t *testing.T) {
	df := file("FROM scratch\n")
	cfg, err := LoadFS(fstest.MapFS{
		"slipway.yaml":           file("serviceConfig:\n  src/pricing:\n    build: {context: .}\n    smoke: {protocol: tcp}\n  src/twins:\n    build: {dockerfile: a/Dockerfile}\n"),
		"src/pricing/Dockerfile": df, "src/twins/a/Dockerfile": df, "src/twins/b/Dockerfile": df,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cfg.Service("pricing")
	tw, err := cfg.Service("twins")
	if p.Context != "." || p.Smoke.Protocol != "tcp" || err != nil || tw.Dockerfile != "a/Dockerfile" || p.File != "" {
		t.Errorf("pricing %+v, twins %+v (%v)", p, tw, err)
	}
	cases := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"an unknown field", fstest.MapFS{"slipway.yaml": file("serviceConfig:\n  src/a:\n    smoke: {protocl: tcp}\n"), "src/a/Dockerfile": df},
			"slipway.yaml:3: serviceConfig.src/a.protocl: unknown field"},
		{"a bad value", fstest.MapFS{"slipway.yaml": file("serviceConfig:\n  src/a:\n    port: 70000\n"), "src/a/Dockerfile": df},
			"slipway.yaml:3: serviceConfig.src/a.port: 70000 is not a TCP port"},
		{"no such directory", fstest.MapFS{"slipway.yaml": file("serviceConfig:\n  src/b:\n    port: 80\n"), "src/a/Dockerfile": df},
			"slipway.yaml:2: serviceConfig.src/b: no service directory src/b"},
		{"configured twice", fstest.MapFS{"slipway.yaml": file("serviceConfig:\n  src/a:\n    port: 80\n"), "src/a/Dockerfile": df, "src/a/service.yaml": file("port: 81\n")},
			"serviceConfig.src/a: src/a/service.yaml exists too: configure the service in one place"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFS(c.fsys)
			wantErrors(t, err, c.want)
		})
	}
}
