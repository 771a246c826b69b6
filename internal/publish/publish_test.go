package publish

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
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
