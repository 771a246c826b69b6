package plan

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipwayci/slipway/internal/cabundle"
	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/monorepo"
	"github.com/slipwayci/slipway/internal/testutil"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func repo() fstest.MapFS {
	return fstest.MapFS{
		".git/HEAD":                         {Data: []byte("ref: refs/heads/feature/Login_Fix\n")},
		".git/refs/heads/feature/Login_Fix": {Data: []byte(sha + "\n")},
		"slipway.yaml":                      {Data: []byte("name: shop\nregistry: {address: ghcr.io/acme}\n")},
		"services/api/Dockerfile":           {Data: []byte("FROM scratch\n")},
		"services/api/go.mod":               {Data: []byte("module api\n")},
		"services/web/Dockerfile":           {Data: []byte("FROM scratch\n")},
		"services/web/package.json":         {Data: []byte("{}\n")},
	}
}

// finder is a Finder over a fixed map; the registry-backed Finder is tested
// in the registry package against a real registry.
type finder map[string]string

func (f finder) FindByInputDigest(_ context.Context, repo, d string) (string, bool, error) {
	if strings.HasPrefix(repo, "broken/") {
		return "", false, errors.New("boom")
	}
	ref, ok := f[repo+"|"+d]
	return ref, ok, nil
}

func TestMakeReadsGitAndComputesRepositories(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	p, err := Make(context.Background(), repo(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p.Commit != sha || p.Branch != "feature/Login_Fix" || p.Registry != "ghcr.io/acme" {
		t.Fatalf("plan header = %q %q %q", p.Commit, p.Branch, p.Registry)
	}
	if len(p.Services) != 2 || p.Services[0].Repository != "ghcr.io/acme/api" || !p.Services[0].Affected() {
		t.Fatalf("services = %+v", p.Services)
	}
	if got := strings.Join(p.Tags(), " "); got != sha+" feature-login_fix-0123456-20261121100000" {
		t.Errorf("Tags = %s", got)
	}
	l := p.Labels(p.Services[0])
	if l["org.opencontainers.image.revision"] != sha || l[InputDigestLabel] != p.Services[0].Inputs.Digest || l["org.opencontainers.image.created"] != "2026-11-21T10:00:00Z" {
		t.Errorf("labels = %v", l)
	}
}

func TestBuildAvoidanceAndSelection(t *testing.T) {
	first, err := Make(context.Background(), repo(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := first.Service("api")
	f := finder{"ghcr.io/acme/api|" + api.Inputs.Digest: "ghcr.io/acme/api@sha256:aaaa"}

	p, err := Make(context.Background(), repo(), Options{Finder: f})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Service("api")
	w, _ := p.Service("web")
	if a.Affected() || a.Existing != "ghcr.io/acme/api@sha256:aaaa" || !w.Affected() {
		t.Fatalf("api affected=%v existing=%q, web affected=%v", a.Affected(), a.Existing, w.Affected())
	}

	forced, _ := Make(context.Background(), repo(), Options{Finder: f, Force: true})
	if a, _ := forced.Service("api"); !a.Affected() {
		t.Error("Force did not rebuild api")
	}
	only, err := Make(context.Background(), repo(), Options{Finder: f, Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := only.Service("api"); a.Selected || a.Affected() {
		t.Error("api selected although only web was asked for")
	}
	if _, err := Make(context.Background(), repo(), Options{Services: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `unknown service "nope"`) {
		t.Errorf("unknown service error = %v", err)
	}
}

func TestMakeErrors(t *testing.T) {
	noGit := repo()
	delete(noGit, ".git/HEAD")
	if _, err := Make(context.Background(), noGit, Options{}); err == nil || !strings.Contains(err.Error(), "pass the commit explicitly") {
		t.Errorf("no git: %v", err)
	}
	if _, err := Make(context.Background(), noGit, Options{Commit: "abc1234"}); err == nil || !strings.Contains(err.Error(), "not a full 40-character SHA") {
		t.Errorf("short sha: %v", err)
	}
	noReg := repo()
	noReg["slipway.yaml"] = &fstest.MapFile{Data: []byte("name: shop\n")}
	if _, err := Make(context.Background(), noReg, Options{}); err == nil || !strings.Contains(err.Error(), "no registry address") {
		t.Errorf("no registry: %v", err)
	}
	// The default applies only where neither the caller nor slipway.yaml
	// names a registry.
	if p, err := Make(context.Background(), noReg, Options{DefaultRegistry: "registry:5000"}); err != nil || p.Registry != "registry:5000" {
		t.Errorf("default registry: %v, %+v", err, p)
	}
	if p, err := Make(context.Background(), repo(), Options{DefaultRegistry: "registry:5000"}); err != nil || p.Registry == "registry:5000" {
		t.Errorf("the default registry overrode slipway.yaml's: %v, %+v", err, p)
	}
	if p, err := Make(context.Background(), repo(), Options{Registry: "ghcr.io/acme", DefaultRegistry: "registry:5000"}); err != nil || p.Registry != "ghcr.io/acme" {
		t.Errorf("the default registry overrode the caller's: %v, %+v", err, p)
	}
	if _, err := Make(context.Background(), repo(), Options{Registry: "broken", Finder: finder{}}); err == nil {
		t.Error("finder error swallowed")
	}
}

func TestRoundTripJSON(t *testing.T) {
	p, err := Make(context.Background(), repo(), Options{Registry: "registry:5000"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Commit != p.Commit || len(q.Services) != 2 || q.Services[1].Inputs.Digest != p.Services[1].Inputs.Digest || q.Services[0].Smoke.Timeout != p.Services[0].Smoke.Timeout {
		t.Fatalf("round trip lost data:\n%s", b)
	}
	if q.Services[0].Repository != "registry:5000/api" {
		t.Errorf("repository = %s", q.Services[0].Repository)
	}
}

func TestSortableTag(t *testing.T) {
	tm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for branch, want := range map[string]string{
		"main":                   "main-0123456-20260102030405",
		"--":                     "branch-0123456-20260102030405",
		strings.Repeat("x", 200): strings.Repeat("x", 80) + "-0123456-20260102030405",
	} {
		if got := SortableTag(branch, sha, tm); got != want {
			t.Errorf("SortableTag(%q) = %q, want %q", branch, got, want)
		}
	}
}

// dirtyRepo is a real git repository holding the two services of repo().
func dirtyRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	for name, f := range repo() {
		if strings.HasPrefix(name, ".git/") {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "x"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// gitStatus is a CheckDirty hook over the git CLI. The module passes
// internal/gitstate.DirtyFiles, whose own tests hold it to what git says;
// this package's tests stay free of git libraries, because the module's
// `go mod tidy` on a fresh engine loads the tests of what it imports.
func gitStatus(dir string) func(fs.FS, []string) ([]monorepo.Change, error) {
	return func(fsys fs.FS, roots []string) ([]monorepo.Change, error) {
		if _, err := fs.Stat(fsys, ".git/index"); err != nil {
			return nil, monorepo.ErrNoIndex // as DirtyFiles says it
		}
		args := append([]string{"-C", dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--"}, roots...)
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			return nil, err
		}
		var changes []monorepo.Change
		for _, e := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			if len(e) < 4 {
				continue
			}
			state := monorepo.Modified
			switch {
			case e[:2] == "??":
				state = monorepo.Untracked
			case e[1] == 'D':
				state = monorepo.Deleted
			case e[1] == ' ':
				state = monorepo.Staged
			}
			changes = append(changes, monorepo.Change{Path: e[3:], State: state})
		}
		return changes, nil
	}
}

func TestMakeDirtyTree(t *testing.T) {
	dir := dirtyRepo(t)
	ctx := context.Background()
	p, err := Make(ctx, os.DirFS(dir), Options{CheckDirty: gitStatus(dir)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Uncommitted) != 0 || p.DirtyError() != nil || p.Dirty {
		t.Fatalf("clean tree: uncommitted %v, err %v", p.Uncommitted, p.DirtyError())
	}
	if err := os.WriteFile(filepath.Join(dir, "services/web/package.json"), []byte(`{"v":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the selected services' inputs count.
	p, err = Make(ctx, os.DirFS(dir), Options{CheckDirty: gitStatus(dir), Services: []string{"api"}})
	if err != nil || len(p.Uncommitted) != 0 {
		t.Fatalf("api only: %v %v", p.Uncommitted, err)
	}
	p, err = Make(ctx, os.DirFS(dir), Options{CheckDirty: gitStatus(dir)})
	if err != nil {
		t.Fatal(err)
	}
	err = p.DirtyError()
	if err == nil || !strings.Contains(err.Error(), "modified  services/web/package.json") || !strings.Contains(err.Error(), "--allow-dirty") {
		t.Fatalf("DirtyError = %v", err)
	}
	for _, tag := range p.Tags() {
		if strings.HasSuffix(tag, DirtySuffix) {
			t.Errorf("a refused plan has dirty tags: %v", p.Tags())
		}
	}
	p, err = Make(ctx, os.DirFS(dir), Options{CheckDirty: gitStatus(dir), AllowDirty: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Dirty || p.DirtyError() != nil {
		t.Fatalf("allowed: dirty %t, err %v", p.Dirty, p.DirtyError())
	}
	for _, tag := range p.Tags() {
		if !strings.HasSuffix(tag, DirtySuffix) || tag == p.Commit {
			t.Errorf("tag %q of a dirty build does not end in %s", tag, DirtySuffix)
		}
	}
	if p.CommitTag() != p.Commit+DirtySuffix {
		t.Errorf("CommitTag = %q", p.CommitTag())
	}
	s, _ := p.Service("web")
	if p.Labels(s)[DirtyLabel] != "true" {
		t.Errorf("labels lack %s: %v", DirtyLabel, p.Labels(s))
	}
}

func TestMakeDirtyWithoutIndex(t *testing.T) {
	p, err := Make(context.Background(), repo(), Options{CheckDirty: gitStatus(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	if p.DirtyUnchecked == "" || p.DirtyError() != nil {
		t.Errorf("no index: unchecked %q, err %v", p.DirtyUnchecked, p.DirtyError())
	}
}

func TestContextExcludesSlipwaysOwnFiles(t *testing.T) {
	p := &Plan{Services: []Service{
		{Service: config.Service{Name: "api", Dir: "src/api", File: "src/api/service.yaml", Context: "src/api"}},
		{Service: config.Service{Name: "web", Dir: "src/web", Context: "."}},
		{Service: config.Service{Name: "worker", Dir: "src/worker", File: "src/worker/service.yaml", Context: "src/worker/app"}},
	}}
	for _, c := range []struct {
		svc  int
		want string
	}{
		{0, "service.yaml"},
		{1, ".slipway,slipway.yaml,src/api/service.yaml,src/worker/service.yaml"},
		{2, ""}, // the context lies below the service.yaml
	} {
		if got := strings.Join(p.ContextExcludes(p.Services[c.svc]), ","); got != c.want {
			t.Errorf("%s: excludes %q, want %q", p.Services[c.svc].Name, got, c.want)
		}
	}
	if got := ContextPath("src/x/src", "src/x/src/Dockerfile"); got != "Dockerfile" {
		t.Errorf("ContextPath = %q", got)
	}
	if got := ContextPath(".", "src/x/Dockerfile"); got != "src/x/Dockerfile" {
		t.Errorf("ContextPath(.) = %q", got)
	}
}

func TestDeclareArgs(t *testing.T) {
	in := "# syntax=docker/dockerfile:1\nARG BASE=golang:1.26-alpine\nFROM $BASE AS build\nRUN go build\nfrom \\\n  scratch\nCOPY --from=build /x /x"
	want := "# syntax=docker/dockerfile:1\nARG BASE=golang:1.26-alpine\nFROM $BASE AS build\nARG GOPROXY\nARG PIP_INDEX_URL\nRUN go build\nfrom \\\n  scratch\nARG GOPROXY\nARG PIP_INDEX_URL\nCOPY --from=build /x /x"
	if got := DeclareArgs(in, []string{"GOPROXY", "PIP_INDEX_URL"}); got != want {
		t.Errorf("DeclareArgs:\n%s\nwant:\n%s", got, want)
	}
	if got := DeclareArgs(in, nil); got != in {
		t.Error("no names changed the Dockerfile")
	}
}

func TestMountOnEveryRun(t *testing.T) {
	in := "FROM golang AS build\n" +
		"# RUN in a comment\n" +
		"RUN go mod download\n" +
		"  run --mount=type=cache,target=/c \\\n" +
		"    RUN_ME=1 make \\\n" +
		"    # a comment inside\n" +
		"    run all\n" +
		"RUN <<EOF\n" +
		"RUN is a word here\n" +
		"EOF\n" +
		"RUN echo $((1<<2))\n" +
		"COPY . .\n"
	want := "FROM golang AS build\n" +
		"# RUN in a comment\n" +
		"RUN M go mod download\n" +
		"  run M --mount=type=cache,target=/c \\\n" +
		"    RUN_ME=1 make \\\n" +
		"    # a comment inside\n" +
		"    run all\n" +
		"RUN M <<EOF\n" +
		"RUN is a word here\n" +
		"EOF\n" +
		"RUN M echo $((1<<2))\n" +
		"COPY . .\n"
	if got := MountOnEveryRun(in, "M"); got != want {
		t.Errorf("MountOnEveryRun:\n%s\nwant:\n%s", got, want)
	}
}

// With caCertificates, every build gets a generated Dockerfile whose RUN
// steps mount the bundle, and the variables that point tools at it.
func TestCACertificatesReachEveryBuild(t *testing.T) {
	fsys := repo()
	fsys["slipway.yaml"] = &fstest.MapFile{Data: []byte("name: shop\nregistry: {address: ghcr.io/acme}\ncaCertificates: [corp.pem]\n")}
	fsys["corp.pem"] = &fstest.MapFile{Data: []byte(testutil.NewCA(t, "corp").PEM)}
	fsys["services/api/Dockerfile"] = &fstest.MapFile{Data: []byte("FROM golang AS build\nRUN go build\nFROM scratch\n")}
	p, err := Make(context.Background(), fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The plan reaches the module as JSON, the bundle with it.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if q, err := Parse(b); err != nil || q.Project.CABundle == "" || q.Project.CABundle != p.Project.CABundle {
		t.Errorf("the bundle did not survive the plan's JSON (%v)", err)
	}
	api := p.Services[0]
	for _, want := range []string{"ARG SSL_CERT_FILE\n", "RUN " + CAMounts + " go build\n", "FROM scratch\nARG APT_CONFIG\n"} {
		if !strings.Contains(api.BuildDockerfile, want) {
			t.Errorf("the generated Dockerfile lacks %q:\n%s", want, api.BuildDockerfile)
		}
	}
	if api.EffectiveBuildArgs["SSL_CERT_FILE"] != cabundle.BundlePath || api.BuildDockerignore != GeneratedDockerfile+"\n.dockerignore\n" {
		t.Errorf("build args %v, .dockerignore %q", api.EffectiveBuildArgs, api.BuildDockerignore)
	}
	// The bundle's variables change the build, so its input digest.
	plain, err := Make(context.Background(), repo(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Services[0].BuildDockerfile != "" || plain.Services[0].Inputs.Digest == api.Inputs.Digest {
		t.Errorf("without caCertificates: generated Dockerfile %q, same input digest %v", plain.Services[0].BuildDockerfile, plain.Services[0].Inputs.Digest == api.Inputs.Digest)
	}
}
