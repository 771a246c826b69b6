package signing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// TestSignAndAttestUnderFaultsLandExactlyOnce signs and attests images
// through a front end failing 30 % of requests (503, 429 with Retry-After,
// TCP reset) and checks, behind it, that every signature and attestation was
// written exactly once.
func TestSignAndAttestUnderFaultsLandExactlyOnce(t *testing.T) {
	ctx := context.Background()
	counter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	faults := registrytest.Faults(counter, registrytest.FaultConfig{Rate: 0.3, RetryAfter: 1, Seed: 11})
	host := registrytest.Serve(t, faults)
	f := fixtureOn(t, host, client(t, registry.WithRetry(faultRetry)))

	faults.SetEnabled(false)
	const images = 4
	refs := make([]string, images)
	for i := range refs {
		refs[i] = f.push(t, fmt.Sprintf("svc%d", i), int64(60+i))
	}
	faults.SetEnabled(true)
	counter.Reset()

	var wg sync.WaitGroup
	errs := make([]error, images)
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ann := map[string]string{AnnotationService: fmt.Sprintf("svc%d", i), AnnotationRunID: "run-1"}
			if _, err := f.signer.Sign(ctx, ref, ann); err != nil {
				errs[i] = err
				return
			}
			if _, err := f.signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = f.signer.Attest(ctx, ref, PredicateCycloneDX, cyclonedxPredicate)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("image %d under faults: %v", i, err)
		}
	}
	inj := faults.Injected()
	t.Logf("injected %v over %d requests", inj, faults.Requests())
	faults.SetEnabled(false)

	for i, ref := range refs {
		h := digestHex(t, ref)
		repo := fmt.Sprintf("svc%d", i)
		sigTag, attTag := h.Algorithm+"-"+h.Hex+".sig", h.Algorithm+"-"+h.Hex+".att"
		if n := counter.ManifestPuts(repo, sigTag); n != 1 {
			t.Errorf("%s: signature manifest written %d times, want 1", repo, n)
		}
		if n := counter.ManifestPuts(repo, attTag); n != 2 {
			t.Errorf("%s: attestation manifest written %d times, want 2 (one per predicate type)", repo, n)
		}
		if n := countLayers(t, host+"/"+repo+":"+sigTag); n != 1 {
			t.Errorf("%s: %d signatures stored, want exactly 1", repo, n)
		}
		if n := countLayers(t, host+"/"+repo+":"+attTag); n != 2 {
			t.Errorf("%s: %d attestations stored, want exactly 2", repo, n)
		}
		if _, err := f.verifier.Verify(ctx, ref, map[string]string{AnnotationService: repo}); err != nil {
			t.Errorf("%s: %v", repo, err)
		}
		for _, typ := range []string{PredicateSLSAProvenanceV1, PredicateCycloneDX} {
			if sts, err := f.verifier.VerifyAttestations(ctx, ref, typ); err != nil || len(sts) != 1 {
				t.Errorf("%s %s: %d statements, %v", repo, typ, len(sts), err)
			}
		}
	}
	for _, k := range []registrytest.Fault{registrytest.Unavailable, registrytest.TooManyRequests, registrytest.Reset} {
		if inj[k] == 0 {
			t.Errorf("no %s fault was injected", k)
		}
	}
}

// TestSigningUnauthorizedFailsFast: a refused credential is not retried.
func TestSigningUnauthorizedFailsFast(t *testing.T) {
	ctx := context.Background()
	auth := registrytest.BasicAuth(registrytest.Handler(), "ci", "pw")
	host := registrytest.Serve(t, auth)
	good := fixtureOn(t, host, client(t, registry.WithBasicAuth(host, "ci", "pw")))
	ref := good.push(t, "api", 70)

	bad := fixtureOn(t, host, client(t, registry.WithBasicAuth(host, "ci", "nope"), registry.WithRetry(faultRetry)))
	before := auth.Denied()
	_, err := bad.signer.Sign(ctx, ref, nil)
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), ref) {
		t.Fatalf("Sign with a wrong password: %v", err)
	}
	if n := auth.Denied() - before; n != 1 {
		t.Errorf("%d refused attempts, want exactly 1", n)
	}
	before = auth.Denied()
	if _, err := bad.verifier.Verify(ctx, ref, nil); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("Verify with a wrong password: %v", err)
	}
	if n := auth.Denied() - before; n != 1 {
		t.Errorf("%d refused attempts, want exactly 1", n)
	}
}
