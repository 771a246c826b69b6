package signing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A key signer with WithBundles writes Sigstore bundles (offline: no log,
// no timestamp) as referrers; the key's verifier reads them, refuses
// another key's and a replayed one, and stock cosign v3 verifies them with
// --key --insecure-ignore-tlog.
func TestKeySignedBundles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mk, ok := keys(t)
	s, err := LoadSigner(mk.PrivateKeyPEM, testPassword, WithRegistry(f.client), WithBundles())
	if err != nil {
		t.Fatal(err)
	}
	ref := f.push(t, "api", 500)
	res, err := s.Sign(ctx, ref, annotationSet)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Ref, "@sha256:") {
		t.Errorf("stored at %q, want a referrer", res.Ref)
	}
	if _, err := s.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
		t.Fatal(err)
	}
	// No classic tag was written.
	if ok, err := f.client.Exists(ctx, f.host+"/api:"+sigTagName(digestHex(t, ref), "sig")); err != nil || ok {
		t.Errorf("a classic signature tag exists (%v, %v)", ok, err)
	}
	sigs, err := f.verifier.Verify(ctx, ref, map[string]string{AnnotationService: "api"})
	if err != nil || len(sigs) != 1 || sigs[0].Annotations[AnnotationRunID] != "run-42" {
		t.Fatalf("verify: %+v %v", sigs, err)
	}
	if sts, err := f.verifier.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1); err != nil || len(sts) != 1 {
		t.Fatalf("verify attestations: %v", err)
	}
	other, err := LoadVerifier(ok.PublicKeyPEM, WithRegistry(f.client))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(ctx, ref, nil); !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("another key: %v", err)
	}
	if _, err := f.verifier.Verify(ctx, ref, map[string]string{AnnotationService: "web"}); !errors.Is(err, ErrAnnotationMismatch) {
		t.Errorf("another service: %v", err)
	}

	// A verifier with identities but no key has nothing to check a key's
	// bundle with: not verifiable, which refuses like an invalid one.
	idOnly, err := NewVerifier(nil, &KeylessPolicy{Identities: []Identity{{Issuer: GitHubActionsOIDCIssuer, Subject: "https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/main"}}}, WithRegistry(f.client))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idOnly.Verify(ctx, ref, nil); !errors.Is(err, ErrNotVerifiable) || !errors.Is(err, ErrSignatureInvalid) || !strings.Contains(err.Error(), "no public key is given") {
		t.Errorf("identities only, a key's bundle: %v", err)
	}

	dir := t.TempDir()
	pub := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pub, mk.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign3(t, "verify", "--key", pub, "--insecure-ignore-tlog", "-a", AnnotationService+"=api", ref); err != nil {
		t.Errorf("cosign v3 verify --key: %v\n%s", err, out)
	}
	if out, err := cosign3(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance1", ref); err != nil {
		t.Errorf("cosign v3 verify-attestation --key: %v\n%s", err, out)
	}
	otherPub := filepath.Join(dir, "other.pub")
	if err := os.WriteFile(otherPub, ok.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign3(t, "verify", "--key", otherPub, "--insecure-ignore-tlog", ref); err == nil {
		t.Errorf("cosign v3 verified with another key:\n%s", out)
	}
}
