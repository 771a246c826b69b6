package monorepo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipwayci/slipway/internal/config"
)

func load(t *testing.T, fsys fstest.MapFS) *config.Config {
	t.Helper()
	cfg, err := config.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func digests(t *testing.T, fsys fstest.MapFS) map[string]string {
	t.Helper()
	cfg := load(t, fsys)
	out := map[string]string{}
	for _, s := range cfg.Services {
		in, err := InputDigest(fsys, cfg.Project, s)
		if err != nil {
			t.Fatal(err)
		}
		out[s.Name] = in.Digest
	}
	return out
}

func repo() fstest.MapFS {
	return fstest.MapFS{
		"slipway.yaml":                 {Data: []byte("shared: [libs/common]\n")},
		"libs/common/log.go":           {Data: []byte("package common\n")},
		"libs/other/x.go":              {Data: []byte("package other\n")},
		"services/api/Dockerfile":      {Data: []byte("FROM golang\n")},
		"services/api/go.mod":          {Data: []byte("module api\n")},
		"services/api/main.go":         {Data: []byte("package main\n")},
		"services/web/Dockerfile":      {Data: []byte("FROM node\n")},
		"services/web/package.json":    {Data: []byte("{}\n")},
		"services/web/service.yaml":    {Data: []byte("shared: [libs/other]\n")},
		"services/web/node_modules/x":  {Data: []byte("ignored\n")},
		"services/web/run.sh":          {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"services/api/__pycache__/a.c": {Data: []byte("ignored\n")},
	}
}

func TestInputDigestIsStableAndScoped(t *testing.T) {
	base := digests(t, repo())
	if again := digests(t, repo()); again["api"] != base["api"] || again["web"] != base["web"] {
		t.Fatal("digest not deterministic")
	}
	if base["api"] == base["web"] || !strings.HasPrefix(base["api"], "sha256:") || len(base["api"]) != 71 {
		t.Fatalf("unexpected digests %v", base)
	}

	cases := []struct {
		name    string
		mutate  func(fstest.MapFS)
		changed []string
	}{
		{"service source", func(m fstest.MapFS) {
			m["services/api/main.go"] = &fstest.MapFile{Data: []byte("package main // edit\n")}
		}, []string{"api"}},
		{"project shared path", func(m fstest.MapFS) {
			m["libs/common/log.go"] = &fstest.MapFile{Data: []byte("package common // edit\n")}
		}, []string{"api", "web"}},
		{"service shared path", func(m fstest.MapFS) { m["libs/other/x.go"] = &fstest.MapFile{Data: []byte("package other // edit\n")} }, []string{"web"}},
		{"ignored dependency dir", func(m fstest.MapFS) { m["services/web/node_modules/x"] = &fstest.MapFile{Data: []byte("changed\n")} }, nil},
		{"ignored cache", func(m fstest.MapFS) { m["services/api/__pycache__/a.c"] = &fstest.MapFile{Data: []byte("changed\n")} }, nil},
		{"exec bit", func(m fstest.MapFS) { m["services/web/run.sh"] = &fstest.MapFile{Data: []byte("#!/bin/sh\n")} }, []string{"web"}},
		{"new file", func(m fstest.MapFS) { m["services/api/extra.go"] = &fstest.MapFile{Data: []byte("package main\n")} }, []string{"api"}},
		{"rename keeps content", func(m fstest.MapFS) {
			m["services/api/app.go"] = m["services/api/main.go"]
			delete(m, "services/api/main.go")
		}, []string{"api"}},
		{"build config", func(m fstest.MapFS) {
			m["services/web/service.yaml"] = &fstest.MapFile{Data: []byte("shared: [libs/other]\nbuildArgs: {A: b}\n")}
		}, []string{"web"}},
		{"deploy-only config", func(m fstest.MapFS) {
			m["services/web/service.yaml"] = &fstest.MapFile{Data: []byte("shared: [libs/other]\ndeploy: {environments: [dev]}\n")}
		}, []string{"web"}}, // the file itself is in the service directory
		{"unrelated file", func(m fstest.MapFS) { m["README.md"] = &fstest.MapFile{Data: []byte("hi\n")} }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := repo()
			tc.mutate(m)
			got := digests(t, m)
			var changed []string
			for _, s := range []string{"api", "web"} {
				if got[s] != base[s] {
					changed = append(changed, s)
				}
			}
			if strings.Join(changed, ",") != strings.Join(tc.changed, ",") {
				t.Fatalf("changed services = %v, want %v", changed, tc.changed)
			}
		})
	}
}

func TestInputsReport(t *testing.T) {
	m := repo()
	cfg := load(t, m)
	web, _ := cfg.Service("web")
	in, err := InputDigest(m, cfg.Project, web)
	if err != nil {
		t.Fatal(err)
	}
	// Dockerfile, package.json, service.yaml, run.sh, libs/common/log.go, libs/other/x.go
	if in.Files != 6 {
		t.Errorf("Files = %d, want 6", in.Files)
	}
	if strings.Join(in.Paths, " ") != "services/web libs/common libs/other" {
		t.Errorf("Paths = %v", in.Paths)
	}
	if len(in.Short()) != 12 {
		t.Errorf("Short() = %q", in.Short())
	}
}

func TestInputDigestNamesServiceOnMissingPath(t *testing.T) {
	m := repo()
	cfg := load(t, m)
	api, _ := cfg.Service("api")
	delete(m, "libs/common/log.go")
	_, err := InputDigest(m, cfg.Project, api)
	if err == nil || !strings.Contains(err.Error(), "service api: hashing inputs under libs/common") {
		t.Fatalf("error = %v", err)
	}
}

func TestHeadFromRealGitRepository(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "-b", "feature/x")
	if _, _, err := Head(os.DirFS(dir)); err == nil {
		t.Fatal("Head on a branch without commits succeeded")
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	run("add", "f")
	run("commit", "-qm", "one")
	want := run("rev-parse", "HEAD")

	commit, branch, err := Head(os.DirFS(dir))
	if err != nil || commit != want || branch != "feature/x" {
		t.Fatalf("loose ref: Head = %q %q %v, want %q feature/x", commit, branch, err, want)
	}
	run("pack-refs", "--all")
	if commit, branch, err = Head(os.DirFS(dir)); err != nil || commit != want || branch != "feature/x" {
		t.Fatalf("packed ref: Head = %q %q %v", commit, branch, err)
	}
	run("checkout", "-q", "--detach")
	if commit, branch, err = Head(os.DirFS(dir)); err != nil || commit != want || branch != "" {
		t.Fatalf("detached: Head = %q %q %v", commit, branch, err)
	}
	if _, _, err := Head(os.DirFS(t.TempDir())); !errors.Is(err, ErrNoGit) {
		t.Fatalf("no .git: err = %v, want ErrNoGit", err)
	}
}

func TestValidCommit(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("a", 40): true,
		"abc1234":               false,
		strings.Repeat("A", 40): false,
		strings.Repeat("g", 40): false,
	} {
		if ValidCommit(s) != want {
			t.Errorf("ValidCommit(%q) = %v", s, !want)
		}
	}
}

// Services built from their own directory keep the digests they had before
// build contexts existed: upgrading slipway rebuilds nothing.
func TestInputDigestOfTheDefaultContextIsUnchanged(t *testing.T) {
	d := digests(t, repo())
	if d["api"] != "sha256:2ac3eef2f861c219b1718f3aedb6e9e092dc0eda9ac674d9def26ecb1f771bc5" ||
		d["web"] != "sha256:0f802eca54ecd625b599dbf83b9440bd06f19c804bfe00265404e05567437f12" {
		t.Errorf("digests moved: %v", d)
	}
}

// A service built from the repository root can COPY anything there, so
// everything there is its input; a nested context adds nothing to the
// service directory.
func TestInputDigestCoversTheBuildContext(t *testing.T) {
	mk := func() fstest.MapFS {
		m := repo()
		m["services/web/service.yaml"] = &fstest.MapFile{Data: []byte("build: {context: .}\n")}
		return m
	}
	base := digests(t, mk())
	m := mk()
	m["README.md"] = &fstest.MapFile{Data: []byte("edited\n")}
	got := digests(t, m)
	if got["web"] == base["web"] || got["api"] != base["api"] {
		t.Errorf("a root file changed: web %v, api %v (want only web to change)", got["web"] != base["web"], got["api"] != base["api"])
	}
	cfg := load(t, mk())
	web, _ := cfg.Service("web")
	in, err := InputDigest(mk(), cfg.Project, web)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(in.Paths, ",") != "services/web,.,libs/common" {
		t.Errorf("paths %v", in.Paths)
	}
}
