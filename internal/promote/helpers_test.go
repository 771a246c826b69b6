package promote

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/empty"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testout"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/vuln"
)

// Commits the test images are "built" from.
const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
	c3 = "3333333333333333333333333333333333333333"
)

// Keys, signers and the registry client are made once per test binary:
// scrypt makes every key decryption take about 0.2 s. The client is not
// tied to a host, so every fixture's registries share it.
var (
	sharedOnce sync.Once
	shared     struct {
		reg      *registry.Client
		signer   *signing.Signer
		other    *signing.Signer
		verifier *signing.Verifier
		pubPEM   []byte
	}
	sharedErr error
)

func sharedClients(t testing.TB) {
	t.Helper()
	sharedOnce.Do(func() {
		var mk, ok *signing.KeyPair
		if mk, sharedErr = signing.GenerateKeyPair([]byte("pw")); sharedErr != nil {
			return
		}
		if ok, sharedErr = signing.GenerateKeyPair([]byte("other")); sharedErr != nil {
			return
		}
		s := &shared
		if s.reg, sharedErr = registry.New(registry.WithRetry(registry.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})); sharedErr != nil {
			return
		}
		if s.signer, sharedErr = signing.LoadSigner(mk.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(s.reg)); sharedErr != nil {
			return
		}
		if s.other, sharedErr = signing.LoadSigner(ok.PrivateKeyPEM, []byte("other"), signing.WithRegistry(s.reg)); sharedErr != nil {
			return
		}
		s.verifier, sharedErr = signing.LoadVerifier(mk.PublicKeyPEM, signing.WithRegistry(s.reg))
		s.pubPEM = mk.PublicKeyPEM
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
}

// fixture is a project (this repository's slipway.yaml and services), a
// registry behind a counting proxy, a key pair and a GitOps bare repository
// seeded from this repository's deploy/ tree, served by the git binary.
type fixture struct {
	t        testing.TB
	cfg      *config.Config
	counter  *registrytest.Counter
	host     string
	reg      *registry.Client
	signer   *signing.Signer
	other    *signing.Signer
	verifier *signing.Verifier
	repo     string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := testutil.RepoRoot(t)
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	counter := registrytest.Count(registrytest.Handler())
	host := registrytest.Serve(t, counter)
	sharedClients(t)
	repo := filepath.Join(t.TempDir(), "gitops.git")
	if _, err := gitops.SeedThrowaway(context.Background(), repo, "main", os.DirFS(root), "deploy", "slipway", "s@example.com"); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cfg: cfg, counter: counter, host: host, reg: shared.reg, signer: shared.signer, other: shared.other, verifier: shared.verifier, repo: repo}
}

func (f *fixture) gitOptions() []gitops.Option {
	return []gitops.Option{gitops.WithAuthor("slipway test", "s@example.com"), gitops.WithBackoff(5*time.Millisecond, 50*time.Millisecond)}
}

// image describes a test image's provenance.
type image struct {
	seed   int64
	commit string
	// signer signs it (nil: unsigned); attest lists attestation kinds.
	signer *signing.Signer
	attest []string
	// claim changes what the attestations say (zero value: the truth).
	claim claim
}

// claim is what an image's predicates say, where it differs from the
// truth.
type claim struct {
	// service the predicates name (default: the service published).
	service string
	// tests are the suites of the test predicate (default: unit and
	// integration passed).
	tests map[string]provenance.TestSuite
	// findings and scanned are the vuln predicate's findings and scan
	// time (default: none, now).
	findings []vuln.Finding
	scanned  time.Time
	// repository and commit of the SLSA provenance (default: the
	// fixture's source and the image's commit).
	repository, commit string
	// sbomDigest is the digest the SBOM describes (default: the image's).
	sbomDigest string
	// dirty marks the provenance's source as having uncommitted changes.
	dirty bool
}

// sourceURL is the fixture project's source repository.
const sourceURL = "https://git.example.com/acme/shop"

// passedSuites are the suites of a service whose tests all ran and passed.
func passedSuites() map[string]provenance.TestSuite {
	return map[string]provenance.TestSuite{
		"unit":        {Status: testout.Passed, Command: "go test ./...", Counts: &testout.Counts{Runner: "go test", Passed: 4}},
		"integration": {Status: testout.Passed, Command: "go test -tags integration ./..."},
	}
}

// predicate builds the real predicate of kind for service's image digest,
// with the builders ci uses, saying what cl says.
func (f *fixture) predicate(kind, service, digest string, im image) []byte {
	f.t.Helper()
	cl := im.claim
	if cl.service == "" {
		cl.service = service
	}
	if cl.commit == "" {
		cl.commit = im.commit
	}
	if cl.repository == "" {
		cl.repository = sourceURL
	}
	var b []byte
	var err error
	switch kind {
	case "slsa":
		b, err = provenance.SLSA(provenance.Build{BuilderID: "https://slipway.dev/dagger-module/ci", Service: cl.service,
			Repository: cl.repository, Commit: cl.commit, Dockerfile: "services/" + cl.service + "/Dockerfile"})
		if err == nil && cl.dirty {
			var m map[string]any
			if err = json.Unmarshal(b, &m); err == nil {
				m["buildDefinition"].(map[string]any)["externalParameters"].(map[string]any)["dirty"] = true
				b, err = json.Marshal(m)
			}
		}
	case "test":
		suites := cl.tests
		if suites == nil {
			suites = passedSuites()
		}
		b, err = provenance.TestResult(provenance.TestRun{Service: cl.service, Suites: suites, Configuration: []provenance.ResourceDescriptor{{Name: "slipway test " + cl.service}}})
	case "vuln":
		at := cl.scanned
		if at.IsZero() {
			at = time.Now()
		}
		findings := cl.findings
		if findings == nil {
			findings = []vuln.Finding{}
		}
		b, err = provenance.VulnPredicate(provenance.VulnScan{ScannerURI: "pkg:golang/github.com/google/osv-scanner/v2@v2.5.0", ScannerVersion: "2.5.0",
			Result:    map[string]any{"service": cl.service, "environment": "dev", "findings": findings},
			StartedOn: at.Add(-time.Second), FinishedOn: at})
	case "sbom":
		d := cl.sbomDigest
		if d == "" {
			d = digest
		}
		b, err = json.Marshal(map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
			"metadata":   map[string]any{"component": map[string]any{"type": "container", "name": f.repoOf(cl.service), "version": d, "purl": "pkg:oci/" + cl.service + "@" + strings.Replace(d, ":", "%3A", 1)}},
			"components": []any{}})
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// repoOf is the repository of a service in the fixture's registry.
func (f *fixture) repoOf(service string) string { return f.host + "/shop/" + service }

// publish pushes an image for service tagged with its commit, signs and
// attests it as described, and returns its digest.
func (f *fixture) publish(service string, im image) string {
	f.t.Helper()
	ctx := context.Background()
	img := registrytest.Image(f.t, registrytest.ImageSpec{Seed: im.seed, Layers: 2, LayerSize: 4096})
	d, err := f.reg.PushImage(ctx, img, f.repoOf(service)+":"+im.commit)
	if err != nil {
		f.t.Fatal(err)
	}
	if im.signer != nil {
		if _, err := im.signer.Sign(ctx, d.String(), map[string]string{signing.AnnotationService: service, signing.AnnotationSourceCommit: im.commit}); err != nil {
			f.t.Fatal(err)
		}
		for _, kind := range im.attest {
			if _, err := im.signer.Attest(ctx, d.String(), AttestationPredicates[kind][0], f.predicate(kind, service, d.DigestStr(), im)); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	return d.DigestStr()
}

// good is a fully signed and attested image.
func (f *fixture) good(seed int64, commit string) image {
	return image{seed: seed, commit: commit, signer: f.signer, attest: []string{"slsa", "sbom", "vuln", "test"}}
}

// deploy writes digests into env the way `ci` does (commit tag, one commit).
func (f *fixture) deploy(env, commit string, digests map[string]string) *report.Deployment {
	f.t.Helper()
	var changes []deploy.Change
	for svc, d := range digests {
		changes = append(changes, deploy.Change{Service: svc, Repository: f.repoOf(svc), Digest: d, Tag: commit})
	}
	res, err := deploy.Run(context.Background(), deploy.Options{Config: f.cfg, Environment: env, Changes: changes, SourceCommit: commit,
		Registry: f.reg, Verifier: f.verifier, RepoURL: f.repo, GitOptions: f.gitOptions()})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) options(from, to string, services ...string) Options {
	return Options{Config: f.cfg, From: from, To: to, Services: services, Registry: f.reg, Verifier: f.verifier,
		RepoURL: f.repo, GitOptions: f.gitOptions(), SourceURL: sourceURL}
}

func (f *fixture) stateOptions(reason string) StateOptions {
	return StateOptions{Config: f.cfg, RepoURL: f.repo, GitOptions: f.gitOptions(), Reason: reason, By: "alice"}
}

func (f *fixture) rollbackOptions(env, service, target string) RollbackOptions {
	return RollbackOptions{Config: f.cfg, Environment: env, Service: service, Target: target, Reason: "bad release", By: "alice",
		Registry: f.reg, Verifier: f.verifier, RepoURL: f.repo, GitOptions: f.gitOptions(), SourceURL: sourceURL}
}

// git runs git in the bare repository.
func (f *fixture) git(args ...string) string {
	f.t.Helper()
	out, err := exec.Command("git", append([]string{"-C", f.repo}, args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) commits() int {
	return len(strings.Split(f.git("log", "--format=%H", "main"), "\n"))
}

func (f *fixture) file(path string) string { return f.git("show", "main:"+path) }

// imageIn returns what env's kustomization says about service.
func (f *fixture) imageIn(env, service string) gitops.Current {
	f.t.Helper()
	dir := f.t.TempDir()
	out, err := exec.Command("git", "clone", "-q", f.repo, dir).CombinedOutput()
	if err != nil {
		f.t.Fatalf("clone: %v: %s", err, out)
	}
	m, err := gitops.ReadImages(dir, deploy.Layout(f.cfg), env, []string{service})
	if err != nil {
		f.t.Fatal(err)
	}
	return m[service]
}

// tagged returns the digest tag points at in repo, "" when absent.
func (f *fixture) tagged(repo, tag string) string {
	f.t.Helper()
	d, err := f.reg.Resolve(context.Background(), repo+":"+tag)
	if err != nil {
		return ""
	}
	return d.DigestStr()
}

// snapshot renders every tag of every repository of the registries (and
// what it points at) and every ref of the GitOps repository, to show that
// a refused run changed nothing.
func (f *fixture) snapshot(hosts ...string) string {
	f.t.Helper()
	ctx := context.Background()
	var lines []string
	for _, h := range append([]string{f.host}, hosts...) {
		reg, err := name.NewRegistry(h)
		if err != nil {
			f.t.Fatal(err)
		}
		repos, err := remote.Catalog(ctx, reg, f.reg.RemoteOptions(ctx)...)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, r := range repos {
			tags, err := f.reg.ListTags(ctx, h+"/"+r)
			if err != nil {
				f.t.Fatal(err)
			}
			for _, t := range tags {
				lines = append(lines, h+"/"+r+":"+t+" "+f.tagged(h+"/"+r, t))
			}
		}
	}
	sort.Strings(lines)
	lines = append(lines, f.git("for-each-ref", "--format=%(refname) %(objectname)"))
	return strings.Join(lines, "\n")
}

// writes counts the requests that write to a registry.
func writes(c *registrytest.Counter) int {
	n := 0
	for _, m := range []string{"PUT", "POST", "PATCH", "DELETE"} {
		n += c.Requests(m, "/v2/")
	}
	return n
}

// tamper replaces the signature payload of digestRef with a forged one
// (another run id) keeping the original signature bytes.
func (f *fixture) tamper(digestRef string) {
	f.t.Helper()
	ctx := context.Background()
	opts := ociremote.WithRemoteOptions(f.reg.RemoteOptions(ctx)...)
	ref, err := name.ParseReference(digestRef)
	if err != nil {
		f.t.Fatal(err)
	}
	tag, err := ociremote.SignatureTag(ref, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	sigs, err := ociremote.Signatures(tag, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	list, err := sigs.Get()
	if err != nil || len(list) == 0 {
		f.t.Fatalf("no signature to tamper with: %v", err)
	}
	pl, _ := list[0].Payload()
	b64, _ := list[0].Base64Signature()
	forged := strings.Replace(string(pl), `"dev.slipway.service":"`, `"dev.slipway.run-id":"forged","dev.slipway.service":"`, 1)
	if forged == string(pl) {
		f.t.Fatal("test set-up: the payload did not change")
	}
	sig, err := static.NewSignature([]byte(forged), b64)
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := mutate.AppendSignatures(empty.Signatures(), false, sig)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := remote.Write(tag, out, f.reg.RemoteOptions(ctx)...); err != nil {
		f.t.Fatal(err)
	}
}

// replay copies the valid signature of fromRef onto toRef's signature tag.
func (f *fixture) replay(from, to string) {
	f.t.Helper()
	registrytest.ReplaySignature(f.t, from, to, f.reg.RemoteOptions(context.Background())...)
}

// scanner is a Scanner that blocks the digests it is told to, and records
// the policies it was asked to apply.
type scanner struct {
	mu       sync.Mutex
	block    map[string][]string
	fail     error
	policies []string
	// refs are the references scanned, in order.
	refs []string
	// found are the (non-blocking) counts a passing scan of a digest reports.
	found map[string]map[string]int
}

func (s *scanner) Scan(_ context.Context, ref string, p config.Policy) (ScanResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies = append(s.policies, p.FailOn)
	s.refs = append(s.refs, ref)
	if s.fail != nil {
		return ScanResult{}, s.fail
	}
	_, digest, _ := strings.Cut(ref, "@")
	if b := s.block[digest]; len(b) > 0 {
		return ScanResult{Passed: false, Vulnerabilities: map[string]int{"HIGH": len(b)}, Blocked: b, Summary: fmt.Sprintf("%d HIGH", len(b))}, nil
	}
	counts := s.found[digest]
	if counts == nil {
		counts = map[string]int{}
	}
	return ScanResult{Passed: true, Vulnerabilities: counts}, nil
}

var _ Scanner = (*scanner)(nil)

// status returns the report status of service.
func status(r *report.Report, service string) report.Service {
	for _, s := range r.Services {
		if s.Name == service {
			return s
		}
	}
	return report.Service{}
}
