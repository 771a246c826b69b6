package publish

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/sbom"
	"github.com/slipwayci/slipway/internal/signing"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

var inputDigest = "sha256:" + strings.Repeat("c", 64)

func setup(t *testing.T, h http.Handler) (string, *registry.Client, *signing.Signer) {
	t.Helper()
	host := registrytest.Serve(t, h)
	c, err := registry.New(registry.WithRetry(registry.RetryPolicy{MaxAttempts: 2, BaseDelay: 1, MaxDelay: 2}))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := signing.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	return host, c, s
}

func tarball(t *testing.T, seed int64) string {
	file := filepath.Join(t.TempDir(), "image.tar")
	registrytest.WriteOCITarball(t, file, registrytest.Image(t, registrytest.ImageSpec{Seed: seed, Labels: map[string]string{registry.InputDigestLabel: inputDigest}}))
	return file
}

func TestTarballIsSignedThenTagged(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	out, err := Tarball(ctx, tarball(t, 1), repo, Options{Registry: c, Signer: s, Service: "orders", Commit: commit, RunID: "r1", InputDigest: inputDigest, Tags: []string{commit}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Signature == "" || out.SizeBytes <= 0 || out.Repository != repo || !strings.HasPrefix(out.Digest, "sha256:") {
		t.Fatalf("result = %+v", out)
	}
	tags, _ := crane.ListTags(repo)
	it, _ := registry.InputTag(inputDigest)
	for _, want := range []string{commit, it} {
		if !slices.Contains(tags, want) {
			t.Errorf("tag %s missing from %v", want, tags)
		}
	}
	// The signature verifies, bound to the digest, with the run's annotations.
	if _, err := s.Verifier().Verify(ctx, repo+"@"+out.Digest, map[string]string{signing.AnnotationSourceCommit: commit, signing.AnnotationService: "orders"}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Build avoidance finds it.
	ref, found, err := c.FindByInputDigest(ctx, repo, inputDigest)
	if err != nil || !found || ref.DigestStr() != out.Digest {
		t.Fatalf("FindByInputDigest = %v %v %v", ref, found, err)
	}
}

func TestAttestationsLandBeforeTags(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	pred := []byte(`{"buildDefinition":{"buildType":"https://slipway.dev/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/ci"}}}`)
	out, err := Tarball(ctx, tarball(t, 5), repo, Options{Registry: c, Signer: s, Service: "orders", Commit: commit, Tags: []string{commit},
		Attestations: []Predicate{{Type: signing.PredicateSLSAProvenanceV1, Body: pred}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Attestations) != 1 || out.Attestations[0] != signing.PredicateSLSAProvenanceV1 {
		t.Fatalf("attestations = %v", out.Attestations)
	}
	st, err := s.Verifier().VerifyAttestations(ctx, repo+"@"+out.Digest, signing.PredicateSLSAProvenanceV1)
	if err != nil || len(st) != 1 {
		t.Fatalf("verify attestations: %v, %v", st, err)
	}
	if _, err := Tarball(ctx, tarball(t, 6), repo, Options{Registry: c, Service: "orders", Tags: []string{commit},
		Attestations: []Predicate{{Type: signing.PredicateSLSAProvenanceV1, Body: pred}}}); err == nil {
		t.Fatal("attestations without a signer were accepted")
	}
}

func TestUnsignedPublish(t *testing.T) {
	host, c, _ := setup(t, registrytest.Handler())
	out, err := Tarball(context.Background(), tarball(t, 2), host+"/shop/web", Options{Registry: c, Service: "web", Tags: []string{commit}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Signature != "" {
		t.Fatalf("unsigned publish reports a signature: %+v", out)
	}
}

// failSignatures refuses every write of a cosign signature tag.
type failSignatures struct {
	next    http.Handler
	refused atomic.Int32
}

func (f *failSignatures) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") {
		f.refused.Add(1)
		http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestFailedSignatureLeavesNoTag(t *testing.T) {
	h := &failSignatures{next: registrytest.Handler()}
	host, c, s := setup(t, h)
	repo := host + "/shop/orders"
	_, err := Tarball(context.Background(), tarball(t, 3), repo, Options{Registry: c, Signer: s, Service: "orders", Commit: commit, InputDigest: inputDigest, Tags: []string{commit}})
	if err == nil || !strings.Contains(err.Error(), "service orders: signing") || !strings.Contains(err.Error(), "stays untagged") {
		t.Fatalf("err = %v", err)
	}
	if h.refused.Load() == 0 {
		t.Fatal("the signature write was never attempted")
	}
	tags, _ := crane.ListTags(repo)
	if len(tags) != 0 {
		t.Fatalf("an unsigned image was tagged: %v", tags)
	}
}

func TestExistingGetsNewCommitTagAndSignature(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	first, err := Tarball(ctx, tarball(t, 4), repo, Options{Registry: c, Signer: s, Service: "orders", Commit: commit, InputDigest: inputDigest, Tags: []string{commit}})
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Repeat("9", 40)
	out, err := Existing(ctx, repo+"@"+first.Digest, Options{Registry: c, Signer: s, Service: "orders", Commit: next, InputDigest: inputDigest, Tags: []string{next}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != first.Digest {
		t.Fatalf("reuse changed the digest: %s vs %s", out.Digest, first.Digest)
	}
	d, err := crane.Digest(repo + ":" + next)
	if err != nil || d != first.Digest {
		t.Fatalf("new commit tag = %s, %v", d, err)
	}
	if _, err := s.Verifier().Verify(ctx, repo+"@"+first.Digest, map[string]string{signing.AnnotationSourceCommit: next}); err != nil {
		t.Fatalf("no signature for the new commit: %v", err)
	}
	if _, err := Existing(ctx, repo+":latest", Options{Registry: c, Service: "orders", Tags: []string{next}}); err == nil {
		t.Fatal("Existing accepted a tag instead of a digest")
	}
}

func TestValidation(t *testing.T) {
	_, c, _ := setup(t, registrytest.Handler())
	for _, o := range []Options{{Service: "x", Tags: []string{"t"}}, {Registry: c, Tags: []string{"t"}}, {Registry: c, Service: "x"}} {
		if _, err := Tarball(context.Background(), "nofile", "r", o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	_, err := Tarball(context.Background(), filepath.Join(t.TempDir(), "missing.tar"), "127.0.0.1:1/x", Options{Registry: c, Service: "x", Tags: []string{"t"}})
	if err == nil || !strings.Contains(err.Error(), "service x: pushing") {
		t.Fatalf("err = %v", err)
	}
}

// A commit's tag names one image: publishing another image for the same
// commit is refused before anything is written, unless Force, which moves
// the tag and says from where to where. Other tags move freely.
func TestCommitTagNeverMovesSilently(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	o := Options{Registry: c, Signer: s, Service: "orders", Commit: commit, RunID: "r1", InputDigest: inputDigest, Tags: []string{commit, "main-0123456-20260101000000"}}
	first, err := Tarball(ctx, tarball(t, 1), repo, o)
	if err != nil {
		t.Fatal(err)
	}
	if first.Moved != nil {
		t.Fatalf("first publication reports a move: %+v", first.Moved)
	}
	// The same image again: the tag already names it, nothing to refuse.
	if again, err := Tarball(ctx, tarball(t, 1), repo, o); err != nil || again.Digest != first.Digest || again.Moved != nil {
		t.Fatalf("republishing the same image: %+v, %v", again, err)
	}

	// Another image for the same commit, without Force: refused, naming
	// both digests and --force; the new image gets no signature and no tag.
	o.Tags = []string{commit, "main-0123456-20260101000001"}
	_, err = Tarball(ctx, tarball(t, 2), repo, o)
	if !errors.Is(err, ErrCommitTagTaken) {
		t.Fatalf("err = %v, want ErrCommitTagTaken", err)
	}
	second := pushedDigest(t, repo, 2)
	for _, want := range []string{first.Digest, second, "--force", "orders"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if d, _ := crane.Digest(repo + ":" + commit); d != first.Digest {
		t.Errorf("the commit tag moved to %s", d)
	}
	tags, _ := crane.ListTags(repo)
	for _, tg := range tags {
		if strings.Contains(tg, strings.TrimPrefix(second, "sha256:")) || tg == "main-0123456-20260101000001" {
			t.Errorf("the refused image got %s", tg)
		}
	}

	// With Force the tag moves and the result names both digests.
	o.Force = true
	moved, err := Tarball(ctx, tarball(t, 2), repo, o)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Moved == nil || moved.Moved.From != first.Digest || moved.Moved.To != second || moved.Moved.Tag != commit {
		t.Fatalf("Moved = %+v, want %s -> %s", moved.Moved, first.Digest, second)
	}
	if d, _ := crane.Digest(repo + ":" + commit); d != second {
		t.Errorf("the commit tag names %s after --force, want %s", d, second)
	}

	// Tags other than the bare commit SHA move without Force (here the
	// input tag, given by InputDigest).
	o.Force = false
	o.Tags = []string{"0000000000000000000000000000000000000000"}
	o.Commit = "0000000000000000000000000000000000000000"
	third, err := Tarball(ctx, tarball(t, 3), repo, o)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := registry.InputTag(inputDigest)
	if d, _ := crane.Digest(repo + ":" + it); d != third.Digest {
		t.Errorf("the input tag names %s, want %s", d, third.Digest)
	}
}

// A dirty build's commit tag ("<sha>-dirty") names the last build from
// uncommitted changes: it moves without Force, the bare SHA never does.
func TestDirtyCommitTagMoves(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	dirty := commit + DirtySuffix
	o := Options{Registry: c, Signer: s, Service: "orders", Commit: dirty, RunID: "r1", Tags: []string{dirty}}
	first, err := Tarball(ctx, tarball(t, 4), repo, o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Tarball(ctx, tarball(t, 5), repo, o)
	if err != nil {
		t.Fatalf("a second dirty build of the same commit: %v", err)
	}
	if d, _ := crane.Digest(repo + ":" + dirty); d != second.Digest || d == first.Digest {
		t.Errorf("%s names %s, want the second dirty build %s", dirty, d, second.Digest)
	}
	if tags, _ := crane.ListTags(repo); slices.Contains(tags, commit) {
		t.Errorf("a dirty build got the bare commit tag: %v", tags)
	}
}

// A denylisted digest is neither signed nor tagged.
func TestDenylistedImageIsNotPublished(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	bad := pushedDigestOf(t, 1)
	o := Options{Registry: c, Signer: s, Service: "orders", Commit: commit, InputDigest: inputDigest, Tags: []string{commit},
		Denied: func(d string) (string, bool) {
			return d + " is denylisted in deploy/slipway-state.yaml (bad build)", d == bad
		}}
	_, err := Tarball(ctx, tarball(t, 1), repo, o)
	if !errors.Is(err, ErrDenylisted) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "bad build") {
		t.Fatalf("err = %v", err)
	}
	tags, _ := crane.ListTags(repo)
	if len(tags) != 0 {
		t.Errorf("tags after refusing a denylisted image: %v", tags)
	}
	// Another image goes through.
	if _, err := Tarball(ctx, tarball(t, 2), repo, o); err != nil {
		t.Fatal(err)
	}
}

// pushedDigestOf is the digest of the test image of seed.
func pushedDigestOf(t *testing.T, seed int64) string {
	t.Helper()
	d, err := registrytest.Image(t, registrytest.ImageSpec{Seed: seed, Labels: map[string]string{registry.InputDigestLabel: inputDigest}}).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// pushedDigest is the digest of the test image of seed, checked to be in repo.
func pushedDigest(t *testing.T, repo string, seed int64) string {
	t.Helper()
	d := pushedDigestOf(t, seed)
	if _, err := crane.Head(repo + "@" + d); err != nil {
		t.Fatalf("%s@%s: %v", repo, d, err)
	}
	return d
}

func TestIndexChildrenSignedAndAttestedBeforeTheIndex(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 1})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 2, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	file := filepath.Join(t.TempDir(), "index.tar")
	registrytest.WriteOCITarball(t, file, registrytest.Index(t, amd, arm))
	pred := []byte(`{"buildDefinition":{"buildType":"x","externalParameters":{}},"runDetails":{"builder":{"id":"b"}}}`)
	o := Options{Registry: c, Signer: s, Service: "orders", Commit: commit, Tags: []string{commit},
		Children: map[string][]Predicate{"linux/arm64": {{Type: signing.PredicateSLSAProvenanceV1, Body: pred}}}}
	out, err := Tarball(ctx, file, repo, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Platforms) != 2 || out.Platforms[0].Platform != "linux/amd64" || out.Platforms[1].Platform != "linux/arm64" {
		t.Fatalf("platforms = %+v", out.Platforms)
	}
	v := s.Verifier()
	for _, p := range out.Platforms {
		ref := repo + "@" + p.Digest
		if p.Signature == "" || p.SizeBytes <= 0 {
			t.Errorf("%s: %+v", p.Platform, p)
		}
		if _, err := v.Verify(ctx, ref, map[string]string{signing.AnnotationService: "orders", signing.AnnotationPlatform: p.Platform}); err != nil {
			t.Errorf("%s image: %v", p.Platform, err)
		}
	}
	if _, err := v.VerifyAttestations(ctx, repo+"@"+out.Platforms[1].Digest, signing.PredicateSLSAProvenanceV1); err != nil {
		t.Errorf("the arm64 image's provenance: %v", err)
	}
	if _, err := v.VerifyAttestations(ctx, repo+"@"+out.Platforms[0].Digest, signing.PredicateSLSAProvenanceV1); !errors.Is(err, signing.ErrNoAttestations) {
		t.Errorf("the amd64 image got arm64's provenance: %v", err)
	}
	if _, err := v.Verify(ctx, repo+"@"+out.Digest, map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Errorf("the index: %v", err)
	}

	// Predicates for a platform the index lacks: nothing is tagged.
	o.Children = map[string][]Predicate{"linux/s390x": {{Type: signing.PredicateSLSAProvenanceV1, Body: pred}}}
	o.Tags = []string{"other"}
	if _, err := Tarball(ctx, file, repo, o); err == nil || !strings.Contains(err.Error(), "holds no linux/s390x image") {
		t.Fatalf("a missing platform was not refused: %v", err)
	}
	if tags, _ := crane.ListTags(repo); slices.Contains(tags, "other") {
		t.Errorf("tagged despite the refusal: %v", tags)
	}
}

func TestOnePlatformIsAnIndexOfOne(t *testing.T) {
	ctx := context.Background()
	host, c, s := setup(t, registrytest.Handler())
	repo := host + "/shop/orders"
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 3, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	file := filepath.Join(t.TempDir(), "image.tar")
	registrytest.WriteOCITarball(t, file, arm)
	out, err := Tarball(ctx, file, repo, Options{Registry: c, Signer: s, Service: "orders", Commit: commit, Tags: []string{commit}, Index: true})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := arm.Digest()
	if len(out.Platforms) != 1 || out.Platforms[0].Platform != "linux/arm64" || out.Platforms[0].Digest != want.String() || out.Digest == want.String() {
		t.Fatalf("result = %+v (image %s)", out, want)
	}
	raw, err := crane.Manifest(repo + ":" + commit)
	if err != nil || !strings.Contains(string(raw), `"application/vnd.oci.image.index.v1+json"`) {
		t.Fatalf("the commit tag does not name an index (%v): %s", err, raw)
	}
	// The module's index-level SBOM, made before the push, describes the
	// very index that was pushed.
	bom, err := sbom.FromArchive(ctx, file, sbom.AsIndex())
	if err != nil || bom.Metadata.Component.Version != out.Digest {
		t.Fatalf("the SBOM as an index describes %v (%v), the pushed index is %s", bom, err, out.Digest)
	}
}
