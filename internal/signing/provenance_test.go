package signing

// Every predicate internal/provenance builds, attested with this package to
// a real (in-memory) registry, verifies with this package and with the
// stock cosign CLI (built from the pinned module in hack/tools/cosign by
// testutil.Tool); a tampered vulnerability attestation verifies with
// neither.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci"
	"github.com/sigstore/cosign/v3/pkg/oci/empty"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// These tests live here, not in internal/provenance, so that the packages
// the Dagger module imports (provenance among them) keep cosign and
// go-containerregistry out of even their tests: the module's `go mod tidy`
// on a fresh engine loads the tests of what it imports.

// provenanceTestdata holds internal/provenance's golden predicates (its
// TestPredicatesGolden keeps them equal to what the package builds).
const provenanceTestdata = "../provenance/testdata"

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(provenanceTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAttestationsVerifyWithSigningAndStockCosign(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := GenerateKeyPair(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := LoadSigner(kp.PrivateKeyPEM, testPassword, WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(pub, kp.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 7}), host+"/orders:0123456789abcdef0123456789abcdef01234567")
	if err != nil {
		t.Fatal(err)
	}
	ref := d.String()

	slsa := golden(t, "slsa.golden.json")
	vuln := golden(t, "vuln.golden.json")
	tests := golden(t, "test-result.golden.json")
	sbom := golden(t, "trivy-image.cdx.json")
	if _, err := provenance.CheckCycloneDX(sbom); err != nil {
		t.Fatal(err)
	}
	preds := map[string][]byte{"slsa": slsa, "sbom": sbom, "vuln": vuln, "test": tests}

	for _, k := range provenance.Kinds {
		res, err := signer.Attest(ctx, ref, k.PredicateType, preds[k.Name])
		if err != nil {
			t.Fatalf("attesting %s: %v", k.Name, err)
		}
		if !strings.HasSuffix(res.Ref, ".att") || res.Existing {
			t.Errorf("%s: result %+v", k.Name, res)
		}
	}
	// Attesting the same provenance again writes nothing.
	if res, err := signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, golden(t, "slsa.golden.json")); err != nil || !res.Existing {
		t.Errorf("re-attesting the same provenance: %+v %v", res, err)
	}

	verifier := signer.Verifier()
	for _, k := range provenance.Kinds {
		t.Run("signing verifies "+k.Name, func(t *testing.T) {
			sts, err := verifier.VerifyAttestations(ctx, ref, k.PredicateType)
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) != 1 || !jsonEqual(t, sts[0].Predicate, preds[k.Name]) {
				t.Errorf("verified %d statements; predicate %s", len(sts), sts[0].Predicate)
			}
		})
		t.Run("cosign verify-attestation --type "+k.CosignType, func(t *testing.T) {
			out, errOut, err := runCosign(t, cosignEnv(t), "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", k.CosignType, ref)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			var env struct {
				Payload string `json:"payload"`
			}
			line := strings.SplitN(strings.TrimSpace(out), "\n", 2)[0]
			if err := json.Unmarshal([]byte(line), &env); err != nil {
				t.Fatalf("cosign output is not a DSSE envelope: %v\n%.300s", err, out)
			}
			st, err := base64.StdEncoding.DecodeString(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				PredicateType string          `json:"predicateType"`
				Predicate     json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(st, &s); err != nil || s.PredicateType != k.PredicateType || !jsonEqual(t, s.Predicate, preds[k.Name]) {
				t.Errorf("cosign verified %s: %v", st, err)
			}
		})
	}

	// Tamper with the vulnerability attestation: flip the gate's verdict in
	// the signed statement, keep the signature.
	forgeVerdict(t, ctx, c, ref)
	t.Run("tampered vuln attestation", func(t *testing.T) {
		if _, err := verifier.VerifyAttestations(ctx, ref, PredicateVulnScan); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("signing verified a tampered attestation: %v", err)
		}
		_, errOut, err := runCosign(t, cosignEnv(t), "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "vuln", ref)
		if err == nil {
			t.Fatal("cosign verified a tampered attestation")
		}
		t.Logf("cosign: %s", strings.TrimSpace(errOut))
		// The untouched ones still verify: the key and the image are fine,
		// only the edited statement is refused.
		if _, err := verifier.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1); err != nil {
			t.Errorf("provenance after tampering with the scan: %v", err)
		}
		if _, errOut, err := runCosign(t, cosignEnv(t), "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "slsaprovenance1", ref); err != nil {
			t.Errorf("cosign refuses the untouched provenance too: %v\n%s", err, errOut)
		}
	})
}

// forgeVerdict rewrites the image's attestations, replacing "pass":false
// with "pass":true in the vulnerability statement.
func forgeVerdict(t *testing.T, ctx context.Context, c *registry.Client, ref string) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	opts := ociremote.WithRemoteOptions(c.RemoteOptions(ctx)...)
	tag, err := ociremote.AttestationTag(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := ociremote.Signatures(tag, opts)
	if err != nil {
		t.Fatal(err)
	}
	list, err := atts.Get()
	if err != nil {
		t.Fatal(err)
	}
	var out []oci.Signature
	forged := false
	for _, a := range list {
		ann, _ := a.Annotations()
		if ann["predicateType"] != PredicateVulnScan {
			out = append(out, a)
			continue
		}
		raw, _ := a.Payload()
		var env map[string]any
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		st, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
		edited := strings.Replace(string(st), `"pass":false`, `"pass":true`, 1)
		if edited == string(st) {
			t.Fatalf("no verdict to flip in %s", st)
		}
		env["payload"] = base64.StdEncoding.EncodeToString([]byte(edited))
		eb, _ := json.Marshal(env)
		f, err := static.NewAttestation(eb, static.WithLayerMediaType(ctypes.DssePayloadType),
			static.WithAnnotations(map[string]string{"predicateType": PredicateVulnScan}))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
		forged = true
	}
	if !forged {
		t.Fatal("no vulnerability attestation to tamper with")
	}
	sigs, err := mutate.AppendSignatures(empty.Signatures(), false, out...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, sigs, c.RemoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}
}

func TestProvenanceKindsMatchTheSigner(t *testing.T) {
	want := map[string]string{
		"slsa": PredicateSLSAProvenanceV1, "sbom": PredicateCycloneDX,
		"vuln": PredicateVulnScan, "test": PredicateTestResult,
	}
	for _, k := range provenance.Kinds {
		if want[k.Name] != k.PredicateType {
			t.Errorf("kind %s: %s, signing says %s", k.Name, k.PredicateType, want[k.Name])
		}
		got, err := provenance.KindOf(k.Name)
		if err != nil || got != k {
			t.Errorf("provenance.KindOf(%s) = %+v, %v", k.Name, got, err)
		}
	}
	if _, err := provenance.KindOf("spdx"); !errors.Is(err, provenance.ErrInvalid) || !strings.Contains(err.Error(), "one of slsa, sbom, vuln, test") {
		t.Errorf("provenance.KindOf(spdx): %v", err)
	}
}
