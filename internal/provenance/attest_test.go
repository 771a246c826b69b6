package provenance

// Every predicate this package builds, attested with internal/signing to a
// real (in-memory) registry, verifies with internal/signing and with the
// stock cosign CLI (built from the pinned module in hack/tools/cosign by
// testutil.Tool); a tampered vulnerability attestation verifies with
// neither.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
)

var keyPassword = []byte("correct horse battery staple")

// cosign runs the stock CLI kept on this machine: its own home and TUF
// root, and a dead proxy for anything but loopback.
func cosign(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(testutil.Tool(t, "cosign"), args...)
	cmd.Env = []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TUF_ROOT=" + filepath.Join(home, "tuf"),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

// sameJSON reports whether a and b hold the same JSON value (encoders
// differ in escaping, e.g. "&" and "\u0026").
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestAttestationsVerifyWithSigningAndStockCosign(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := signing.GenerateKeyPair(keyPassword)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.LoadSigner(kp.PrivateKeyPEM, keyPassword, signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(pub, kp.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 7}), host+"/orders:"+commit)
	if err != nil {
		t.Fatal(err)
	}
	ref := d.String()

	slsa, err := SLSA(sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	vuln, err := VulnPredicate(sampleScan())
	if err != nil {
		t.Fatal(err)
	}
	tests, err := TestResult(sampleTests())
	if err != nil {
		t.Fatal(err)
	}
	sbom, err := os.ReadFile(filepath.Join("testdata", "trivy-image.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckCycloneDX(sbom); err != nil {
		t.Fatal(err)
	}
	preds := map[string][]byte{"slsa": slsa, "sbom": sbom, "vuln": vuln, "test": tests}

	for _, k := range Kinds {
		res, err := signer.Attest(ctx, ref, k.PredicateType, preds[k.Name])
		if err != nil {
			t.Fatalf("attesting %s: %v", k.Name, err)
		}
		if !strings.HasSuffix(res.Ref, ".att") || res.Existing {
			t.Errorf("%s: result %+v", k.Name, res)
		}
	}
	// Deterministic predicates: attesting the same build again writes nothing.
	again, err := SLSA(sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, again); err != nil || !res.Existing {
		t.Errorf("re-attesting the same provenance: %+v %v", res, err)
	}

	verifier := signer.Verifier()
	for _, k := range Kinds {
		t.Run("signing verifies "+k.Name, func(t *testing.T) {
			sts, err := verifier.VerifyAttestations(ctx, ref, k.PredicateType)
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) != 1 || !sameJSON(t, sts[0].Predicate, preds[k.Name]) {
				t.Errorf("verified %d statements; predicate %s", len(sts), sts[0].Predicate)
			}
		})
		t.Run("cosign verify-attestation --type "+k.CosignType, func(t *testing.T) {
			out, errOut, err := cosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", k.CosignType, ref)
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
			if err := json.Unmarshal(st, &s); err != nil || s.PredicateType != k.PredicateType || !sameJSON(t, s.Predicate, preds[k.Name]) {
				t.Errorf("cosign verified %s: %v", st, err)
			}
		})
	}

	// Tamper with the vulnerability attestation: flip the gate's verdict in
	// the signed statement, keep the signature.
	forgeVerdict(t, ctx, c, ref)
	t.Run("tampered vuln attestation", func(t *testing.T) {
		if _, err := verifier.VerifyAttestations(ctx, ref, PredicateVulnScan); !errors.Is(err, signing.ErrSignatureInvalid) {
			t.Errorf("signing verified a tampered attestation: %v", err)
		}
		_, errOut, err := cosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "vuln", ref)
		if err == nil {
			t.Fatal("cosign verified a tampered attestation")
		}
		t.Logf("cosign: %s", strings.TrimSpace(errOut))
		// The untouched ones still verify: the key and the image are fine,
		// only the edited statement is refused.
		if _, err := verifier.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1); err != nil {
			t.Errorf("provenance after tampering with the scan: %v", err)
		}
		if _, errOut, err := cosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "slsaprovenance1", ref); err != nil {
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
