package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
)

// The hardening tests put slipway in front of real servers run by the test
// on the engine's bridge, where the engine's containers reach them as a
// company's registry and Git server: go-containerregistry's registry behind
// basic auth and a fault-injecting proxy, and `git http-backend` behind a
// token check.

// bridgeAddr returns the host's address on the engine's bridge (dagger0).
func bridgeAddr(t testing.TB) string {
	t.Helper()
	ifc, err := net.InterfaceByName("dagger0")
	if err != nil {
		if os.Getenv("SLIPWAY_ENGINE") != "harness" {
			t.Skipf("needs the harness engine's bridge (dagger0) to serve a registry and a git server its containers reach; this engine is %s", os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST"))
		}
		t.Fatalf("the engine's bridge: %v", err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatalf("dagger0 has no IPv4 address")
	return ""
}

// serveOn serves h on ip (port chosen by the system) until the test ends
// and returns host:port.
func serveOn(t testing.TB, ip string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// companyRegistry is a registry as a company runs one: credentials
// required, a flaky load balancer in front. direct reaches the same storage
// without either, for the test's own checks.
type companyRegistry struct {
	host    string // what the pipeline is given (on the bridge)
	direct  string // 127.0.0.1, no auth, no faults
	faults  *registrytest.Injector
	auth    *registrytest.Auth
	counter *registrytest.Counter
}

func newCompanyRegistry(t testing.TB, ip, user, password string, rate float64) *companyRegistry {
	t.Helper()
	base := registrytest.Handler()
	c := &companyRegistry{counter: registrytest.Count(base)}
	c.auth = registrytest.BasicAuth(c.counter, user, password)
	c.faults = registrytest.Faults(c.auth, registrytest.FaultConfig{
		Rate: rate, RetryAfter: 1, SlowDelay: 1500 * time.Millisecond, Seed: uint64(time.Now().UnixNano()),
		Kinds: []registrytest.Fault{registrytest.Unavailable, registrytest.TooManyRequests, registrytest.Reset, registrytest.Slow},
	})
	c.host = serveOn(t, ip, c.faults)
	c.direct = registrytest.Serve(t, base)
	return c
}

// ref rewrites a reference from the pipeline's address to the direct one.
func (c *companyRegistry) ref(s string) string { return strings.Replace(s, c.host, c.direct, 1) }

// repoPath is a repository's path inside the registry (as the counter keys it).
func (c *companyRegistry) repoPath(repository string) string {
	return strings.TrimPrefix(repository, c.host+"/")
}

// gitServer is a GitOps repository served by `git http-backend`, accepting
// only the token given (as GitHub does: any user name, the token as
// password).
type gitServer struct {
	url  string
	bare string
}

func newGitServer(t testing.TB, ip, token, seedDeploy string) *gitServer {
	return newGitServerAt(t, ip, token, seedDeploy, "gitops.git")
}

// newGitServerAt serves the repository at a path (such as
// acme/gitops.git, the owner/name a forge's API is asked about).
func newGitServerAt(t testing.TB, ip, token, seedDeploy, repoPath string) *gitServer {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, filepath.FromSlash(repoPath))
	gitIn(t, "", "init", "-q", "--bare", "-b", "main", bare)
	gitIn(t, bare, "config", "http.receivepack", "true")
	work := t.TempDir()
	gitIn(t, work, "init", "-q", "-b", "main")
	copyTree(t, seedDeploy, filepath.Join(work, "deploy"))
	gitIn(t, work, "add", "-A")
	gitIn(t, work, "commit", "-q", "-m", "seed the GitOps repository")
	gitIn(t, work, "push", "-q", bare, "main")

	execPath := strings.TrimSpace(gitIn(t, "", "--exec-path"))
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitops"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
	return &gitServer{url: "http://" + serveOn(t, ip, h) + "/" + repoPath, bare: bare}
}

func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// commits lists the commits of main, newest first.
func (g *gitServer) commits(t testing.TB) []string {
	return strings.Fields(gitIn(t, g.bare, "rev-list", "main"))
}

// file returns a file of main.
func (g *gitServer) file(t testing.TB, rel string) string {
	return gitIn(t, g.bare, "show", "main:"+rel)
}

// addEnvironments declares environments in the fixture's slipway.yaml,
// each with an overlay copied from dev's.
func (r *slipwayRun) addEnvironments(envs ...string) {
	r.t.Helper()
	dev, err := os.ReadFile(filepath.Join(r.fixture, "deploy/overlays/dev/kustomization.yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	var decl strings.Builder
	for _, e := range envs {
		fmt.Fprintf(&decl, "  - name: %s\n    policy: {failOn: HIGH}\n", e)
		dir := filepath.Join(r.fixture, "deploy/overlays", e)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.ReplaceAll(string(dev), "dev", e)), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	// After the last environment: the next top-level key.
	r.edit("slipway.yaml", func(s string) string {
		loc := regexp.MustCompile(`(?s)\nenvironments:\n.*?\n\n?[a-z]`).FindStringIndex(s)
		if loc == nil {
			r.t.Fatalf("no environments list in slipway.yaml:\n%s", s)
		}
		end := loc[1] - 1
		if s[end-2:end] == "\n\n" {
			end--
		}
		return s[:end] + decl.String() + s[end:]
	})
}

// useCompanyServers points the fixture's slipway.yaml at the registry and
// the Git server.
func (r *slipwayRun) useCompanyServers(reg *companyRegistry, git *gitServer) {
	r.t.Helper()
	r.edit("slipway.yaml", func(s string) string {
		s = strings.Replace(s, `  address: ""`, fmt.Sprintf("  address: %q\n  insecure: [%q]", reg.host, reg.host), 1)
		return strings.Replace(s, `  repo: ""`, fmt.Sprintf("  repo: %q", git.url), 1)
	})
	r.commit("use the company registry and GitOps repository")
}

// registryUser is the registry user name (not a secret).
const registryUser = "ci-bot"

// secretArgs are the module's credential arguments: the secrets are read
// from the environment by the dagger CLI (never in argv).
func secretArgs() []string {
	return []string{"--registry-username", registryUser, "--registry-password", "env://SLIPWAY_E2E_REGISTRY_PASSWORD",
		"--gitops-token", "env://SLIPWAY_E2E_GITOPS_TOKEN"}
}

// TestModuleUnderRegistryFaults runs a full `ci` and a promotion through
// the real engine against a registry that needs credentials and whose
// front end fails 30 % of requests (503, 429 with Retry-After, TCP resets,
// slow answers). Every image must land exactly once, signed once, attested
// once per kind, tagged and deployed; the report must match the registry.
// Then wrong credentials fail fast, with a clear message and nothing
// written; and no secret appears anywhere the runs left traces.
func TestModuleUnderRegistryFaults(t *testing.T) {
	r := newSlipwayRun(t)
	stamp := time.Now().UnixNano()
	user, password, token := registryUser, fmt.Sprintf("regpw-%x-do-not-leak", stamp), fmt.Sprintf("gitops-token-%x-do-not-leak", stamp)
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
	ip := bridgeAddr(t)
	reg := newCompanyRegistry(t, ip, user, password, 0.3)
	git := newGitServer(t, ip, token, filepath.Join(r.fixture, "deploy"))
	r.useCompanyServers(reg, git)
	commit := r.git("rev-parse", "HEAD")
	since := time.Now()

	// 1. ci under faults.
	out := r.mustCall(append(secretArgs(), "ci")...)
	t.Logf("ci under faults:\n%s", tail(out, 12))
	injected := reg.faults.Injected()
	t.Logf("faults injected during ci: %v of %d requests", injected, reg.faults.Requests())
	for _, k := range []registrytest.Fault{registrytest.Unavailable, registrytest.TooManyRequests, registrytest.Reset, registrytest.Slow} {
		if injected[k] == 0 {
			t.Errorf("no %s fault was injected: the run did not meet every kind of fault", k)
		}
	}
	rep := r.lastReport()
	if !rep.OK() || rep.Count(report.Built) != 3 || rep.Commit != commit {
		t.Fatalf("ci under faults: ok=%v, %d built, commit %s:\n%s", rep.OK(), rep.Count(report.Built), rep.Commit, rep.Text())
	}
	devDigests := map[string]string{}
	for _, s := range rep.Services {
		devDigests[s.Name] = s.Digest
		reg.landedOnce(t, s, commit)
	}
	commits := git.commits(t)
	if len(commits) != 2 {
		t.Fatalf("GitOps repository has %d commits after ci, want 2 (seed + dev)", len(commits))
	}
	dev := git.file(t, "deploy/overlays/dev/kustomization.yaml")
	for name, d := range devDigests {
		if !strings.Contains(dev, d) {
			t.Errorf("dev does not pin %s at %s:\n%s", name, d, dev)
		}
	}

	// 2. Promotion under faults: signatures verified, no rebuild, the same
	//    digests in staging.
	r.mustCall(append(secretArgs(), "promote", "--from", "dev", "--to", "staging")...)
	staging := git.file(t, "deploy/overlays/staging/kustomization.yaml")
	for name, d := range devDigests {
		if !strings.Contains(staging, d) {
			t.Errorf("staging does not pin %s at %s:\n%s", name, d, staging)
		}
	}
	if n := len(git.commits(t)); n != 3 {
		t.Errorf("GitOps repository has %d commits after the promotion, want 3", n)
	}

	// 3. Wrong credentials: the run fails fast, names the registry and the
	//    cause, and writes nothing.
	reg.faults.SetEnabled(false)
	r.edit("services/catalog/catalog/app.py", func(s string) string {
		return strings.Replace(s, `server_version = "catalog/0.1"`, `server_version = "catalog/0.3"`, 1)
	})
	r.commit("catalog: a change to publish")
	before, putsBefore := reg.counter.Stats(), reg.counter.Requests("PUT", "/manifests/")
	deniedBefore := reg.auth.Denied()
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password+"-wrong")
	out, err := r.call(append(secretArgs(), "ci")...)
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
	if err == nil {
		t.Fatalf("ci passed with a wrong registry password:\n%s", tail(out, 30))
	}
	if !strings.Contains(out, reg.host) || !regexp.MustCompile(`(?i)unauthori[sz]ed|credentials|401`).MatchString(out) {
		t.Errorf("the failure does not name the registry and the refused credentials:\n%s", tail(out, 40))
	}
	denied := reg.auth.Denied() - deniedBefore
	after := reg.counter.Stats()
	t.Logf("wrong credentials: %d requests refused, %d requests reached the registry", denied, after.Requests-before.Requests)
	if denied == 0 || denied > 6 {
		t.Errorf("wrong credentials were refused %d times: a 401 must not be retried", denied)
	}
	if puts := reg.counter.Requests("PUT", "/manifests/"); puts != putsBefore || after.UploadsBegun != before.UploadsBegun {
		t.Errorf("a run with wrong credentials wrote to the registry: %+v → %+v", before, after)
	}
	if n := len(git.commits(t)); n != 3 {
		t.Errorf("a run with wrong credentials changed the GitOps repository (%d commits)", n)
	}

	// 4. No secret anywhere.
	r.noSecretsIn(reg, git, since, map[string]string{"registry password": password, "GitOps token": token})
}

// landedOnce checks one published service in the registry: the commit tag
// resolves to the reported digest, the image manifest and each tag were
// written once, one signature, one attestation of each kind.
func (c *companyRegistry) landedOnce(t *testing.T, s report.Service, commit string) {
	t.Helper()
	repo := c.repoPath(s.Repository)
	if d, err := crane.Digest(c.ref(s.Repository) + ":" + commit); err != nil || d != s.Digest {
		t.Errorf("%s: tag %s resolves to %s (%v), report says %s", s.Name, commit, d, err, s.Digest)
	}
	if n := c.counter.ManifestPuts(repo, s.Digest); n != 1 {
		t.Errorf("%s: the image manifest was written %d times, want 1", s.Name, n)
	}
	if n := c.counter.ManifestPuts(repo, commit); n != 1 {
		t.Errorf("%s: the commit tag was written %d times, want 1", s.Name, n)
	}
	sigTag := strings.Replace(s.Digest, ":", "-", 1) + ".sig"
	if n := len(c.layers(t, s.Repository, sigTag)); n != 1 {
		t.Errorf("%s: %d signatures, want 1", s.Name, n)
	}
	kinds := map[string]int{}
	for _, l := range c.layers(t, s.Repository, strings.Replace(s.Digest, ":", "-", 1)+".att") {
		kinds[l.Annotations["predicateType"]]++
	}
	if len(kinds) < 2 {
		t.Errorf("%s: attestations %v, want provenance and test results at least", s.Name, kinds)
	}
	for k, n := range kinds {
		if n != 1 {
			t.Errorf("%s: %d attestations of type %s, want 1", s.Name, n, k)
		}
	}
}

type layerDesc struct {
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

func (c *companyRegistry) layers(t *testing.T, repository, tag string) []layerDesc {
	t.Helper()
	b, err := crane.Manifest(c.ref(repository) + ":" + tag)
	if err != nil {
		t.Errorf("reading %s:%s: %v", repository, tag, err)
		return nil
	}
	var m struct {
		Layers []layerDesc `json:"layers"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

// noSecretsIn searches for the secrets, and the signing key's password and
// key body: everything the module printed, the last report, the GitOps
// repository's whole history, every published image's config and
// filesystem, every signature and attestation, and every file the engine
// wrote since the test began (cache volumes and container filesystems).
func (r *slipwayRun) noSecretsIn(reg *companyRegistry, git *gitServer, since time.Time, secrets map[string]string) {
	r.t.Helper()
	key, err := os.ReadFile(r.keyFile)
	if err != nil {
		r.t.Fatal(err)
	}
	secrets["signing password"] = r.password
	// A line from the middle of the key's body: its first lines encode the
	// same JSON prefix in every cosign key ({"kdf":{"name":"scrypt",...),
	// which other keys (cosign's own test keys, among others) share.
	lines := strings.Split(strings.TrimSpace(string(key)), "\n")
	secrets["private key"] = lines[len(lines)/2]
	if len(lines) < 6 || len(secrets["private key"]) < 40 {
		r.t.Fatalf("unexpected key layout:\n%d lines", len(lines))
	}
	places := map[string]string{"module output": r.seen.String()}
	rep, _ := r.lastReport().JSON()
	places["report"] = string(rep)
	places["GitOps history"] = gitIn(r.t, git.bare, "log", "-p", "--all")
	repos, err := crane.Catalog(reg.direct)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, repo := range repos {
		tags, err := crane.ListTags(reg.direct + "/" + repo)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, tag := range tags {
			ref := reg.direct + "/" + repo + ":" + tag
			img, err := crane.Pull(ref)
			if err != nil {
				r.t.Fatal(err)
			}
			cfg, _ := img.RawConfigFile()
			places["config of "+ref] = string(cfg)
			layers, err := img.Layers()
			if err != nil {
				r.t.Fatal(err)
			}
			var all bytes.Buffer
			for _, l := range layers {
				rc, err := l.Uncompressed()
				if err != nil {
					r.t.Fatal(err)
				}
				all.ReadFrom(rc)
				rc.Close()
			}
			places["layers of "+ref] = all.String()
		}
	}
	files, scanned := r.engineFilesSince(since, secrets)
	for what, secret := range secrets {
		for where, text := range places {
			if strings.Contains(text, secret) {
				r.t.Errorf("the %s appears in the %s", what, where)
			}
		}
		for _, f := range files[what] {
			r.t.Errorf("the %s appears in the engine's file %s", what, f)
		}
	}
	r.t.Logf("searched %d places and %d files the engine wrote for %d secrets", len(places), scanned, len(secrets))
}

// engineFilesSince searches the regular files under the engine's state
// directory changed since t (at most 64 MiB each) for the secrets.
func (r *slipwayRun) engineFilesSince(since time.Time, secrets map[string]string) (map[string][]string, int) {
	state := os.Getenv("SLIPWAY_ENGINE_STATE")
	if state == "" {
		state = "/var/lib/slipway-engine"
	}
	hits := map[string][]string{}
	scanned := 0
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().Before(since) || info.Size() > 64<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		scanned++
		for what, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				hits[what] = append(hits[what], p)
			}
		}
		return nil
	})
	return hits, scanned
}

// TestModuleConcurrentDeploys starts ten `deploy` and `promote` runs at
// once, each for its own environment, against one branch of a real Git
// server: all ten land, none is lost, and no commit is empty.
func TestModuleConcurrentDeploys(t *testing.T) {
	r := newSlipwayRun(t)
	stamp := time.Now().UnixNano()
	user, password, token := registryUser, fmt.Sprintf("regpw-%x", stamp), fmt.Sprintf("gitops-token-%x", stamp)
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
	var envs []string
	for i := 1; i <= 10; i++ {
		envs = append(envs, fmt.Sprintf("c%02d", i))
	}
	r.addEnvironments(envs...)
	ip := bridgeAddr(t)
	reg := newCompanyRegistry(t, ip, user, password, 0)
	git := newGitServer(t, ip, token, filepath.Join(r.fixture, "deploy"))
	r.useCompanyServers(reg, git)
	r.mustCall(append(secretArgs(), "ci")...)
	rep := r.lastReport()
	if !rep.OK() {
		t.Fatalf("ci:\n%s", rep.Text())
	}
	digests := map[string]string{}
	for _, s := range rep.Services {
		digests[s.Name] = s.Digest
	}
	seed := len(git.commits(t))

	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	outs := make([]string, len(envs))
	for i, env := range envs {
		args := append(secretArgs(), "deploy", "--env", env)
		if i%2 == 1 {
			args = append(secretArgs(), "promote", "--from", "dev", "--to", env)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = r.call(args...)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s into %s: %v\n%s", map[bool]string{true: "promote", false: "deploy"}[i%2 == 1], envs[i], err, tail(outs[i], 30))
		}
	}
	commits := git.commits(t)
	if got := len(commits) - seed; got != len(envs) {
		t.Errorf("%d commits landed for %d concurrent runs", got, len(envs))
	}
	for _, c := range commits[:len(commits)-seed] {
		if files := strings.TrimSpace(gitIn(t, git.bare, "diff-tree", "--no-commit-id", "--name-only", "-r", c)); files == "" {
			t.Errorf("commit %s is empty", c)
		}
	}
	for _, env := range envs {
		overlay := git.file(t, "deploy/overlays/"+env+"/kustomization.yaml")
		for name, d := range digests {
			if !strings.Contains(overlay, d) {
				t.Errorf("%s does not pin %s at %s (a run was lost):\n%s", env, name, d, overlay)
			}
		}
	}
	// The reports of the concurrent runs were saved whole: the last of each
	// kind parses and tells of one environment.
	for _, kind := range []report.Kind{report.Deploy, report.Promote} {
		if rep := r.lastReportOf(kind); rep.Kind != kind || len(rep.Deployments) != 1 || !rep.OK() {
			t.Errorf("last %s report: %+v", kind, rep)
		}
	}
	t.Logf("%d concurrent runs, %d commits, history:\n%s", len(envs), len(commits)-seed, gitIn(t, git.bare, "log", "--oneline", "main"))
}
