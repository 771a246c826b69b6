package signing

// Keyless signing against a private Sigstore stack of real servers (Fulcio,
// Rekor v2, a timestamp authority, and the project's own OIDC issuer; see
// sigstoretest), verified by slipway and by the stock cosign v3 CLI.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slipwayci/slipway/internal/signing/sigstoretest"
)

var (
	ciWorkflow      = sigstoretest.Workflow{Repository: "acme/shop", File: ".github/workflows/ci.yml", Ref: "refs/heads/main"}
	promoteWorkflow = sigstoretest.Workflow{Repository: "acme/shop", File: ".github/workflows/promote.yml", Ref: "refs/heads/main"}
)

// identityOf is the certificate identity Fulcio gives a GitHub workflow.
func identityOf(w sigstoretest.Workflow) string {
	return "https://github.com/" + w.Repository + "/" + w.File + "@" + w.Ref
}

func keylessSigner(t *testing.T, st *sigstoretest.Stack, f *fixture) *Signer {
	t.Helper()
	s, err := NewKeylessSigner(KeylessConfig{SigningConfig: st.SigningConfig, OIDCIssuer: st.Issuer.URL,
		TokenRequestURL: st.Issuer.TokenRequestURL(), TokenRequestToken: st.Issuer.RequestToken}, WithRegistry(f.client))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keylessVerifierFor(t *testing.T, st *sigstoretest.Stack, f *fixture, key []byte, ids ...Identity) *Verifier {
	t.Helper()
	v, err := NewVerifier(key, &KeylessPolicy{TrustedRoot: st.TrustedRoot, Identities: ids, IgnoreSCT: true}, WithRegistry(f.client))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeylessAgainstALocalSigstoreStack(t *testing.T) {
	ctx := context.Background()
	st := sigstoretest.Start(t, "127.0.0.1", ciWorkflow)
	f := newFixture(t)
	signer := keylessSigner(t, st, f)
	ref := f.push(t, "api", 300)
	other := f.push(t, "api", 301)
	slsa := []byte(`{"buildDefinition":{"buildType":"https://slipway.dev/build/v1"},"runDetails":{"builder":{"id":"https://slipway.dev"}}}`)

	for _, r := range []string{ref, other} {
		if _, err := signer.Sign(ctx, r, annotationSet); err != nil {
			t.Fatal(err)
		}
	}
	res, err := signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, slsa)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Ref, "@sha256:") {
		t.Errorf("the attestation is stored at %q, want a referrer manifest by digest", res.Ref)
	}
	// One certificate for the run, one log entry per signature.
	if signer.keyless.certs != 1 || st.Issuer.Issued() != 1 {
		t.Errorf("3 signatures took %d certificates and %d tokens, want 1 and 1", signer.keyless.certs, st.Issuer.Issued())
	}
	if !strings.Contains(string(signer.Certificate()), "BEGIN CERTIFICATE") {
		t.Errorf("Certificate() = %q", signer.Certificate())
	}

	ci := Identity{Issuer: st.Issuer.URL, Subject: identityOf(ciWorkflow)}
	v := keylessVerifierFor(t, st, f, nil, ci)
	sigs, err := v.Verify(ctx, ref, map[string]string{AnnotationService: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0].Signer != identityOf(ciWorkflow) || sigs[0].Issuer != st.Issuer.URL || sigs[0].Annotations[AnnotationRunID] != "run-42" ||
		!strings.Contains(sigs[0].Ref, "/api@sha256:") {
		t.Errorf("verified %+v", sigs)
	}
	stmts, err := v.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1)
	if err != nil || len(stmts) != 1 || !strings.Contains(string(stmts[0].Predicate), "slipway.dev/build/v1") {
		t.Fatalf("attestations: %+v %v", stmts, err)
	}

	t.Run("identities", func(t *testing.T) {
		accept := map[string]Identity{
			"regexp":             {Issuer: st.Issuer.URL, SubjectRegexp: `https://github\.com/acme/shop/\.github/workflows/.+@refs/heads/main`},
			"issuer regexp":      {IssuerRegexp: `http://127\.0\.0\.1:\d+`, Subject: identityOf(ciWorkflow)},
			"repository and ref": {Issuer: st.Issuer.URL, SubjectRegexp: ".*", Repository: "acme/shop", Ref: "refs/heads/main"},
			"workflow":           {Issuer: st.Issuer.URL, SubjectRegexp: ".*", Workflow: ".github/workflows/ci.yml"},
		}
		for name, id := range accept {
			if _, err := keylessVerifierFor(t, st, f, nil, id).Verify(ctx, ref, nil); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		refuse := map[string]struct {
			id  Identity
			why string
		}{
			"another workflow":   {Identity{Issuer: st.Issuer.URL, Subject: identityOf(promoteWorkflow)}, "its subject differs"},
			"partial regexp":     {Identity{Issuer: st.Issuer.URL, SubjectRegexp: `acme/shop`}, "its subject differs"},
			"another issuer":     {Identity{Issuer: GitHubActionsOIDCIssuer, Subject: identityOf(ciWorkflow)}, "its issuer differs"},
			"another repository": {Identity{Issuer: st.Issuer.URL, SubjectRegexp: ".*", Repository: "acme/other"}, "its repository differs"},
			"another ref":        {Identity{Issuer: st.Issuer.URL, SubjectRegexp: ".*", Ref: "refs/tags/v1"}, "its ref differs"},
			"another workflow file": {Identity{Issuer: st.Issuer.URL, SubjectRegexp: ".*", Workflow: ".github/workflows/promote.yml"},
				"its workflow differs"},
		}
		for name, tc := range refuse {
			_, err := keylessVerifierFor(t, st, f, nil, tc.id).Verify(ctx, ref, nil)
			if !errors.Is(err, ErrSignatureInvalid) || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "signed by "+identityOf(ciWorkflow)) {
				t.Errorf("%s: %v, want ErrSignatureInvalid naming the signer and %q", name, err, tc.why)
			}
		}
	})

	t.Run("signers apart from attesters", func(t *testing.T) {
		// prod takes signatures by the release workflow only, attestations
		// by the build's.
		release := Identity{Issuer: st.Issuer.URL, Subject: identityOf(promoteWorkflow)}
		v, err := NewVerifier(nil, &KeylessPolicy{TrustedRoot: st.TrustedRoot, Identities: []Identity{release}, AttestedBy: []Identity{ci, release}, IgnoreSCT: true}, WithRegistry(f.client))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, ref, nil); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("signed by ci.yml, verified for promote.yml: %v", err)
		}
		if _, err := v.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1); err != nil {
			t.Errorf("attested by ci.yml: %v", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		if _, err := v.Verify(ctx, ref, map[string]string{AnnotationService: "web"}); !errors.Is(err, ErrAnnotationMismatch) {
			t.Errorf("wrong service: %v", err)
		}
		unsigned := f.push(t, "api", 302)
		if _, err := v.Verify(ctx, unsigned, nil); !errors.Is(err, ErrUnsigned) {
			t.Errorf("unsigned: %v", err)
		}
		if _, err := v.VerifyAttestations(ctx, other, PredicateSLSAProvenanceV1); !errors.Is(err, ErrNoAttestations) {
			t.Errorf("no attestation: %v", err)
		}
		if _, err := v.VerifyAttestations(ctx, ref, PredicateCycloneDX); !errors.Is(err, ErrNoAttestations) || !strings.Contains(err.Error(), "only the types") {
			t.Errorf("another type: %v", err)
		}
		// An attestation is not a signature.
		attestedOnly := f.push(t, "api", 303)
		if _, err := signer.Attest(ctx, attestedOnly, PredicateSLSAProvenanceV1, slsa); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, attestedOnly, nil); !errors.Is(err, ErrUnsigned) {
			t.Errorf("an attestation taken for a signature: %v", err)
		}
	})

	t.Run("replayed bundle", func(t *testing.T) {
		// The signature bundle of ref, stored as a referrer of a new image.
		victim := f.push(t, "api", 304)
		d, _ := name.NewDigest(ref)
		stored, err := readBundles(ctx, f.client, d)
		if err != nil {
			t.Fatal(err)
		}
		vd, _ := name.NewDigest(victim)
		for _, sb := range stored {
			if _, err := writeBundle(ctx, f.client, vd, sb.json, sb.predicateType, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := v.Verify(ctx, victim, nil); !errors.Is(err, ErrClaimMismatch) {
			t.Errorf("a replayed signature: %v, want ErrClaimMismatch", err)
		}
		if _, err := v.VerifyAttestations(ctx, victim, PredicateSLSAProvenanceV1); !errors.Is(err, ErrClaimMismatch) {
			t.Errorf("a replayed attestation: %v, want ErrClaimMismatch", err)
		}
	})

	t.Run("stripped log entry", func(t *testing.T) {
		// The same bundle without its transparency log entry: a signature
		// nobody can audit is refused.
		victim := f.push(t, "api", 305)
		vd, _ := name.NewDigest(victim)
		s2 := keylessSigner(t, st, f)
		if _, err := s2.Sign(ctx, victim, nil); err != nil {
			t.Fatal(err)
		}
		stored, err := readBundles(ctx, f.client, vd)
		if err != nil || len(stored) != 1 {
			t.Fatalf("%d bundles, %v", len(stored), err)
		}
		deleteReferrers(t, f, vd)
		var b map[string]any
		if err := json.Unmarshal(stored[0].json, &b); err != nil {
			t.Fatal(err)
		}
		delete(b["verificationMaterial"].(map[string]any), "tlogEntries")
		stripped, _ := json.Marshal(b)
		if _, err := writeBundle(ctx, f.client, vd, stripped, SignPredicateType, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, victim, nil); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("no log entry: %v, want ErrSignatureInvalid", err)
		}
	})

	t.Run("another trust root", func(t *testing.T) {
		// A second stack's trusted root does not trust this stack's CA.
		st2 := sigstoretest.Start(t, "127.0.0.1", ciWorkflow)
		v2, err := NewVerifier(nil, &KeylessPolicy{TrustedRoot: st2.TrustedRoot, Identities: []Identity{ci}, IgnoreSCT: true}, WithRegistry(f.client))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v2.Verify(ctx, ref, nil); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("another trusted root: %v", err)
		}
		// Production verification checks SCTs; this stack's Fulcio logs
		// to no CT log, so its certificates fail that check.
		v3, err := NewVerifier(nil, &KeylessPolicy{TrustedRoot: st.TrustedRoot, Identities: []Identity{ci}}, WithRegistry(f.client))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v3.Verify(ctx, ref, nil); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("SCT check on: %v", err)
		}
	})

	t.Run("key or identity", func(t *testing.T) {
		mk, _ := keys(t)
		both := keylessVerifierFor(t, st, f, mk.PublicKeyPEM, ci)
		keyed := f.push(t, "api", 306)
		if _, err := f.signer.Sign(ctx, keyed, annotationSet); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{ref, keyed} {
			if _, err := both.Verify(ctx, r, map[string]string{AnnotationService: "api"}); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
		if _, err := v.Verify(ctx, keyed, nil); !errors.Is(err, ErrUnsigned) {
			t.Errorf("identities only, a key's signature: %v", err)
		}
		// Identities under the public-good root, which would be fetched
		// over the network: a key-signed image carries no bundle, so key
		// users with identities configured verify offline.
		offline, err := NewVerifier(mk.PublicKeyPEM, &KeylessPolicy{Identities: []Identity{ci}}, WithRegistry(f.client))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := offline.Verify(ctx, keyed, map[string]string{AnnotationService: "api"}); err != nil {
			t.Errorf("a key's signature with the public-good root configured: %v", err)
		}
	})

	t.Run("copied with its bundles", func(t *testing.T) {
		dst := f.host + "/promoted/api"
		if _, err := f.client.Copy(ctx, ref, dst); err != nil {
			t.Fatal(err)
		}
		copied := dst + "@" + digestHex(t, ref).String()
		if _, err := v.Verify(ctx, copied, nil); !errors.Is(err, ErrUnsigned) {
			t.Fatalf("before its signatures are copied: %v", err)
		}
		written, err := CopySignatures(ctx, f.client, ref, dst)
		if err != nil || len(written) != 2 {
			t.Fatalf("copied %v, %v; want the signature and the attestation bundle", written, err)
		}
		if _, err := v.Verify(ctx, copied, map[string]string{AnnotationService: "api"}); err != nil {
			t.Error(err)
		}
		if _, err := v.VerifyAttestations(ctx, copied, PredicateSLSAProvenanceV1); err != nil {
			t.Error(err)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		expired, err := st.Issuer.Token(ciWorkflow, sigstoretest.Audience, -time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewKeylessSigner(KeylessConfig{SigningConfig: st.SigningConfig, IDToken: expired}, WithRegistry(f.client))
		if err == nil {
			_, err = s.Sign(ctx, other, nil)
		}
		if !errors.Is(err, ErrKeylessConfig) || !strings.Contains(err.Error(), "expired") || strings.Contains(err.Error(), expired) {
			t.Errorf("expired token: %v", err)
		}
		bad, err := NewKeylessSigner(KeylessConfig{SigningConfig: st.SigningConfig, TokenRequestURL: st.Issuer.TokenRequestURL(), TokenRequestToken: "wrong"}, WithRegistry(f.client))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bad.Sign(ctx, other, nil); !errors.Is(err, ErrKeylessToken) || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("refused token request: %v", err)
		}
		// A token for another audience: Fulcio refuses it.
		wrongAud, err := st.Issuer.Token(ciWorkflow, "api://other", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewKeylessSigner(KeylessConfig{SigningConfig: st.SigningConfig, IDToken: wrongAud}, WithRegistry(f.client)); !errors.Is(err, ErrKeylessConfig) {
			t.Errorf("audience: %v", err)
		}
	})

	t.Run("stock cosign v3", func(t *testing.T) {
		dir := t.TempDir()
		tr := filepath.Join(dir, "trusted_root.json")
		if err := os.WriteFile(tr, st.TrustedRoot, 0o644); err != nil {
			t.Fatal(err)
		}
		common := []string{"--trusted-root", tr, "--insecure-ignore-sct", "--certificate-oidc-issuer", st.Issuer.URL}
		if out, err := cosign3(t, append([]string{"verify"}, append(common, "--certificate-identity", identityOf(ciWorkflow), "-a", AnnotationService+"=api", ref)...)...); err != nil {
			t.Errorf("cosign verify: %v\n%s", err, out)
		}
		if out, err := cosign3(t, append([]string{"verify-attestation", "--type", "slsaprovenance1"}, append(common, "--certificate-identity", identityOf(ciWorkflow), ref)...)...); err != nil {
			t.Errorf("cosign verify-attestation: %v\n%s", err, out)
		}
		if out, err := cosign3(t, append([]string{"verify"}, append(common, "--certificate-identity", identityOf(promoteWorkflow), ref)...)...); err == nil {
			t.Errorf("cosign verify accepted another identity:\n%s", out)
		}
	})
}

// deleteReferrers deletes every referrer manifest of d.
func deleteReferrers(t *testing.T, f *fixture, d name.Digest) {
	t.Helper()
	idx, err := remote.Referrers(d, f.client.RemoteOptions(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		if err := remote.Delete(d.Repository.Digest(m.Digest.String()), f.client.RemoteOptions(context.Background())...); err != nil {
			t.Fatal(err)
		}
	}
}

// fixedCert is a certificate provider that hands out one certificate.
type fixedCert []byte

func (f fixedCert) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return f, nil
}

// TestKeylessCertificateMustBeValidAtSigningTime signs through the stack's
// timestamp authority and Rekor with certificates of a CA of the test's own
// (trusted through a copy of the stack's trusted root): one valid when the
// timestamp is taken, which verifies, and one that had expired, which must
// not.
func TestKeylessCertificateMustBeValidAtSigningTime(t *testing.T) {
	ctx := context.Background()
	st := sigstoretest.Start(t, "127.0.0.1", ciWorkflow)
	f := newFixture(t)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"test-fulcio"}, CommonName: "test-fulcio"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(st.TrustedRoot, &tr); err != nil {
		t.Fatal(err)
	}
	tr.CertificateAuthorities = []*prototrustroot.CertificateAuthority{{
		Subject: &protocommon.DistinguishedName{Organization: "test-fulcio", CommonName: "test-fulcio"}, Uri: "https://fulcio.test",
		CertChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: caDER}}},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(time.Now().Add(-48 * time.Hour))},
	}}
	trJSON, err := protojson.Marshal(&tr)
	if err != nil {
		t.Fatal(err)
	}
	issuerExt, err := asn1.MarshalWithParams(st.Issuer.URL, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := url.Parse(identityOf(ciWorkflow))
	services, err := parseSigningConfig(st.SigningConfig)
	if err != nil {
		t.Fatal(err)
	}
	signWith := func(seed int64, notBefore, notAfter time.Time) (string, error) {
		ref := f.push(t, "api", seed)
		kp, err := sign.NewEphemeralKeypair(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf := &x509.Certificate{SerialNumber: big.NewInt(seed), NotBefore: notBefore, NotAfter: notAfter,
			URIs: []*url.URL{subject}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerExt}}}
		leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, kp.GetPublicKey(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		k := &keyless{services: services, kp: kp}
		opts := k.bundleOptions(ctx)
		opts.CertificateProvider = fixedCert(leafDER)
		d, _ := name.NewDigest(ref)
		stmt, err := signStatement(d, map[string]string{AnnotationService: "api"})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := sign.Bundle(&sign.DSSEData{Data: stmt, PayloadType: inTotoPayloadType}, kp, opts)
		if err != nil {
			return ref, err
		}
		js, err := protojson.Marshal(pb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writeBundle(ctx, f.client, d, js, SignPredicateType, time.Now()); err != nil {
			t.Fatal(err)
		}
		return ref, nil
	}
	v, err := NewVerifier(nil, &KeylessPolicy{TrustedRoot: trJSON, IgnoreSCT: true,
		Identities: []Identity{{Issuer: st.Issuer.URL, Subject: identityOf(ciWorkflow)}}}, WithRegistry(f.client))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good, err := signWith(400, now.Add(-time.Minute), now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, good, map[string]string{AnnotationService: "api"}); err != nil {
		t.Fatalf("a certificate valid at signing time: %v", err)
	}
	expired, err := signWith(401, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatalf("the stack would not timestamp and log a signature by an expired certificate, so verification cannot be tried: %v", err)
	}
	_, err = v.Verify(ctx, expired, nil)
	if !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("a certificate expired at signing time: %v, want ErrSignatureInvalid", err)
	}
	t.Logf("refused: %v", err)
}
