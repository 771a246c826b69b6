package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipwayci/slipway/internal/config"
)

func preflightConfig(t *testing.T, services map[string]string) *config.Config {
	t.Helper()
	fsys := fstest.MapFS{"slipway.yaml": {Data: []byte("environments: [{name: dev, autoDeploy: true}, {name: prod}]\n")}}
	for name, yaml := range services {
		fsys["services/"+name+"/Dockerfile"] = &fstest.MapFile{Data: []byte("FROM scratch\n")}
		if yaml != "" {
			fsys["services/"+name+"/service.yaml"] = &fstest.MapFile{Data: []byte(yaml)}
		}
	}
	cfg, err := config.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func gitopsTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func snapshotTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			body, _ := os.ReadFile(p)
			b.WriteString(p + "\n" + string(body))
		}
		return nil
	})
	return b.String()
}

const kustomization = "images:\n  - name: api\n    newTag: v1\n  - name: web\n    newTag: v1\n"

func TestPreflight(t *testing.T) {
	good := gitopsTree(t, map[string]string{
		"deploy/overlays/dev/kustomization.yaml":  kustomization,
		"deploy/overlays/prod/kustomization.yaml": kustomization,
	})
	before := snapshotTree(t, good)
	if p := Preflight(good, preflightConfig(t, map[string]string{"api": "", "web": ""}), nil, "registry.example.com"); len(p) != 0 {
		t.Errorf("a good layout: %v", p)
	}
	if snapshotTree(t, good) != before {
		t.Error("the preflight wrote to the checkout")
	}

	cases := []struct {
		name     string
		services map[string]string
		files    map[string]string
		envs     []string
		want     []string
	}{
		{"no directory for an environment", map[string]string{"api": ""},
			map[string]string{"deploy/overlays/dev/kustomization.yaml": kustomization}, nil,
			[]string{`environment prod: the GitOps repository has no directory deploy/overlays/prod (slipway.yaml: gitops.path "deploy", gitops.overlay "overlays/{env}")`}},
		{"only the environments asked for", map[string]string{"api": ""},
			map[string]string{"deploy/overlays/dev/kustomization.yaml": kustomization}, []string{"dev"}, nil},
		{"no entry for a service", map[string]string{"api": "", "cart": ""},
			map[string]string{"deploy/overlays/dev/kustomization.yaml": kustomization}, []string{"dev"},
			[]string{"environment dev, service cart: deploy/overlays/dev/kustomization.yaml: images[name=cart]"}},
		{"two services on one helm image block", map[string]string{
			"api": "deploy: {kind: helm, file: values.yaml}\n", "web": "deploy: {kind: helm, file: values.yaml}\n"},
			map[string]string{"deploy/overlays/dev/values.yaml": "image:\n  repository: x\n  tag: v1\n"}, []string{"dev"},
			[]string{"environment dev: services api and web both write image in deploy/overlays/dev/values.yaml: they would overwrite each other"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Preflight(gitopsTree(t, c.files), preflightConfig(t, c.services), c.envs, "")
			if len(got) != len(c.want) {
				t.Fatalf("problems %q, want %q", got, c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q does not say %q", got[i], w)
				}
			}
		})
	}
	if err := PreflightError([]string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "nothing was built or written):\n  a\n  b") {
		t.Errorf("PreflightError: %v", err)
	}
}

// A single set of manifests beside the code: overlay "." writes gitops.path
// itself, and deploy.create adds a missing kustomize entry.
func TestLayoutOfManifestsBesideTheCode(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml":          {Data: []byte("environments: [{name: prod, autoDeploy: true}]\ngitops: {path: k8s, overlay: .}\n")},
		"src/api/Dockerfile":    {Data: []byte("FROM scratch\n")},
		"src/cart/Dockerfile":   {Data: []byte("FROM scratch\n")},
		"src/cart/service.yaml": {Data: []byte("deploy: {create: true}\n")},
	}
	cfg, err := config.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Layout(cfg).Resolve("prod", "api")
	if err != nil || r.File != "k8s/kustomization.yaml" {
		t.Fatalf("api resolves to %q (%v), want k8s/kustomization.yaml", r.File, err)
	}
	dir := gitopsTree(t, map[string]string{"k8s/kustomization.yaml": "resources: [deploy.yaml]\nimages:\n  - name: api\n    newTag: v1\n"})
	if p := Preflight(dir, cfg, nil, "registry:5000"); len(p) != 0 {
		t.Errorf("cart's entry is created, api's is there: %v", p)
	}
}

// After a first deploy a manifest names the full repository: the preflight
// finds the container by the name a deploy writes.
func TestPreflightAfterADeploy(t *testing.T) {
	cfg := preflightConfig(t, map[string]string{"api": "deploy: {kind: manifest, file: api.yaml}\n"})
	deployed := "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: registry:5000/slipway/api:abc@" + preflightDigest + "\n"
	dir := gitopsTree(t, map[string]string{"deploy/overlays/dev/api.yaml": deployed, "deploy/overlays/prod/api.yaml": deployed})
	if p := Preflight(dir, cfg, nil, "registry:5000"); len(p) != 0 {
		t.Errorf("a deployed manifest: %v", p)
	}
	if p := Preflight(dir, cfg, nil, ""); len(p) != 2 {
		t.Errorf("without the registry the entry cannot be found, and the check can fail: %v", p)
	}
}

// After a promotion to another registry (promote --to-registry), or after
// registry.address changed, an environment's manifests name the service's
// repository on another registry: still the service's entry.
func TestPreflightAfterAPromotionToAnotherRegistry(t *testing.T) {
	cfg := preflightConfig(t, map[string]string{"api": "deploy: {kind: manifest, file: api.yaml}\n"})
	at := func(repo string) string {
		return "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: " + repo + ":abc@" + preflightDigest + "\n"
	}
	dir := gitopsTree(t, map[string]string{
		"deploy/overlays/dev/api.yaml":  at("registry:5000/slipway/api"),
		"deploy/overlays/prod/api.yaml": at("prod.example.com/mirror/slipway/api"),
	})
	if p := Preflight(dir, cfg, nil, "registry:5000"); len(p) != 0 {
		t.Errorf("prod, promoted to another registry: %v", p)
	}
	// Another repository is not the service's.
	dir = gitopsTree(t, map[string]string{
		"deploy/overlays/dev/api.yaml":  at("registry:5000/slipway/api"),
		"deploy/overlays/prod/api.yaml": at("prod.example.com/slipway/api-gateway"),
	})
	if p := Preflight(dir, cfg, nil, "registry:5000"); len(p) != 1 || !strings.Contains(p[0], "prod") {
		t.Errorf("prod names another repository: %v", p)
	}
}

// With a real registry the prefix defaults to none: the repository path is
// the service's name alone, and still matches on another registry.
func TestPreflightWithoutAPrefix(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml":              {Data: []byte("registry: {address: ghcr.io/acme}\nenvironments: [{name: dev, autoDeploy: true}, {name: prod}]\n")},
		"services/api/Dockerfile":   {Data: []byte("FROM scratch\n")},
		"services/api/service.yaml": {Data: []byte("deploy: {kind: manifest, file: api.yaml}\n")},
	}
	cfg, err := config.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	at := func(repo string) string {
		return "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: " + repo + ":abc@" + preflightDigest + "\n"
	}
	dir := gitopsTree(t, map[string]string{
		"deploy/overlays/dev/api.yaml":  at("ghcr.io/acme/api"),
		"deploy/overlays/prod/api.yaml": at("prod.example.com/api"),
	})
	if p := Preflight(dir, cfg, nil, "ghcr.io/acme"); len(p) != 0 {
		t.Errorf("prod, promoted to another registry: %v", p)
	}
}
