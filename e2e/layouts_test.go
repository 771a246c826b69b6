package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/testutil"
)

// TestModuleLayouts runs ci on a monorepo laid out as public ones are
// (e2e/testdata/layouts), configured by its slipway.yaml alone (no
// service.yaml, no Dockerfile written for slipway):
//   - services under src/, found without a services list; src/protos, not
//     a service, is named with the reason;
//   - greeter's Dockerfile sits next to its code below the service
//     directory; pricing builds from the repository root to COPY a shared
//     library, mounts a build secret, and fails if slipway's own files
//     reach its build; static, in no language slipway knows, is tested by
//     a Dockerfile stage and serves the port it EXPOSEs; cart is a gRPC
//     service with no tests, smoke-tested through the standard health
//     service;
//   - the manifests sit beside the code: raw Deployments in one directory
//     and a Helm chart with a values block per service;
//   - ledger, in Rust, is tested by cargo test in the default Rust image
//     with nothing configured but its deployment;
//   - slipway.yaml's env and setup reach every test and build.
//
// A new file at the root then rebuilds exactly the service whose build
// context holds it, and failures name their stage in the tool's words.
func TestModuleLayouts(t *testing.T) {
	r := newSlipwayRunOf(t, filepath.Join(testutil.RepoRoot(t), "e2e", "testdata", "layouts"))

	// pricing's build mounts a secret: without --build-secrets it is
	// refused by name before anything is built.
	out, err := r.call("build", "--service", "pricing", "sync")
	if want := "service pricing: build.secrets lists SHOP_TOKEN, which --build-secrets does not hold"; err == nil || !strings.Contains(out, want) {
		t.Errorf("build without the secret: err=%v, want %q:\n%s", err, want, tail(out, 20))
	}
	token := fmt.Sprintf("shop-token-%x-do-not-leak", time.Now().UnixNano())
	secrets := filepath.Join(t.TempDir(), "build.env")
	if err := os.WriteFile(secrets, []byte("# build secrets\nSHOP_TOKEN="+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.moduleArgs = []string{"--build-secrets", "file://" + secrets}

	out = r.mustCall("services")
	for _, want := range []string{"cart", "greeter", "ledger", "pricing", "static", "not a service: src/protos (no Dockerfile and no service.yaml)"} {
		if !strings.Contains(out, want) {
			t.Errorf("services does not say %q:\n%s", want, tail(out, 30))
		}
	}

	r.mustCall("ci")
	rep := r.lastReport()
	got := byName(rep)
	if rep.Count(report.Built) != 5 || !rep.OK() {
		t.Fatalf("first run:\n%s", rep.Text())
	}
	for _, s := range []string{"greeter", "ledger", "pricing", "static"} {
		if got[s].UnitTests != "passed" || got[s].Smoke != "passed" {
			t.Errorf("%s: unit tests %q, smoke %q", s, got[s].UnitTests, got[s].Smoke)
		}
	}
	// The build secret is in no layer of the image pricing ships.
	tarball := filepath.Join(t.TempDir(), "pricing.tar")
	r.mustCall("build", "--service", "pricing", "export", "--path", tarball)
	img, err := crane.Load(tarball)
	if err != nil {
		t.Fatalf("reading pricing's image: %v", err)
	}
	// Every layer, uncompressed, as the container's filesystem.
	var fsys bytes.Buffer
	if err := crane.Export(img, &fsys); err != nil {
		t.Fatal(err)
	}
	if fsys.Len() == 0 || !bytes.Contains(fsys.Bytes(), []byte("pricing")) || bytes.Contains(fsys.Bytes(), []byte(token)) {
		t.Errorf("pricing's image (%d bytes of files) holds the build secret, or is not the image", fsys.Len())
	}

	// A service without tests says so: not configured, never passed.
	if c := got["cart"]; c.UnitTests != "not configured" || c.Smoke != "passed" {
		t.Errorf("cart: unit tests %q, smoke %q", c.UnitTests, c.Smoke)
	}
	dev := layoutManifests(r)
	for _, s := range []string{"cart", "greeter", "ledger", "pricing", "static"} {
		if !strings.Contains(dev, got[s].Digest) {
			t.Errorf("dev does not run %s at %s:\n%s", s, got[s].Digest, dev)
		}
	}

	// A file at the repository root is in pricing's build context (the
	// root: its Dockerfile could COPY it), not in greeter's.
	if err := os.WriteFile(filepath.Join(r.fixture, "NOTES.md"), []byte("release notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("notes at the root")
	r.mustCall("ci")
	rep = r.lastReport()
	again := byName(rep)
	if again["pricing"].Status != report.Built || again["greeter"].Status != report.Reused || again["greeter"].Digest != got["greeter"].Digest ||
		again["static"].Status != report.Reused || again["cart"].Status != report.Reused || again["ledger"].Status != report.Reused {
		t.Errorf("after a new file at the root:\n%s", rep.Text())
	}

	// A dependency that cannot be had fails its service at "dependencies",
	// in the tool's own words; a failing Dockerfile step fails at "build",
	// naming the service, the Dockerfile, the context, the step and its
	// exit code.
	r.edit("src/greeter/src/go.mod", func(s string) string { return s + "\nrequire example.invalid/nothing v1.0.0\n" })
	r.edit("src/pricing/Dockerfile", func(s string) string {
		// The failing step prints the build secret it mounts: the output
		// slipway shows has it redacted.
		return strings.Replace(s, "RUN go build", "RUN --mount=type=secret,id=SHOP_TOKEN echo \"token $(cat /run/secrets/SHOP_TOKEN)\" && echo pricing-broken-on-purpose $((40+2)) && exit 3\nRUN go build", 1)
	})
	r.edit("src/static/site/index.html", func(s string) string { return strings.Replace(s, "hello", "goodbye", 1) })
	r.edit("src/ledger/src/main.rs", func(s string) string {
		return strings.Replace(s, `assert_eq!(format_cents(12345), "123.45");`, `assert_eq!(format_cents(12345), "123.46");`, 1)
	})
	r.commit("greeter needs a module that does not exist; pricing's build fails; static's page fails its check; a ledger test fails")
	if out, err := r.call("ci"); err == nil {
		t.Fatalf("ci passed:\n%s", tail(out, 30))
	}
	rep = r.lastReport()
	failed := byName(rep)
	if g := failed["greeter"]; g.Status != report.Failed || g.Stage != "dependencies" ||
		!strings.Contains(g.Error, "the dependency step failed") || !strings.Contains(g.Error, "example.invalid/nothing") {
		t.Errorf("greeter: %+v", g)
	}
	if p := failed["pricing"]; p.Status != report.Failed || p.Stage != "build" ||
		!strings.Contains(p.Error, "building pricing from src/pricing/Dockerfile (context .)") || !strings.Contains(p.Error, "pricing-broken-on-purpose $((40+2)) && exit 3") || !strings.Contains(p.Error, "token ***") ||
		!strings.Contains(p.Error, "exit code: 3") ||
		// What the step printed, which the engine's error does not hold.
		!strings.Contains(p.Error, "pricing-broken-on-purpose 42") || !strings.Contains(p.Error, "(exit status 3)") {
		t.Errorf("pricing: stage %s: %s", p.Stage, p.Error)
	}
	// cargo test's output names the failed test.
	if l := failed["ledger"]; l.Status != report.Failed || l.Stage != "test" || l.UnitTests != "failed" ||
		!strings.Contains(l.Error, "unit tests failed (exit 101): tests::formats_cents") {
		t.Errorf("ledger: stage %s, unit tests %s: %s", l.Stage, l.UnitTests, l.Error)
	}
	if s := failed["static"]; s.Status != report.Failed || s.Stage != "test" || s.UnitTests != "failed" ||
		!strings.Contains(s.Error, `unit tests failed: the Dockerfile stage "test" of src/static/Dockerfile`) ||
		!strings.Contains(s.Error, "the step at src/static/Dockerfile:7 printed (replayed to read its output):\nindex.html does not say hello\n(exit status 1)") {
		t.Errorf("static: stage %s, unit tests %s: %s", s.Stage, s.UnitTests, s.Error)
	}

	// The build secret appears nowhere slipway left traces: its output,
	// the report, the GitOps repository. The engine's own progress lines
	// show what a Dockerfile step prints, as any BuildKit build does, and
	// pricing's failing step prints its token on purpose: those lines are
	// the engine's, not slipway's.
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	seen := r.seen.String()
	r.mu.Unlock()
	var own []string
	engineLines := 0
	for _, l := range strings.Split(seen, "\n") {
		if strings.Contains(l, "\x1b[95m") {
			engineLines++
			continue
		}
		own = append(own, l)
	}
	if engineLines == 0 {
		t.Fatal("no engine progress lines told apart in the output: the check below would see nothing of it")
	}
	if out := strings.Join(own, "\n"); strings.Contains(out, token) || strings.Contains(string(b), token) || strings.Contains(layoutManifests(r), token) {
		t.Error("the build secret leaked into slipway's output, the report or the GitOps repository")
	}
}

// TestModulePreflight: a GitOps layout that cannot take a service fails
// check-config and ci before anything is built or pushed, naming the
// environment, the service, the file and the entry.
func TestModulePreflight(t *testing.T) {
	r := newSlipwayRunOf(t, filepath.Join(testutil.RepoRoot(t), "e2e", "testdata", "layouts"))
	r.edit("deploy/kubernetes-manifests/pricing.yaml", func(s string) string {
		return strings.Replace(s, "image: pricing:bootstrap", "image: prices:bootstrap", 1)
	})
	r.commit("the pricing manifest names another image")
	want := "environment dev, service pricing: deploy/kubernetes-manifests/pricing.yaml: containers[image=pricing"
	for _, fn := range []string{"check-config", "ci"} {
		out, err := r.call(fn)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s: err=%v, want a failure naming %q:\n%s", fn, err, want, tail(out, 30))
		}
		if strings.Contains(out, "publishing to") || strings.Contains(out, ": building ") {
			t.Errorf("%s built or published before the preflight failed:\n%s", fn, tail(out, 40))
		}
	}
}

// layoutManifests is what the fixture's environment runs, as the
// throwaway GitOps repository holds it: the raw manifests and the Helm
// chart's values, one after the other.
func layoutManifests(r *slipwayRun) string {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "gitops")
	r.mustCall("gitops", "export", "--path", dir)
	var b strings.Builder
	for _, f := range []string{"kubernetes-manifests/greeter.yaml", "kubernetes-manifests/pricing.yaml", "helm-chart/values.yaml"} {
		body, err := os.ReadFile(filepath.Join(dir, "deploy", filepath.FromSlash(f)))
		if err != nil {
			r.t.Fatal(err)
		}
		b.WriteString("# " + f + "\n" + string(body))
	}
	return b.String()
}
