package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/vuln/vulntest"
)

// slipwayRun drives the slipway module with the dagger CLI, as a user does,
// against a fixture repository: a copy of the sample monorepo with its own
// git history, so that commits can be made and the real tree stays clean.
type slipwayRun struct {
	t       testing.TB
	cli     string
	module  string // the slipway repository (dagger.json)
	fixture string // the repository being built
	project string // unique project name: fresh registry repositories and GitOps repository
	keyFile string
	pubFile string
	// password is the signing key's password: distinctive, so that a leak
	// anywhere can be searched for.
	password string
	// mu guards seen and stdout: calls may run concurrently.
	mu sync.Mutex
	// seen collects everything the module printed, for the secrets check.
	seen bytes.Buffer
	// stdout is the standard output of the last call (the function's result).
	stdout string
	// moduleArgs are further module (constructor) arguments of every call.
	moduleArgs []string
	// keyless: calls get no signing key (they sign with an OIDC token
	// given in moduleArgs).
	keyless bool
}

const cosignPasswordEnv = "SLIPWAY_E2E_COSIGN_PASSWORD"

// classicFormat is the line newSlipwayRunOf adds to the sample's signing
// section.
const classicFormat = "  format: classic   # e2e: verified with the stock cosign v2.6.5 CLI\n"

func newSlipwayRun(t testing.TB) *slipwayRun {
	t.Helper()
	return newSlipwayRunOf(t, testutil.RepoRoot(t), "services", "deploy", "slipway.yaml")
}

// newSlipwayRunOf is newSlipwayRun over another monorepo: the given
// entries of dir (all of it without any), committed as a fresh repository.
// Its slipway.yaml must say name: shop and prefix: shop, which become the
// run's own project name.
func newSlipwayRunOf(t testing.TB, dir string, entries ...string) *slipwayRun {
	t.Helper()
	cli := daggerCLI(t)
	root := testutil.RepoRoot(t)
	r := &slipwayRun{t: t, cli: cli, module: root, fixture: t.TempDir(), project: fmt.Sprintf("e2e-%d", time.Now().UnixNano())}
	if len(entries) == 0 {
		copyTree(t, dir, r.fixture)
	}
	for _, p := range entries {
		copyTree(t, filepath.Join(dir, p), filepath.Join(r.fixture, p))
	}
	cfg := filepath.Join(r.fixture, "slipway.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("name: shop\n"), []byte("name: "+r.project+"\n"), 1)
	b = bytes.Replace(b, []byte("prefix: shop\n"), []byte("prefix: "+r.project+"\n"), 1)
	// The engine's containers have no outside network, so ci cannot
	// download a vulnerability database: the sample's dev asks for no scan
	// (no policy.failOn written), so runs without --vuln-db pass with images
	// "not scanned" (TestModuleCIWithoutADatabaseFailsTheGate writes one).
	if bytes.Contains(b, []byte("failOn: CRITICAL}\n  - name: staging")) {
		t.Fatalf("the sample's dev environment asks for a scan: runs here have no vulnerability database:\n%s", b)
	}
	// The sample's tests verify what ci signs with the stock cosign v2.6.5
	// CLI, as the verifiers still on cosign v2 do: they sign in the classic
	// format. The layouts fixture (no signing section) and the keyless
	// test use bundles, the default.
	b = bytes.Replace(b, []byte("\nsigning:\n"), []byte("\nsigning:\n"+classicFormat), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	r.commit("sample monorepo")

	// A cosign key pair, handed to the module as secrets (file and env).
	r.password = fmt.Sprintf("pw-%x-do-not-leak", time.Now().UnixNano())
	t.Setenv(cosignPasswordEnv, r.password)
	kp, err := signing.GenerateKeyPair([]byte(r.password))
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	r.keyFile, r.pubFile = filepath.Join(keys, "cosign.key"), filepath.Join(keys, "cosign.pub")
	os.WriteFile(r.keyFile, kp.PrivateKeyPEM, 0o600)
	os.WriteFile(r.pubFile, kp.PublicKeyPEM, 0o644)
	return r
}

func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (r *slipwayRun) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.fixture
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits everything and returns the new commit SHA.
func (r *slipwayRun) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// edit rewrites a fixture file with fn.
func (r *slipwayRun) edit(rel string, fn func(string) string) {
	r.t.Helper()
	p := filepath.Join(r.fixture, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(fn(string(b))), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// call runs `dagger call` with the module and the fixture as source; the
// signing key is given unless the run is keyless. It returns stdout+stderr
// and the error.
func (r *slipwayRun) call(args ...string) (string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 30*time.Minute)
	defer cancel()
	full := []string{"call", "--progress=plain", "-m", r.module, "--source", r.fixture}
	if !r.keyless {
		full = append(full, "--signing-key", "file://"+r.keyFile, "--signing-password", "env://"+cosignPasswordEnv)
	}
	full = append(append(append(full, workerArgs()...), r.moduleArgs...), args...)
	cmd := exec.CommandContext(ctx, r.cli, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.t.Logf("dagger call %s: %s (err=%v)", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), err)
	out := stdout.String() + "\n" + stderr.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen.WriteString(out)
	r.stdout = stdout.String()
	return out, err
}

// workerArgs run the module's worker from the prebuilt image the harness
// published for this checkout (hack/worker.sh; SLIPWAY_WORKER_IMAGE), as
// users run the released one; without it the worker is compiled from
// source. The module uses the image only if it was built from exactly this
// source.
func workerArgs() []string {
	if ref := os.Getenv("SLIPWAY_WORKER_IMAGE"); ref != "" {
		return []string{"--worker-image", ref}
	}
	return nil
}

func (r *slipwayRun) mustCall(args ...string) string {
	r.t.Helper()
	out, err := r.call(args...)
	if err != nil {
		r.t.Fatalf("dagger call %s: %v\n%s", strings.Join(args, " "), err, tail(out, 80))
	}
	return out
}

// lastReport reads the report of the last ci run from the engine.
func (r *slipwayRun) lastReport() *report.Report {
	r.t.Helper()
	return r.lastReportOf(report.CI)
}

// lastReportOf reads the report of the last run of a kind (ci, deploy,
// promote, ...).
func (r *slipwayRun) lastReportOf(kind report.Kind) *report.Report {
	r.t.Helper()
	dir := r.t.TempDir()
	r.mustCall("last-report", "--kind", string(kind), "--format", "json", "export", "--path", filepath.Join(dir, "report.json"))
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	rep, err := report.Parse(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return rep
}

// gitopsState returns the throwaway GitOps repository's commit count and
// the dev overlay.
func (r *slipwayRun) gitopsState() (commits int, dev string) {
	r.t.Helper()
	return r.overlay("dev")
}

// exposeRegistry makes the embedded registry reachable on the host, as a
// user would to look inside (`dagger call embedded-registry up --ports`),
// and returns its address. The tunnel is watched: see registryTunnel.
func (r *slipwayRun) exposeRegistry() string {
	r.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append(append([]string{"call", "--progress=plain", "-m", r.module, "--source", r.fixture},
		workerArgs()...), "embedded-registry", "up", "--ports", fmt.Sprintf("%d:5000", port))
	tn := &registryTunnel{t: r.t, cli: r.cli, args: args, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := tn.start(); err != nil {
		r.t.Fatal(err)
	}
	tunnels.Store(tn.addr, tn)
	r.t.Cleanup(func() { tunnels.Delete(tn.addr); tn.stop() })
	return tn.addr
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func byName(rep *report.Report) map[string]report.Service {
	out := map[string]report.Service{}
	for _, s := range rep.Services {
		out[s.Name] = s
	}
	return out
}

// TestModuleCI is the product end to end: `dagger call ci` on the sample
// monorepo through a real engine, with the embedded registry and the
// throwaway GitOps repository, then reruns, a one-service change and a
// failing test.
func TestModuleCI(t *testing.T) {
	r := newSlipwayRun(t)
	first := r.git("rev-parse", "HEAD")

	// 1. A cold run publishes three signed, labelled images and makes one
	//    GitOps commit for dev pointing at exactly those digests.
	out := r.mustCall("ci")
	t.Logf("first ci:\n%s", tail(out, 20))
	rep := r.lastReport()
	if rep.Commit != first || rep.Count(report.Built) != 3 || !rep.OK() {
		t.Fatalf("first run: commit %s, %d built, ok=%v:\n%s", rep.Commit, rep.Count(report.Built), rep.OK(), rep.Text())
	}
	commits, dev := r.gitopsState()
	if commits != 2 {
		t.Fatalf("GitOps repository has %d commits after the first run, want 2 (seed + dev)", commits)
	}
	reg := r.exposeRegistry()
	digests := map[string]string{}
	for _, s := range rep.Services {
		digests[s.Name] = s.Digest
		if s.Signature == "" || s.UnitTests != "passed" || s.IntegrationTests != "passed" || s.Smoke != "passed" ||
			!strings.Contains(strings.Join(s.Attestations, " "), "https://cyclonedx.org/bom") {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if !strings.Contains(dev, s.Digest) {
			t.Errorf("dev overlay does not pin %s at %s:\n%s", s.Name, s.Digest, dev)
		}
		repo := strings.Replace(s.Repository, "registry:5000", reg, 1)
		d, err := crane.Digest(repo + ":" + first)
		if err != nil || d != s.Digest {
			t.Errorf("%s:%s resolves to %s (%v), want %s", repo, first, d, err, s.Digest)
		}
		cfgJSON, err := crane.Config(repo + "@" + s.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Config struct {
				Labels map[string]string
				User   string
			}
		}
		json.Unmarshal(cfgJSON, &cfg)
		if cfg.Config.Labels["org.opencontainers.image.revision"] != first || cfg.Config.Labels["dev.slipway.input-digest"] != s.InputDigest || cfg.Config.User == "" {
			t.Errorf("%s: labels %v, user %q", s.Name, cfg.Config.Labels, cfg.Config.User)
		}
		// The stock cosign CLI verifies the signature.
		cosign := exec.Command(testutil.Tool(t, "cosign"), "verify", "--key", r.pubFile, "--insecure-ignore-tlog=true",
			"--allow-http-registry", "--allow-insecure-registry", repo+"@"+s.Digest)
		cosign.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
		if b, err := cosign.CombinedOutput(); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", s.Name, err, b)
		}
		// It also verifies the CycloneDX SBOM attestation, which describes
		// exactly this digest and lists the image's packages.
		r.checkSBOM(repo, s.Name, s.Digest)
		// And the SLSA provenance, which records the commit and the base
		// image at the digest the build used.
		r.checkProvenance(repo, s.Name, s.Digest, first)
	}
	// `dagger call sbom` gives the same document without publishing.
	sbomFile := filepath.Join(t.TempDir(), "orders.cdx.json")
	r.mustCall("sbom", "--service", "orders", "export", "--path", sbomFile)
	if b, err := os.ReadFile(sbomFile); err != nil || !strings.Contains(string(b), `"purl": "pkg:golang/github.com/lib/pq@v`) {
		t.Errorf("dagger call sbom --service orders: %v\n%.2000s", err, b)
	}

	// 2. Nothing changed: nothing is rebuilt or retested, no GitOps commit.
	r.mustCall("ci")
	rep = r.lastReport()
	if rep.Count(report.Built) != 0 || rep.Count(report.Reused) != 3 {
		t.Fatalf("rerun: %d built, %d reused:\n%s", rep.Count(report.Built), rep.Count(report.Reused), rep.Text())
	}
	for _, s := range rep.Services {
		if s.Digest != digests[s.Name] || strings.HasPrefix(s.UnitTests, "passed") {
			t.Errorf("rerun %s: digest %s (was %s), tests %q", s.Name, s.Digest, digests[s.Name], s.UnitTests)
		}
	}
	if c, _ := r.gitopsState(); c != commits {
		t.Fatalf("rerun made a GitOps commit (%d commits, want %d)", c, commits)
	}

	// 3. One service changes: only it is rebuilt and retested; the others keep
	//    their digests and are tagged for the new commit.
	r.edit("services/catalog/catalog/app.py", func(s string) string {
		return strings.Replace(s, `server_version = "catalog/0.1"`, `server_version = "catalog/0.2"`, 1)
	})
	second := r.commit("catalog: bump the server version")
	r.mustCall("ci")
	rep = r.lastReport()
	got := byName(rep)
	if got["catalog"].Status != report.Built || got["orders"].Status != report.Reused || got["notify"].Status != report.Reused {
		t.Fatalf("one-service change:\n%s", rep.Text())
	}
	if got["catalog"].Digest == digests["catalog"] || got["orders"].Digest != digests["orders"] || got["notify"].Digest != digests["notify"] {
		t.Fatalf("digests after a catalog change: %+v (before %v)", got, digests)
	}
	if d, err := crane.Digest(strings.Replace(got["orders"].Repository, "registry:5000", reg, 1) + ":" + second); err != nil || d != digests["orders"] {
		t.Errorf("orders was not tagged for the new commit: %s %v", d, err)
	}
	c3, dev3 := r.gitopsState()
	if c3 != commits+1 || !strings.Contains(dev3, got["catalog"].Digest) {
		t.Fatalf("GitOps after the catalog change: %d commits (want %d), dev:\n%s", c3, commits+1, dev3)
	}
	// The services whose digest did not change keep their lines (the first
	// commit's tag): nothing redeploys them.
	for _, svc := range []string{"orders", "notify"} {
		if want := "newTag: " + first + "\n    digest: " + digests[svc]; !strings.Contains(dev3, want) {
			t.Errorf("dev's %s entry changed although its digest did not (want %q):\n%s", svc, want, dev3)
		}
	}
	if want := "newTag: " + second + "\n    digest: " + got["catalog"].Digest; !strings.Contains(dev3, want) {
		t.Errorf("dev's catalog entry is not the new build (want %q):\n%s", want, dev3)
	}

	// 4. A failing unit test fails ci, names the service and the test, and
	//    nothing of that service is pushed or deployed.
	r.edit("services/notify/test/app.test.js", func(s string) string {
		return strings.Replace(s, "assert.strictEqual(validate({ channel: 'push', to: 'device-1', message: 'ok' }), null);",
			"assert.strictEqual(validate({ channel: 'push', to: 'device-1', message: 'ok' }), 'broken on purpose');", 1)
	})
	third := r.commit("notify: a test that fails")
	out, err := r.call("ci")
	if err == nil {
		t.Fatalf("ci passed with a failing unit test:\n%s", tail(out, 40))
	}
	if !strings.Contains(out, "notify") || !strings.Contains(out, "validate accepts a well-formed notification") {
		t.Errorf("the failure does not name the service and the test:\n%s", tail(out, 60))
	}
	rep = r.lastReport()
	if n := byName(rep)["notify"]; n.Status != report.Failed || n.Stage != "test" || n.Digest != "" {
		t.Errorf("notify after a failing test: %+v", n)
	}
	if !untagged(t, strings.Replace(got["notify"].Repository, "registry:5000", reg, 1)+":"+third) {
		t.Error("notify was tagged for a commit whose tests fail")
	}
	if _, devNow := r.gitopsState(); !strings.Contains(devNow, digests["notify"]) {
		t.Errorf("dev no longer runs the last good notify image:\n%s", devNow)
	}
	r.noLeaks(reg)
}

// sbomWants are package URL prefixes each sample image's SBOM must list:
// the Go module the orders binary links, the Debian packages of the Python
// and Node images, Debian's pip as a Python distribution and the npm
// packages under node_modules that npm ships with.
var sbomWants = map[string][]string{
	"orders":  {"pkg:golang/github.com/lib/pq@v", "pkg:golang/stdlib@"},
	"catalog": {"pkg:deb/debian/python3.11@", "pkg:deb/debian/libc6@", "pkg:pypi/pip@"},
	"notify":  {"pkg:deb/debian/nodejs@", "pkg:deb/debian/libc6@", "pkg:npm/"},
}

// baseImages are the base images of the sample services, as the SLSA
// provenance records them (package URLs) and as the local mirror serves them.
var baseImages = map[string][2]string{
	"orders":  {"pkg:docker/golang@1.26-alpine", "library/golang:1.26-alpine"},
	"catalog": {"pkg:docker/python@3.11-slim-bookworm", "library/python:3.11-slim-bookworm"},
	"notify":  {"pkg:docker/node@18-bookworm-slim", "library/node:18-bookworm-slim"},
}

// provenanceDep is one resolved dependency of a SLSA provenance.
type provenanceDep struct {
	URI    string
	Digest map[string]string
}

// provenanceOf verifies the image's SLSA provenance with the stock cosign
// CLI and returns its resolved dependencies (nil, with an error reported,
// when it does not verify).
func (r *slipwayRun) provenanceOf(repo, service, digest string) []provenanceDep {
	r.t.Helper()
	cmd := exec.Command(testutil.Tool(r.t, "cosign"), "verify-attestation", "--key", r.pubFile, "--insecure-ignore-tlog=true",
		"--type", "slsaprovenance1", "--allow-http-registry", "--allow-insecure-registry", repo+"@"+digest)
	cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Errorf("cosign verify-attestation --type slsaprovenance1 %s: %v\n%s", service, err, stderr.String())
		return nil
	}
	var env struct{ Payload []byte }
	if err := json.Unmarshal(bytes.Split(bytes.TrimSpace(out), []byte("\n"))[0], &env); err != nil {
		r.t.Fatalf("cosign's output for %s: %v\n%s", service, err, out)
	}
	var st struct {
		Predicate struct {
			BuildDefinition struct {
				ResolvedDependencies []provenanceDep
			}
		}
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		r.t.Fatalf("the statement of %s: %v", service, err)
	}
	return st.Predicate.BuildDefinition.ResolvedDependencies
}

// checkProvenance verifies the image's SLSA provenance with the stock
// cosign CLI and checks that it names the commit built and the base image
// at the digest the engine resolved it to (the local mirror's).
func (r *slipwayRun) checkProvenance(repo, service, digest, commit string) {
	r.t.Helper()
	deps := r.provenanceOf(repo, service, digest)
	if deps == nil {
		return
	}
	want := baseImages[service]
	mirrored, err := crane.Digest(os.Getenv("SLIPWAY_LOCAL_REGISTRY") + "/" + want[1])
	if err != nil {
		r.t.Fatalf("the mirror's %s: %v", want[1], err)
	}
	var gotCommit, gotBase bool
	for _, d := range deps {
		gotCommit = gotCommit || d.Digest["gitCommit"] == commit
		gotBase = gotBase || (d.URI == want[0] && "sha256:"+strings.TrimPrefix(d.Digest["sha256"], "sha256:") == mirrored)
	}
	if !gotCommit || !gotBase {
		r.t.Errorf("the provenance of %s does not record commit %s and %s at %s: %+v", service, commit, want[0], mirrored, deps)
	}
}

// checkSBOM verifies the image's CycloneDX attestation with the stock
// cosign CLI and checks what the SBOM lists.
func (r *slipwayRun) checkSBOM(repo, service, digest string) {
	r.t.Helper()
	cmd := exec.Command(testutil.Tool(r.t, "cosign"), "verify-attestation", "--key", r.pubFile, "--insecure-ignore-tlog=true",
		"--type", "cyclonedx", "--allow-http-registry", "--allow-insecure-registry", repo+"@"+digest)
	cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Errorf("cosign verify-attestation --type cyclonedx %s: %v\n%s", service, err, stderr.String())
		return
	}
	var env struct{ Payload []byte }
	if err := json.Unmarshal(bytes.Split(bytes.TrimSpace(out), []byte("\n"))[0], &env); err != nil {
		r.t.Fatalf("cosign's output for %s: %v\n%s", service, err, out)
	}
	var st struct {
		PredicateType string
		Predicate     struct {
			BOMFormat, SpecVersion string
			Metadata               struct {
				Component struct{ Version, PURL string }
			}
			Components []struct{ PURL string }
		}
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		r.t.Fatalf("the statement of %s: %v", service, err)
	}
	p := st.Predicate
	purls := make([]string, 0, len(p.Components))
	kinds := map[string]int{}
	for _, c := range p.Components {
		purls = append(purls, c.PURL)
		if k, _, ok := strings.Cut(strings.TrimPrefix(c.PURL, "pkg:"), "/"); ok {
			kinds[k]++
		}
	}
	all := strings.Join(purls, "\n")
	r.t.Logf("SBOM of %s@%s: %d components %v, statement %d bytes", service, digest, len(p.Components), kinds, len(env.Payload))
	if st.PredicateType != "https://cyclonedx.org/bom" || p.BOMFormat != "CycloneDX" || p.Metadata.Component.Version != digest ||
		!strings.HasPrefix(p.Metadata.Component.PURL, "pkg:oci/"+service+"@sha256%3A") {
		r.t.Errorf("SBOM of %s: predicate %s, format %s, image %+v", service, st.PredicateType, p.BOMFormat, p.Metadata.Component)
	}
	for _, want := range sbomWants[service] {
		if !strings.Contains("\n"+all, "\n"+want) {
			r.t.Errorf("the SBOM of %s lists no %s...; it lists:\n%s", service, want, all)
		}
	}
}

// noLeaks searches everything the runs produced for the signing password and
// the private key: every output of the module (engine progress included),
// the last report, the GitOps repository with its history, and the config
// and layers of every published image.
func (r *slipwayRun) noLeaks(reg string) {
	r.t.Helper()
	key, err := os.ReadFile(r.keyFile)
	if err != nil {
		r.t.Fatal(err)
	}
	keyLine := strings.Split(strings.TrimSpace(string(key)), "\n")[1] // a line of the encrypted key body
	secrets := map[string]string{"signing password": r.password, "private key": keyLine}
	places := map[string]string{"module output": r.seen.String()}
	rep, _ := r.lastReport().JSON()
	places["report"] = string(rep)
	dir := filepath.Join(r.t.TempDir(), "gitops")
	r.mustCall("gitops", "export", "--path", dir)
	cmd := exec.Command("git", "log", "-p", "--all")
	cmd.Dir = dir
	hist, err := cmd.Output()
	if err != nil {
		r.t.Fatal(err)
	}
	places["GitOps history"] = string(hist)
	for _, s := range r.lastReport().Services {
		if s.Digest == "" {
			continue
		}
		ref := strings.Replace(s.Repository, "registry:5000", reg, 1) + "@" + s.Digest
		cfg, err := crane.Config(ref)
		if err != nil {
			r.t.Fatal(err)
		}
		places["config of "+s.Name] = string(cfg)
		var layers bytes.Buffer
		img, err := crane.Pull(ref)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := crane.Export(img, &layers); err != nil {
			r.t.Fatal(err)
		}
		places["filesystem of "+s.Name] = layers.String()
	}
	for what, secret := range secrets {
		for where, text := range places {
			if strings.Contains(text, secret) {
				r.t.Errorf("the %s appears in the %s", what, where)
			}
		}
	}
	r.t.Logf("searched %d places for %d secrets", len(places), len(secrets))
}

// TestIntegrationTestsTalkToTheirDependencies runs the sample services'
// tests and checks in their output that the integration tests reached the
// Postgres and Redis bound as services.
func TestIntegrationTestsTalkToTheirDependencies(t *testing.T) {
	r := newSlipwayRun(t)
	out := r.mustCall("test", "--show-output")
	for _, want := range []string{"talked to PostgreSQL 15", "talked to redis_version:7"} {
		if !strings.Contains(out, want) {
			t.Errorf("test output does not contain %q:\n%s", want, tail(out, 80))
		}
	}
	for _, svc := range []string{"orders", "catalog", "notify"} {
		if !strings.Contains(out, svc) || strings.Contains(out, svc+"  unit failed") {
			t.Errorf("service %s missing or failed:\n%s", svc, tail(out, 40))
		}
	}
}

// overlay returns an environment's kustomization from the throwaway GitOps
// repository, and its commit count.
func (r *slipwayRun) overlay(env string) (int, string) {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "gitops")
	r.mustCall("gitops", "export", "--path", dir)
	cmd := exec.Command("git", "rev-list", "--count", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git rev-list: %v", err)
	}
	var n int
	fmt.Sscan(string(out), &n)
	b, err := os.ReadFile(filepath.Join(dir, "deploy", "overlays", env, "kustomization.yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	return n, string(b)
}

// TestModulePromotion is the release manager's path through the real
// engine: ci deploys to dev, promote moves exactly those digests to staging
// and prod (signature and attestations verified, no rebuild), a rollback of
// prod pins it, ci and promote then leave prod alone until unpin.
func TestModulePromotion(t *testing.T) {
	r := newSlipwayRun(t)
	r.mustCall("ci")
	first := byName(r.lastReport())

	out := r.mustCall("promote", "--from", "dev", "--to", "staging")
	t.Logf("promote dev → staging:\n%s", tail(out, 8))
	r.mustCall("promote", "--from", "staging", "--to", "prod")
	commits, prod := r.overlay("prod")
	for name, s := range first {
		if !strings.Contains(prod, s.Digest) {
			t.Errorf("prod does not run %s at %s:\n%s", name, s.Digest, prod)
		}
	}
	// Those promotions passed prod's gate, which requires the sbom
	// attestation ci wrote.
	if b, err := os.ReadFile(filepath.Join(r.fixture, "slipway.yaml")); err != nil || !strings.Contains(string(b), "requireAttestations: [slsa, sbom, test]") {
		t.Errorf("prod no longer requires slsa, sbom and test (%v):\n%s", err, b)
	}
	// Promoting what is already there changes nothing.
	r.mustCall("promote", "--from", "staging", "--to", "prod")
	if c, _ := r.overlay("prod"); c != commits {
		t.Fatalf("a no-op promotion made a commit (%d → %d)", commits, c)
	}

	// A new catalog reaches prod, then prod is rolled back to the first build.
	r.edit("services/catalog/catalog/app.py", func(s string) string {
		return strings.Replace(s, `server_version = "catalog/0.1"`, `server_version = "catalog/0.3"`, 1)
	})
	r.commit("catalog: a release that goes wrong in prod")
	r.mustCall("ci")
	second := byName(r.lastReport())["catalog"].Digest
	r.mustCall("promote", "--from", "dev", "--to", "staging")
	r.mustCall("promote", "--from", "staging", "--to", "prod")
	if _, prod := r.overlay("prod"); !strings.Contains(prod, second) {
		t.Fatalf("prod does not run the new catalog %s:\n%s", second, prod)
	}
	r.mustCall("rollback", "--env", "prod", "--service", "catalog", "--to", first["catalog"].Digest, "--reason", "e2e: bad release", "--by", "e2e")
	if _, prod := r.overlay("prod"); !strings.Contains(prod, first["catalog"].Digest) || strings.Contains(prod, second) {
		t.Fatalf("rollback did not restore catalog %s:\n%s", first["catalog"].Digest, prod)
	}

	// The pin holds: promotion refuses, ci leaves prod alone.
	if out, err := r.call("promote", "--from", "staging", "--to", "prod", "--service", "catalog"); err == nil || !strings.Contains(out, "pinned") {
		t.Fatalf("promotion over a pin was not refused (err=%v):\n%s", err, tail(out, 30))
	}
	before, _ := r.overlay("prod")
	r.mustCall("ci")
	if after, prod := r.overlay("prod"); after != before || !strings.Contains(prod, first["catalog"].Digest) {
		t.Fatalf("ci touched pinned prod")
	}

	// Unpin: promotion works again.
	r.mustCall("unpin", "--env", "prod", "--service", "catalog", "--by", "e2e")
	r.mustCall("promote", "--from", "staging", "--to", "prod", "--service", "catalog")
	if _, prod := r.overlay("prod"); !strings.Contains(prod, second) {
		t.Fatalf("after unpin, prod does not run the staged catalog %s:\n%s", second, prod)
	}
}

// BenchmarkModuleCI prints the pipeline's figures on the sample monorepo
// (run by hack/bench.sh): a run where every service's inputs are new (so
// every test and build really runs, on an engine whose base images and
// dependency layers are warm), a rerun with nothing changed, and a run after
// one service changed; with the ratios, builds counted and image sizes.
func BenchmarkModuleCI(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r := newSlipwayRun(b)
		salt := fmt.Sprintf("bench %s-%d", runID, i)
		for file, comment := range map[string]string{
			"services/orders/main.go":         "// " + salt + "\n",
			"services/catalog/catalog/app.py": "# " + salt + "\n",
			"services/notify/src/server.js":   "// " + salt + "\n",
		} {
			r.edit(file, func(s string) string { return s + comment })
		}
		r.commit("bench: new inputs for every service")
		timed := func() (time.Duration, *report.Report) {
			start := time.Now()
			r.mustCall("ci")
			return time.Since(start), r.lastReport()
		}
		cold, rep := timed()
		rerun, rep2 := timed()
		r.edit("services/catalog/catalog/app.py", func(s string) string { return s + "# one change\n" })
		r.commit("bench: one service changes")
		one, rep3 := timed()
		b.ReportMetric(cold.Seconds(), "s/new-inputs-run")
		b.ReportMetric(rerun.Seconds(), "s/no-change-rerun")
		b.ReportMetric(one.Seconds(), "s/one-change-run")
		b.ReportMetric(cold.Seconds()/rerun.Seconds(), "new/rerun-ratio")
		b.ReportMetric(cold.Seconds()/one.Seconds(), "new/one-change-ratio")
		b.Logf("builds: new-inputs %d, rerun %d, one-change %d (tests run: %d, %d, %d)",
			rep.Count(report.Built), rep2.Count(report.Built), rep3.Count(report.Built),
			testsRun(rep), testsRun(rep2), testsRun(rep3))
		for _, s := range rep.Services {
			b.Logf("image %-8s %s", s.Name, report.HumanBytes(s.SizeBytes))
		}
	}
}

// testsRun counts the services whose tests ran in a report.
func testsRun(r *report.Report) int {
	n := 0
	for _, s := range r.Services {
		if s.UnitTests == "passed" || s.UnitTests == "failed" {
			n++
		}
	}
	return n
}

// TestModulePrune deletes, through the engine, the image no environment
// runs any more, and keeps the ones dev runs; a dry run deletes nothing.
func TestModulePrune(t *testing.T) {
	r := newSlipwayRun(t)
	r.mustCall("ci")
	old := byName(r.lastReport())["catalog"].Digest
	r.edit("services/catalog/catalog/app.py", func(s string) string { return s + "# replaced\n" })
	r.commit("catalog: replaces the first image")
	r.mustCall("ci")
	current := byName(r.lastReport())

	images := func() string {
		return r.mustCall("images", "--format", "json")
	}
	out := r.mustCall("prune", "--older-than", "1ns", "--keep", "0")
	if !strings.Contains(out, old) {
		t.Errorf("the dry run does not list the replaced catalog image %s:\n%s", old, tail(out, 40))
	}
	if !strings.Contains(images(), old) {
		t.Fatal("the dry run deleted the replaced image")
	}
	r.mustCall("prune", "--older-than", "1ns", "--keep", "0", "--apply")
	after := images()
	if strings.Contains(after, old) {
		t.Errorf("the replaced catalog image %s is still in the registry:\n%s", old, after)
	}
	for name, s := range current {
		if !strings.Contains(after, s.Digest) {
			t.Errorf("prune deleted %s %s, which dev runs", name, s.Digest)
		}
	}
}

// tagsOf lists the tags the registry holds for a service's repository.
func (r *slipwayRun) tagsOf(service string) []string {
	r.t.Helper()
	r.mustCall("images", "--format", "json")
	var repos []struct {
		Repository string
		Tags       []struct{ Tag string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil {
		r.t.Fatalf("images JSON: %v\n%s", err, r.stdout)
	}
	var tags []string
	for _, repo := range repos {
		if strings.HasSuffix(repo.Repository, "/"+service) {
			for _, tg := range repo.Tags {
				tags = append(tags, tg.Tag)
			}
		}
	}
	return tags
}

// writeVulnDB writes an offline OSV database in which every Go standard
// library is vulnerable (a critical record and its alias), so that the Go
// sample service fails the dev gate and the others do not.
func writeVulnDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db := map[string][]vulntest.Record{"Go": {{
		SchemaVersion: "1.6.0", ID: "GO-2099-0101", Modified: "2099-01-02T00:00:00Z", Aliases: []string{"CVE-2099-0101"},
		Summary:          "net/http: a critical flaw every Go release has (test record)",
		DatabaseSpecific: map[string]any{"severity": "CRITICAL"},
		Affected:         []vulntest.Affected{vulntest.NewAffected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": "99.0.0"})},
	}}}
	if err := vulntest.WriteOSVDB(dir, db); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestModuleScanGate scans every built image with osv-scanner (compiled from
// its pinned module inside the engine) against an offline database: the
// seeded vulnerability fails the gate and nothing of that service is
// pushed; an unexpired ignore lets it through (and the scan is attested);
// an expired one fails it again.
func TestModuleScanGate(t *testing.T) {
	r := newSlipwayRun(t)
	db := writeVulnDB(t)
	out, err := r.call("--vuln-db", db, "ci")
	if err == nil {
		t.Fatalf("ci passed with a critical vulnerability in orders:\n%s", tail(out, 30))
	}
	rep := r.lastReport()
	got := byName(rep)
	if o := got["orders"]; o.Status != report.Failed || o.Stage != "scan" || o.Digest != "" || !strings.Contains(strings.Join(o.Blocked, ","), "2099-0101") {
		t.Fatalf("orders after a failed gate: %+v", o)
	}
	if got["catalog"].Status != report.Built || got["notify"].Status != report.Built {
		t.Fatalf("the other services did not pass:\n%s", rep.Text())
	}
	if tags := r.tagsOf("orders"); len(tags) != 0 {
		t.Errorf("orders has tags although its scan failed: %v", tags)
	}

	ignore := func(expires string) {
		os.MkdirAll(filepath.Join(r.fixture, ".slipway"), 0o755)
		os.WriteFile(filepath.Join(r.fixture, ".slipway", "vuln-ignore.yaml"), []byte(
			"ignores:\n  - id: CVE-2099-0101\n    reason: the test record; no real service is affected\n    expires: "+expires+"\n"), 0o644)
		r.commit("vuln ignore until " + expires)
	}
	ignore("2099-12-31")
	r.mustCall("--vuln-db", db, "ci", "--service", "orders", "--force")
	o := byName(r.lastReport())["orders"]
	if o.Status != report.Built || o.Vulnerabilities["CRITICAL"] == 0 {
		t.Fatalf("orders with an unexpired ignore: %+v", o)
	}
	if !strings.Contains(strings.Join(o.Attestations, ","), "vuln") {
		t.Errorf("the scan was not attested: %v", o.Attestations)
	}

	ignore("2001-01-01")
	out, err = r.call("--vuln-db", db, "ci", "--service", "orders", "--force")
	if err == nil || !strings.Contains(out, "2099-0101") {
		t.Fatalf("an expired ignore still let orders through (err=%v):\n%s", err, tail(out, 30))
	}
}

// TestModuleDocumentsItself checks what `dagger functions` and `dagger call
// <fn> --help` show a newcomer: every function and every argument of ci has
// a description.
func TestModuleDocumentsItself(t *testing.T) {
	r := newSlipwayRun(t)
	cmd := exec.Command(r.cli, "functions", "-m", r.module)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dagger functions: %v", err)
	}
	want := []string{"ci", "services", "test", "build", "smoke", "publish", "sign", "deploy", "promote",
		"rollback", "pin", "unpin", "reject", "prune", "images", "gitops", "last-report", "check-config", "embedded-registry", "worker", "scanner", "sbom",
		"worker-image", "worker-ref", "scanner-prebuilt"}
	lines := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			lines[f[0]] = strings.TrimSpace(strings.TrimPrefix(l, f[0]))
		}
	}
	for _, fn := range want {
		if len(lines[fn]) < 20 {
			t.Errorf("dagger functions: %q has no useful description: %q", fn, lines[fn])
		}
	}
	cmd = exec.Command(r.cli, "call", "-m", r.module, "ci", "--help")
	help, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dagger call ci --help: %v\n%s", err, help)
	}
	for _, arg := range []string{"--service", "--force", "--dry-run", "--skip-deploy", "--allow-dirty", "--shard"} {
		// The argument's own entry starts its line (descriptions mention
		// other arguments).
		loc := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(arg) + `\s`).FindIndex(help)
		if loc == nil {
			t.Errorf("ci --help does not list %s", arg)
			continue
		}
		line := strings.SplitN(string(help[loc[0]:]), "\n", 2)[0]
		if len(strings.Fields(line)) < 4 {
			t.Errorf("ci --help: %s has no description: %q", arg, line)
		}
	}
}

// TestModuleSmokeGate gives one service a runtime configuration that its
// unit and integration tests cannot see (the wrong Redis port): the smoke
// test fails for that service, shows what the readiness endpoint answered,
// and nothing of it is pushed. Another breaks the image policy (root user,
// a required label missing) and is refused before it runs; the healthy one
// is published.
func TestModuleSmokeGate(t *testing.T) {
	r := newSlipwayRun(t)
	r.edit("services/catalog/service.yaml", func(s string) string {
		s = strings.Replace(s, "env:\n  REDIS_URL: redis://redis:6379/0\n", "env:\n  REDIS_URL: redis://redis:6390/0\n", 1)
		return strings.Replace(s, "smoke:\n", "smoke:\n  timeout: 10s\n", 1)
	})
	// notify breaks the image policy twice: it runs as root and lacks the
	// label slipway.yaml requires.
	r.edit("services/notify/Dockerfile", func(s string) string {
		s = strings.Replace(s, "LABEL org.opencontainers.image.licenses=\"Apache-2.0\"\n", "", 1)
		return strings.Replace(s, "USER 65534:65534\n", "", 1)
	})
	r.commit("catalog points at the wrong Redis port; notify runs as root, unlabelled")
	out, err := r.call("ci")
	if err == nil {
		t.Fatalf("ci passed with a service that is never ready and one that breaks the image policy:\n%s", tail(out, 30))
	}
	rep := r.lastReport()
	got := byName(rep)
	c := got["catalog"]
	if c.Status != report.Failed || c.Stage != "smoke" || !strings.Contains(c.Error, "HTTP 503") || !strings.Contains(c.Error, "Connection refused") {
		t.Fatalf("catalog after a failing readiness check: %+v", c)
	}
	n := got["notify"]
	for _, want := range []string{"runs as root", "org.opencontainers.image.licenses", "services/notify/Dockerfile"} {
		if n.Status != report.Failed || n.Stage != "smoke" || !strings.Contains(n.Error, want) {
			t.Errorf("notify breaking the image policy: %+v (want %q in the error)", n, want)
		}
	}
	if !strings.Contains(out, "notify") || !strings.Contains(out, "runs as root") {
		t.Errorf("the output does not name notify and the violation:\n%s", tail(out, 40))
	}
	if got["orders"].Status != report.Built {
		t.Fatalf("the healthy service did not pass:\n%s", rep.Text())
	}
	for _, svc := range []string{"catalog", "notify"} {
		if tags := r.tagsOf(svc); len(tags) != 0 {
			t.Errorf("%s has tags although it failed before publishing: %v", svc, tags)
		}
	}
}

// TestModulePromotionRescan promotes with a vulnerability database: the
// image passes dev's gate (CRITICAL) but its high finding fails staging's
// (HIGH) when promote re-scans the exact digest, so nothing reaches staging.
func TestModulePromotionRescan(t *testing.T) {
	r := newSlipwayRun(t)
	dir := t.TempDir()
	db := map[string][]vulntest.Record{"Go": {{
		SchemaVersion: "1.6.0", ID: "GO-2099-0202", Modified: "2099-01-02T00:00:00Z", Aliases: []string{"CVE-2099-0202"},
		Summary:          "crypto/tls: a high flaw every Go release has (test record)",
		DatabaseSpecific: map[string]any{"severity": "HIGH"},
		Affected:         []vulntest.Affected{vulntest.NewAffected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": "99.0.0"})},
	}}}
	if err := vulntest.WriteOSVDB(dir, db); err != nil {
		t.Fatal(err)
	}
	r.mustCall("--vuln-db", dir, "ci")
	if o := byName(r.lastReport())["orders"]; o.Status != report.Built || o.Vulnerabilities["HIGH"] != 1 {
		t.Fatalf("orders under dev's CRITICAL gate: %+v", o)
	}
	before, staging := r.overlay("staging")
	out, err := r.call("--vuln-db", dir, "promote", "--from", "dev", "--to", "staging")
	if err == nil || !strings.Contains(out, "2099-0202") {
		t.Fatalf("promotion of an image with a HIGH finding into staging was not refused (err=%v):\n%s", err, tail(out, 30))
	}
	if after, now := r.overlay("staging"); after != before || now != staging {
		t.Fatal("a refused promotion changed the GitOps repository")
	}
	// Promoting the services without the finding is allowed.
	r.mustCall("--vuln-db", dir, "promote", "--from", "dev", "--to", "staging", "--service", "catalog", "--service", "notify")
}
