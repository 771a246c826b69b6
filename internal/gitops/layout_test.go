package gitops

import (
	"errors"
	"strings"
	"testing"
)

func TestLayoutYAML(t *testing.T) {
	l := loadLayout(t)
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, svc, file, key string
		kind                Kind
	}{
		{"dev", "api", "deploy/overlays/dev/kustomization.yaml", "images[name=api]", Kustomize},
		{"prod", "worker", "deploy/overlays/prod/worker.yaml", "containers[image=registry.example.com/shop/worker].image", Manifest},
		{"staging", "gateway", "deploy/helm/values-staging.yaml", "gateway.image", Helm},
	} {
		r, err := l.Resolve(tc.env, tc.svc)
		if err != nil {
			t.Fatal(err)
		}
		if r.File != tc.file || r.Key() != tc.key || r.Kind != tc.kind {
			t.Errorf("Resolve(%s, %s) = %s %s %s, want %s %s %s", tc.env, tc.svc, r.Kind, r.File, r.Key(), tc.kind, tc.file, tc.key)
		}
	}
	e, err := l.Env("prod")
	if err != nil || !e.PullRequest || e.Branch != "main" || e.Directory != "deploy/overlays/prod" {
		t.Fatalf("Env(prod) = %+v, %v", e, err)
	}
}

func TestLayoutDefaults(t *testing.T) {
	var l Layout
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.EnvironmentNames(), ","); got != "dev,prod,staging" {
		t.Fatalf("environments = %s", got)
	}
	r, err := l.Resolve("staging", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if r.File != "deploy/overlays/staging/kustomization.yaml" || r.Image != "billing" || r.Kind != Kustomize {
		t.Fatalf("default target = %+v", r)
	}
}

func TestLayoutValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     Layout
		field string
	}{
		{"helm without path", Layout{Services: map[string]Target{"api": {Kind: Helm}}}, "services.api.path"},
		{"unknown kind", Layout{Services: map[string]Target{"api": {Kind: "jsonnet"}}}, "services.api.kind"},
		{"manifest without file", Layout{Environments: map[string]Environment{"dev": {Services: map[string]Target{"api": {Kind: Manifest}}}}}, "environments.dev.services.api.file"},
		{"escaping file", Layout{Services: map[string]Target{"api": {File: "../../etc/passwd"}}}, "services.api.file"},
		{"escaping rooted file", Layout{Services: map[string]Target{"api": {File: "/../x.yaml"}}}, "services.api.file"},
		{"absolute directory", Layout{Environments: map[string]Environment{"dev": {Directory: "/srv/dev"}}}, "environments.dev.directory"},
		{"unclean directory", Layout{Directory: "deploy//{env}"}, "directory"},
		{"into .git", Layout{Environments: map[string]Environment{"dev": {Directory: ".git/hooks"}}}, "environments.dev.directory"},
		{"bad env name", Layout{Environments: map[string]Environment{"Dev Env": {}}}, "environments.Dev Env"},
		{"bad branch", Layout{Branch: "main..x"}, "branch"},
		{"helm keys on kustomize", Layout{Services: map[string]Target{"api": {TagKey: "version"}}}, "services.api.kind"},
		{"create on helm", Layout{Services: map[string]Target{"api": {Kind: Helm, Path: "image", Create: true}}}, "services.api.create"},
		{"empty path segment", Layout{Services: map[string]Target{"api": {Kind: Helm, Path: "api..image"}}}, "services.api.path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if !errors.Is(err, ErrInvalidLayout) {
				t.Fatalf("Validate() = %v, want ErrInvalidLayout", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestUnknownEnvironment(t *testing.T) {
	_, err := loadLayout(t).Resolve("qa", "api")
	if !errors.Is(err, ErrUnknownEnvironment) || !strings.Contains(err.Error(), "environments.qa") || !strings.Contains(err.Error(), "dev, prod, staging") {
		t.Fatalf("error = %v", err)
	}
}
