package reuse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

var (
	keysOnce          sync.Once
	mainKeys, another *signing.KeyPair
	keysErr           error
)

const inputDigest = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

// fixture is an in-memory registry (counting requests), the project's key
// and another key.
type fixture struct {
	t       testing.TB
	host    string
	counter *registrytest.Counter
	reg     *registry.Client
	signer  *signing.Signer
	other   *signing.Signer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	keysOnce.Do(func() {
		mainKeys, keysErr = signing.GenerateKeyPair([]byte("pw"))
		if keysErr == nil {
			another, keysErr = signing.GenerateKeyPair([]byte("other"))
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	counter := registrytest.Count(registrytest.Handler())
	host := registrytest.Serve(t, counter)
	c, err := registry.New(registry.WithRetry(registry.RetryPolicy{MaxAttempts: 2, BaseDelay: 1, MaxDelay: 2}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSigner(mainKeys.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	o, err := signing.LoadSigner(another.PrivateKeyPEM, []byte("other"), signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, host: host, counter: counter, reg: c, signer: s, other: o}
}

// push pushes an image labelled with the input digest under its input tag,
// as ci (or anyone planting one) does, and returns its digest reference.
func (f *fixture) push(seed int64) string {
	f.t.Helper()
	img := registrytest.Image(f.t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 256, Labels: map[string]string{registry.InputDigestLabel: inputDigest}})
	tag, _ := registry.InputTag(inputDigest)
	d, err := f.reg.PushImage(context.Background(), img, fmt.Sprintf("%s/shop/orders:%s", f.host, tag))
	if err != nil {
		f.t.Fatal(err)
	}
	return d.String()
}

func (f *fixture) sign(s *signing.Signer, ref, service string) {
	f.t.Helper()
	if _, err := s.Sign(context.Background(), ref, map[string]string{signing.AnnotationService: service, signing.AnnotationSourceCommit: "c0ffee"}); err != nil {
		f.t.Fatal(err)
	}
}

var predicates = map[string][2]string{
	"slsa": {signing.PredicateSLSAProvenanceV1, `{"buildDefinition":{"buildType":"https://slipway.dev/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/ci"}}}`},
	"test": {signing.PredicateTestResult, `{"result":"PASSED","configuration":[],"passedTests":["unit"],"failedTests":[]}`},
	"sbom": {signing.PredicateCycloneDX, `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`},
}

func (f *fixture) attest(s *signing.Signer, ref string, kinds ...string) {
	f.t.Helper()
	for _, k := range kinds {
		p := predicates[k]
		if _, err := s.Attest(context.Background(), ref, p[0], []byte(p[1])); err != nil {
			f.t.Fatal(err)
		}
	}
}

// copySignature puts the signature of from under to's signature tag.
func (f *fixture) copySignature(from, to string) {
	f.t.Helper()
	registrytest.ReplaySignature(f.t, from, to, f.reg.RemoteOptions(context.Background())...)
}

// writes counts the requests that change the registry.
func (f *fixture) writes() int {
	n := 0
	for _, m := range []string{"PUT", "POST", "PATCH", "DELETE"} {
		n += f.counter.Requests(m, "")
	}
	return n
}

func (f *fixture) options(st *state.State) Options {
	return Options{Service: "orders", Verifier: f.signer.Verifier(), State: st, RequireAttestations: []string{"slsa", "test"}}
}

func denylist(t testing.TB, digests ...string) *state.State {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\npins: []\ndenylist:\n")
	for _, d := range digests {
		fmt.Fprintf(&b, "  - digest: %s\n    reason: leaked credentials in a layer\n    by: alice\n    at: 2026-01-02T03:04:05Z\n", d)
	}
	st, err := state.Parse("deploy/slipway-state.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	good := f.push(1)
	f.sign(f.signer, good, "orders")
	f.attest(f.signer, good, "slsa", "test")

	unsigned := f.push(2)

	foreign := f.push(3)
	f.sign(f.other, foreign, "orders")
	f.attest(f.other, foreign, "slsa", "test")

	otherService := f.push(4)
	f.sign(f.signer, otherService, "catalog")
	f.attest(f.signer, otherService, "slsa", "test")

	copied := f.push(5)
	f.copySignature(good, copied)

	noTest := f.push(6)
	f.sign(f.signer, noTest, "orders")
	f.attest(f.signer, noTest, "slsa", "sbom")

	foreignAttestation := f.push(7)
	f.sign(f.signer, foreignAttestation, "orders")
	f.attest(f.signer, foreignAttestation, "slsa")
	f.attest(f.other, foreignAttestation, "test")

	digestOf := func(ref string) string { return ref[strings.Index(ref, "@")+1:] }
	empty := denylist(t)
	cases := []struct {
		name   string
		ref    string
		st     *state.State
		reason Reason
		kind   string
		says   string
	}{
		{"good", good, empty, "", "", ""},
		{"unsigned", unsigned, empty, Unsigned, "", "has no valid signature by the configured key"},
		{"signed by another key", foreign, empty, ForeignKey, "", "has no valid signature by the configured key"},
		{"signed for another service", otherService, empty, OtherService, "", `"catalog"`},
		{"signature copied from another digest", copied, empty, CopiedSignature, "", digestOf(good)},
		{"missing required attestation", noTest, empty, MissingAttestation, "test", "no verified test attestation"},
		{"required attestation by another key", foreignAttestation, empty, MissingAttestation, "test", "no verified test attestation"},
		{"denylisted", good, denylist(t, digestOf(good)), Denylisted, "", "is denylisted in deploy/slipway-state.yaml (leaked credentials in a layer, by alice"},
		{"another digest denylisted", good, denylist(t, digestOf(unsigned)), "", "", ""},
		{"no state", good, nil, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.writes()
			r, err := Check(ctx, f.reg, tc.ref, f.options(tc.st))
			if err != nil {
				t.Fatal(err)
			}
			if f.writes() != before {
				t.Errorf("Check wrote to the registry")
			}
			if tc.reason == "" {
				if r != nil {
					t.Fatalf("refused the good image: %v", r)
				}
				return
			}
			if r == nil {
				t.Fatalf("reused; want refusal %s", tc.reason)
			}
			if r.Reason != tc.reason || r.Kind != tc.kind || r.Digest != digestOf(tc.ref) {
				t.Errorf("refusal = %+v, want reason %s kind %q digest %s", r, tc.reason, tc.kind, digestOf(tc.ref))
			}
			note := r.Note("orders")
			for _, want := range []string{"orders: input-digest image " + digestOf(tc.ref), tc.says, ": rebuilt"} {
				if !strings.Contains(note, want) {
					t.Errorf("note %q does not say %q", note, want)
				}
			}
		})
	}

	// Without a signing key only the denylist is checked: an unsigned image
	// is reused (ci says so in its notes), a denylisted one is not.
	if r, err := Check(ctx, f.reg, unsigned, Options{Service: "orders", State: empty}); r != nil || err != nil {
		t.Errorf("without a key: %v, %v", r, err)
	}
	if r, err := Check(ctx, f.reg, good, Options{Service: "orders", State: denylist(t, digestOf(good))}); err != nil || r == nil || r.Reason != Denylisted {
		t.Errorf("denylisted without a key: %v, %v", r, err)
	}
}

// A registry that cannot answer is an error, not a refusal: the answer is
// unknown, and ci stops rather than rebuild on a guess.
func TestCheckRegistryDown(t *testing.T) {
	f := newFixture(t)
	ref := f.push(1)
	down, err := registry.New(registry.WithRetry(registry.RetryPolicy{MaxAttempts: 1, BaseDelay: 1, MaxDelay: 1}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSigner(mainKeys.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(down))
	if err != nil {
		t.Fatal(err)
	}
	gone := strings.Replace(ref, f.host, "127.0.0.1:1", 1)
	r, err := Check(context.Background(), down, gone, Options{Service: "orders", Verifier: s.Verifier()})
	if err == nil || r != nil || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("Check against a dead registry = %v, %v", r, err)
	}
	var ref2 *Refusal
	if errors.As(err, &ref2) {
		t.Fatalf("a dead registry reads as a refusal: %v", err)
	}
}

// BenchmarkCheck measures what verification adds to reusing one service:
// the signature and the required attestations (slsa, sbom, test) of one
// image, against an in-memory registry. The ms/service metric is the
// extra cost of reuse per service.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	ref := f.push(1)
	f.sign(f.signer, ref, "orders")
	f.attest(f.signer, ref, "slsa", "sbom", "test")
	o := f.options(denylist(b))
	o.RequireAttestations = []string{"slsa", "sbom", "test"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r, err := Check(ctx, f.reg, ref, o); r != nil || err != nil {
			b.Fatal(r, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/service")
}

func TestCheckIndexNeedsEveryPlatformSigned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 11})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 12, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	d, err := f.reg.PushIndex(ctx, registrytest.Index(t, amd, arm), f.host+"/shop/orders:idx")
	if err != nil {
		t.Fatal(err)
	}
	ref := d.String()
	f.sign(f.signer, ref, "orders")
	f.attest(f.signer, ref, "slsa", "test")
	o := f.options(nil)
	o.Platforms = []string{"linux/amd64", "linux/arm64"}

	// The index is signed, its platform images are not: rebuilt.
	r, err := Check(ctx, f.reg, ref, o)
	if err != nil || r == nil || r.Reason != Unsigned || !strings.Contains(r.Detail, "linux/amd64 image") {
		t.Fatalf("unsigned platform images: %v, %v", r, err)
	}
	children, err := f.reg.Children(ctx, ref)
	if err != nil || len(children) != 2 {
		t.Fatalf("children: %v, %v", children, err)
	}
	for _, c := range children {
		f.sign(f.signer, c.Ref, "orders")
	}
	// Signed but not attested as the environment requires: rebuilt.
	if r, err := Check(ctx, f.reg, ref, o); err != nil || r == nil || r.Reason != MissingAttestation || !strings.Contains(r.Detail, "linux/amd64 image") {
		t.Fatalf("unattested platform images: %v, %v", r, err)
	}
	for _, c := range children {
		f.attest(f.signer, c.Ref, "slsa", "test")
	}
	if r, err := Check(ctx, f.reg, ref, o); r != nil || err != nil {
		t.Fatalf("a complete, signed index was refused: %v, %v", r, err)
	}
	// A platform the index lacks: rebuilt, never reused.
	o.Platforms = append(o.Platforms, "linux/s390x")
	if r, err := Check(ctx, f.reg, ref, o); err != nil || r == nil || r.Reason != IncompleteIndex || !strings.Contains(r.Error(), "holds no linux/s390x image") {
		t.Fatalf("an incomplete index: %v, %v", r, err)
	}
}
