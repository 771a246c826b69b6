package promote

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

// publishIndex pushes a two-platform index for service, signed and
// attested as im says; each platform image is signed and attested the same
// way only when sign names its platform.
func (f *fixture) publishIndex(service string, im image, sign map[string]bool) (string, map[string]string) {
	f.t.Helper()
	ctx := context.Background()
	amd := registrytest.Image(f.t, registrytest.ImageSpec{Seed: im.seed, Layers: 1, LayerSize: 1024})
	arm := registrytest.Image(f.t, registrytest.ImageSpec{Seed: im.seed + 1000, Layers: 1, LayerSize: 1024, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	d, err := f.reg.PushIndex(ctx, registrytest.Index(f.t, amd, arm), f.repoOf(service)+":"+im.commit)
	if err != nil {
		f.t.Fatal(err)
	}
	children, err := f.reg.Children(ctx, d.String())
	if err != nil || len(children) != 2 {
		f.t.Fatalf("children of %s: %v, %v", d, children, err)
	}
	attest := func(ref, digest string) {
		if _, err := im.signer.Sign(ctx, ref, map[string]string{signing.AnnotationService: service, signing.AnnotationSourceCommit: im.commit}); err != nil {
			f.t.Fatal(err)
		}
		for _, kind := range im.attest {
			if _, err := im.signer.Attest(ctx, ref, AttestationPredicates[kind][0], f.predicate(kind, service, digest, im)); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	attest(d.String(), d.DigestStr())
	byPlatform := map[string]string{}
	for _, c := range children {
		digest := c.Ref[strings.LastIndex(c.Ref, "@")+1:]
		byPlatform[c.Platform] = digest
		if sign[c.Platform] {
			attest(c.Ref, digest)
		}
	}
	return d.DigestStr(), byPlatform
}

// TestIndexPromotedOnlyWhenEveryPlatformPasses: a multi-platform index is
// one release; an unsigned arm64 image keeps it out of staging, and prod's
// attestations and re-scan apply to each platform's image.
func TestIndexPromotedOnlyWhenEveryPlatformPasses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	digests := devReady(f)
	im := f.good(77, c1)
	idx, _ := f.publishIndex("orders", im, map[string]bool{"linux/amd64": true})
	digests["orders"] = idx
	f.deploy("dev", c1, map[string]string{"orders": idx})

	rep, err := Run(ctx, f.options("dev", "staging", "orders"))
	if err == nil || status(rep, "orders").Status == report.Promoted ||
		!strings.Contains(err.Error(), "orders: linux/arm64 image of "+idx) || !strings.Contains(err.Error(), "image is not signed") {
		t.Fatalf("an index with an unsigned arm64 image was promoted or refused for another reason: %v", err)
	}
	if f.imageIn("staging", "orders").Image.Digest == idx {
		t.Fatal("staging pins the refused index")
	}

	// Every platform signed and attested: staging, then prod, where each
	// platform's image is re-scanned under prod's policy.
	im.seed = 88
	idx, kids := f.publishIndex("orders", im, map[string]bool{"linux/amd64": true, "linux/arm64": true})
	f.deploy("dev", c1, map[string]string{"orders": idx})
	if rep, err = Run(ctx, f.options("dev", "staging", "orders")); err != nil || status(rep, "orders").Status != report.Promoted {
		t.Fatalf("a complete index was not promoted to staging: %v %+v", err, rep)
	}
	sc := &scanner{found: map[string]map[string]int{kids["linux/amd64"]: {"LOW": 2}, kids["linux/arm64"]: {"LOW": 1, "MEDIUM": 1}}}
	o := f.options("staging", "prod", "orders")
	o.Scanner = sc
	if rep, err = Run(ctx, o); err != nil || status(rep, "orders").Status != report.Promoted {
		t.Fatalf("a complete index was not promoted to prod: %v %+v", err, rep)
	}
	if got := status(rep, "orders").Vulnerabilities; got["LOW"] != 3 || got["MEDIUM"] != 1 {
		t.Errorf("the re-scan counts %v are not the sum over the platform images", got)
	}
	if f.imageIn("prod", "orders").Image.Digest != idx {
		t.Errorf("prod does not pin the index %s", idx)
	}
	if len(sc.refs) != 2 || !strings.Contains(strings.Join(sc.refs, " "), kids["linux/arm64"]) || !strings.Contains(strings.Join(sc.refs, " "), kids["linux/amd64"]) {
		t.Errorf("re-scanned %v, want each platform's image (%v)", sc.refs, kids)
	}
}

// TestIndexCopiedAcrossRegistriesWithEveryPlatformsSignatures: promoted
// into another registry, the index and each platform image verify there,
// with their attestations.
func TestIndexCopiedAcrossRegistriesWithEveryPlatformsSignatures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	devReady(f)
	idx, kids := f.publishIndex("orders", f.good(99, c1), map[string]bool{"linux/amd64": true, "linux/arm64": true})
	f.deploy("dev", c1, map[string]string{"orders": idx})
	prodHost := registrytest.Serve(t, registrytest.Handler())
	o := f.options("dev", "prod", "orders")
	o.TargetRegistry = prodHost
	if rep, err := Run(ctx, o); err != nil || status(rep, "orders").Status != report.Promoted {
		t.Fatalf("promotion across registries: %v %+v", err, rep)
	}
	dst := prodHost + "/shop/orders"
	for what, d := range map[string]string{"the index": idx, "linux/amd64": kids["linux/amd64"], "linux/arm64": kids["linux/arm64"]} {
		ref := dst + "@" + d
		if _, err := f.verifier.Verify(ctx, ref, map[string]string{signing.AnnotationService: "orders"}); err != nil {
			t.Errorf("%s does not verify in the destination: %v", what, err)
		}
		if _, err := f.verifier.VerifyAttestations(ctx, ref, signing.PredicateCycloneDX); err != nil {
			t.Errorf("%s's SBOM attestation does not verify in the destination: %v", what, err)
		}
	}
	if cur := f.imageIn("prod", "orders"); cur.Image.Name != dst || cur.Image.Digest != idx {
		t.Errorf("prod manifest = %+v, want the index %s in %s", cur.Image, idx, dst)
	}
}
