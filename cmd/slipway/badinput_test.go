package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/wire"
)

// badInputSource copies the repository's configuration, services and
// deploy tree into a scratch directory and lets a case break it.
func badInputSource(t *testing.T, breakIt func(root string)) string {
	t.Helper()
	src := testutil.RepoRoot(t)
	dst := t.TempDir()
	for _, p := range []string{"slipway.yaml", "services", "deploy"} {
		err := filepath.WalkDir(filepath.Join(src, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			if d.IsDir() {
				if d.Name() == "node_modules" || d.Name() == "__pycache__" {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dst, ".git", "refs", "heads"), 0o755)
	os.WriteFile(filepath.Join(dst, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	os.WriteFile(filepath.Join(dst, ".git", "refs", "heads", "main"), []byte(commitA+"\n"), 0o644)
	if breakIt != nil {
		breakIt(dst)
	}
	return dst
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// registryState lists every repository:tag → digest the registry holds.
func registryState(t *testing.T, host string) string {
	t.Helper()
	repos, err := crane.Catalog(host, crane.WithAuth(&authn.Basic{Username: regUser, Password: regPass}))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range repos {
		tags, _ := crane.ListTags(host+"/"+r, crane.WithAuth(&authn.Basic{Username: regUser, Password: regPass}))
		for _, tag := range tags {
			d, _ := crane.Digest(host+"/"+r+":"+tag, crane.WithAuth(&authn.Basic{Username: regUser, Password: regPass}))
			lines = append(lines, r+":"+tag+"@"+d)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// gitState is the throwaway repository's branch head ("" before it exists).
func gitState(path string) string {
	r, err := git.PlainOpen(path)
	if err != nil {
		return ""
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return ""
	}
	return ref.Hash().String()
}

// TestBadInputCatalogue feeds the worker the mistakes users make: each is
// refused with a non-zero exit and a message that names the service, file
// and field (or reference) at fault, and nothing is written to the registry
// or the GitOps repository.
func TestBadInputCatalogue(t *testing.T) {
	w := newWorker(t)
	orders := w.image("orders", 1, commitA)
	w.deployDev(commitA, map[string]string{"orders": orders})
	okTar := filepath.Join(w.dir, "ok.tar")
	registrytest.WriteOCITarball(t, okTar, registrytest.Image(t, registrytest.ImageSpec{Seed: 9}))
	corrupt := filepath.Join(w.dir, "corrupt.tar")
	os.WriteFile(corrupt, []byte("not a tarball"), 0o644)
	changes := func(body string) string {
		f := filepath.Join(t.TempDir(), "changes.json")
		os.WriteFile(f, []byte(body), 0o644)
		return f
	}
	good := `[{"service":"orders","repository":"` + w.host + `/shop/orders","digest":"` + orders + `"}]`
	missing := `[{"service":"orders","repository":"` + w.host + `/shop/orders","digest":"sha256:` + strings.Repeat("0", 64) + `"}]`
	kp, _ := signing.GenerateKeyPair([]byte("right"))

	type tc struct {
		name   string
		source func(root string) // breaks a copy of the repository (nil: intact)
		env    map[string]string
		args   []string // worker arguments; "{src}" is the source
		want   []string
	}
	cases := []tc{
		{"unknown service", nil, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--service", "billing", "--source", "{src}"}, []string{`unknown service "billing"`}},
		{"invalid YAML", func(r string) {
			os.WriteFile(filepath.Join(r, "slipway.yaml"), []byte("environments:\n  - name: dev\n   bad\n"), 0o644)
		}, nil,
			[]string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"slipway.yaml:"}},
		{"unknown field", func(r string) { edit(t, filepath.Join(r, "services/orders/service.yaml"), "port: 8080", "prot: 8080") }, nil,
			[]string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"services/orders/service.yaml:", "prot: unknown field"}},
		{"missing Dockerfile", func(r string) { os.Remove(filepath.Join(r, "services/orders/Dockerfile")) }, nil,
			[]string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"services/orders/service.yaml", "dockerfile: services/orders/Dockerfile does not exist"}},
		{"unknown environment in a service", func(r string) {
			edit(t, filepath.Join(r, "services/orders/service.yaml"), "smoke:", "deploy:\n  environments: [qa]\nsmoke:")
		}, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"services/orders/service.yaml", `deploy.environments[0]: unknown environment "qa"`}},
		{"bad severity", func(r string) { edit(t, filepath.Join(r, "slipway.yaml"), "failOn: HIGH}", "failOn: SEVERE}") }, nil,
			[]string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"slipway.yaml:", "environments[1].policy.failOn"}},
		{"bad registry address", func(r string) { edit(t, filepath.Join(r, "slipway.yaml"), `address: ""`, `address: "Bad Registry!"`) }, nil,
			[]string{"plan", "--lookup=false", "--source", "{src}"}, []string{"slipway.yaml:", "registry.address"}},
		{"secret in configuration", func(r string) {
			edit(t, filepath.Join(r, "services/notify/service.yaml"), "env:\n  REDIS_URL", "env:\n  API_TOKEN: abc\n  REDIS_URL")
		}, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}"}, []string{"services/notify/service.yaml", "env.API_TOKEN: looks like a secret"}},
		{"unresolved base image", nil, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--commit", commitA, "--source", "{src}",
			"--base-digest", "golang:1.26-alpine=sha256:" + strings.Repeat("a", 64)}, []string{"service catalog", "services/catalog/Dockerfile:4: FROM python:3.11-slim-bookworm", "not resolved"}},
		{"malformed base digest", nil, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--source", "{src}", "--base-digest", "python:3.11"}, []string{`--base-digest "python:3.11": want REF=sha256:DIGEST`}},
		{"short commit", nil, nil, []string{"plan", "--lookup=false", "--registry", w.host, "--commit", "abc1234", "--source", "{src}"}, []string{"not a full 40-character SHA"}},
		{"bad image reference", nil, nil, []string{"publish", "--tarball", okTar, "--repo", w.host + "/Shop/Orders", "--service", "orders", "--tag", commitA}, []string{"service orders", "Shop/Orders"}},
		{"missing tarball", nil, nil, []string{"publish", "--tarball", filepath.Join(w.dir, "nope.tar"), "--repo", w.host + "/shop/orders", "--service", "orders", "--tag", commitA}, []string{"service orders: pushing", "nope.tar"}},
		{"corrupt tarball", nil, nil, []string{"publish", "--tarball", corrupt, "--repo", w.host + "/shop/orders", "--service", "orders", "--tag", commitA}, []string{"service orders: pushing", "corrupt.tar"}},
		{"garbage signing key", nil, map[string]string{wire.EnvSigningKey: "-----BEGIN NOTHING-----\nxx\n-----END NOTHING-----\n", wire.EnvSigningPassword: "x"},
			[]string{"publish", "--tarball", okTar, "--repo", w.host + "/shop/orders", "--service", "orders", "--tag", commitA}, []string{"--signing-key", "bad key"}},
		{"wrong key password", nil, map[string]string{wire.EnvSigningKey: string(kp.PrivateKeyPEM), wire.EnvSigningPassword: "pw-WRONG-zq9"},
			[]string{"publish", "--tarball", okTar, "--repo", w.host + "/shop/orders", "--service", "orders", "--tag", commitA}, []string{"--signing-key", "is the password right"}},
		{"wrong registry password", nil, map[string]string{wire.EnvRegistryPassword: "not-the-password"},
			[]string{"publish", "--tarball", okTar, "--repo", w.host + "/shop/orders", "--service", "orders", "--tag", commitA}, []string{"service orders", w.host}},
		{"unreachable registry", nil, nil, []string{"publish", "--tarball", okTar, "--repo", "127.0.0.1:1/shop/orders", "--service", "orders", "--tag", commitA}, []string{"service orders", "127.0.0.1:1"}},
		{"deploy to an unknown environment", nil, nil, []string{"deploy", "--env", "qa", "--changes", changes(good), "--commit", commitA, "--source", "{src}", "--throwaway", w.throwaway},
			[]string{`unknown environment "qa"`}},
		{"deploy a digest the registry lacks", nil, nil, []string{"deploy", "--env", "dev", "--changes", changes(missing), "--commit", commitA, "--source", "{src}", "--throwaway", w.throwaway},
			[]string{"service orders", "is not in the registry"}},
		{"malformed changes file", nil, nil, []string{"deploy", "--env", "dev", "--changes", changes(`[{"service":`), "--commit", commitA, "--source", "{src}", "--throwaway", w.throwaway},
			[]string{"changes.json"}},
		{"malformed kustomization", func(r string) {
			edit(t, filepath.Join(r, "deploy/overlays/dev/kustomization.yaml"), "images:\n", "images:\n  - name: [oops\n")
		}, nil, []string{"deploy", "--env", "dev", "--changes", changes(good), "--commit", commitA, "--source", "{src}", "--throwaway", filepath.Join(t.TempDir(), "broken.git")},
			[]string{"deploy/overlays/dev/kustomization.yaml"}},
		{"missing image entry", func(r string) {
			edit(t, filepath.Join(r, "deploy/overlays/dev/kustomization.yaml"), "  - name: orders\n    newName", "  - name: orders-renamed\n    newName")
		}, nil, []string{"deploy", "--env", "dev", "--changes", changes(good), "--commit", commitA, "--source", "{src}", "--throwaway", filepath.Join(t.TempDir(), "missing.git")},
			[]string{"deploy/overlays/dev/kustomization.yaml", "orders"}},
		{"GitOps repository that does not exist", nil, nil, []string{"deploy", "--env", "dev", "--changes", changes(good), "--commit", commitA, "--source", "{src}", "--repo", filepath.Join(t.TempDir(), "nowhere.git")},
			[]string{"nowhere.git"}},
		{"promote an unknown service", nil, nil, []string{"promote", "--from", "dev", "--to", "staging", "--service", "billing", "--source", "{src}", "--throwaway", w.throwaway},
			[]string{"billing"}},
		{"rollback to a commit never built", nil, nil, []string{"rollback", "--env", "dev", "--service", "orders", "--to", strings.Repeat("c", 40), "--source", "{src}", "--throwaway", w.throwaway},
			[]string{"orders", strings.Repeat("c", 7)}},
	}
	if len(cases) < 20 {
		t.Fatalf("the catalogue has %d cases; it promises at least 20", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			src := badInputSource(t, c.source)
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "{src}", src)
			}
			beforeReg, beforeGit := registryState(t, w.host), gitState(w.throwaway)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			msg := stdout.String() + stderr.String()
			if testing.Verbose() {
				t.Logf("exit %d: %s", code, strings.TrimSpace(msg))
			}
			if code == 0 {
				t.Fatalf("exit 0 for bad input:\n%s", msg)
			}
			for _, want := range c.want {
				if !strings.Contains(msg, want) {
					t.Errorf("the message does not name %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, regPass) || strings.Contains(msg, "not-the-password") || strings.Contains(msg, "pw-WRONG-zq9") {
				t.Errorf("a secret reached the message:\n%s", msg)
			}
			if after := registryState(t, w.host); after != beforeReg {
				t.Errorf("the registry changed:\nbefore:\n%s\nafter:\n%s", beforeReg, after)
			}
			if after := gitState(w.throwaway); after != beforeGit {
				t.Errorf("the GitOps repository changed: %s → %s", beforeGit, after)
			}
		})
	}
}

// preflight names what the GitOps repository lacks before anything is
// built: the seed directory of the throwaway repository, an environment's
// directory, a service's entry.
func TestPreflightNamesWhatTheGitOpsRepositoryLacks(t *testing.T) {
	run1 := func(src string, extra ...string) (int, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"preflight", "--source", src, "--throwaway", filepath.Join(t.TempDir(), "repo.git")}, extra...)
		return run(context.Background(), args, &out, &errOut), errOut.String()
	}
	if code, msg := run1(badInputSource(t, nil)); code != 0 || !strings.Contains(msg, "preflight: the GitOps repository takes every service's deployment (dev, staging, prod)") {
		t.Fatalf("the sample: exit %d\n%s", code, msg)
	}
	cases := []struct {
		name    string
		breakIt func(root string)
		want    string
	}{
		{"no deploy directory", func(root string) { os.RemoveAll(filepath.Join(root, "deploy")) },
			"slipway.yaml: gitops.path: the repository has no directory deploy: with no GitOps repository configured (gitops.repo), deployments go to a throwaway one seeded from it"},
		{"no prod overlay", func(root string) { os.RemoveAll(filepath.Join(root, "deploy", "overlays", "prod")) },
			"environment prod: the GitOps repository has no directory deploy/overlays/prod"},
		{"an entry missing", func(root string) {
			p := filepath.Join(root, "deploy", "overlays", "staging", "kustomization.yaml")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("- name: notify\n    newName"), []byte("- name: notifier\n    newName"), 1), 0o644)
		}, "environment staging, service notify: deploy/overlays/staging/kustomization.yaml: images[name=notify]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := run1(badInputSource(t, c.breakIt))
			if code != 1 || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, c.want, msg)
			}
		})
	}

	// ci runs the same check in its state snapshot, for the environments
	// it deploys to: a broken one fails it and no snapshot is written.
	snapshot := func(src string) (int, string, bool) {
		var out, errOut bytes.Buffer
		file := filepath.Join(t.TempDir(), "state.json")
		code := run(context.Background(), []string{"state-snapshot", "--source", src, "--throwaway", filepath.Join(t.TempDir(), "repo.git"),
			"--preflight", "dev", "--registry", "registry:5000", "--out", file}, &out, &errOut)
		_, err := os.Stat(file)
		return code, errOut.String(), err == nil
	}
	if code, msg, wrote := snapshot(badInputSource(t, nil)); code != 0 || !wrote {
		t.Errorf("state-snapshot --preflight dev on the sample: exit %d, snapshot written %v\n%s", code, wrote, msg)
	}
	broken := badInputSource(t, func(root string) { os.RemoveAll(filepath.Join(root, "deploy", "overlays", "dev")) })
	if code, msg, wrote := snapshot(broken); code != 1 || wrote || !strings.Contains(msg, "environment dev: the GitOps repository has no directory deploy/overlays/dev") {
		t.Errorf("state-snapshot --preflight dev without dev's directory: exit %d, snapshot written %v\n%s", code, wrote, msg)
	}
}
