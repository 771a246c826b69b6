package signing

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/empty"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
)

// Predicates as the pipeline produces them (abridged but well-formed).
var (
	provenancePredicate = []byte(`{
	  "buildDefinition": {
	    "buildType": "https://slipway.dev/build/v1",
	    "externalParameters": {"service": "api", "commit": "0123456789abcdef0123456789abcdef01234567"},
	    "resolvedDependencies": [{"uri": "git+https://example.com/mono@refs/heads/main", "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}]
	  },
	  "runDetails": {"builder": {"id": "https://slipway.dev/builder"}, "metadata": {"invocationId": "run-42"}}
	}`)
	cyclonedxPredicate = []byte(`{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": [{"type": "library", "name": "golang.org/x/net", "version": "v0.30.0"}]}`)
	vulnPredicate      = []byte(`{
	  "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
	  "scanner": {"uri": "pkg:golang/github.com/aquasecurity/trivy@0.70.0", "version": "0.70.0", "db": {"uri": "", "version": ""}, "result": {"critical": 0, "high": 1}},
	  "metadata": {"scanStartedOn": "2025-01-01T00:00:00Z", "scanFinishedOn": "2025-01-01T00:00:05Z"}
	}`)
	testResultPredicate = []byte(`{"result": "PASSED", "configuration": [{"name": "go test ./..."}], "passedTests": ["TestA", "TestB"], "failedTests": []}`)
)

func TestAttestAndVerifyByPredicateType(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 30)
	preds := map[string][]byte{
		PredicateSLSAProvenanceV1: provenancePredicate,
		PredicateCycloneDX:        cyclonedxPredicate,
		PredicateVulnScan:         vulnPredicate,
		PredicateTestResult:       testResultPredicate,
	}
	for typ, p := range preds {
		res, err := f.signer.Attest(ctx, ref, typ, p)
		if err != nil {
			t.Fatalf("Attest %s: %v", typ, err)
		}
		if !strings.HasSuffix(res.Ref, ".att") || res.Existing {
			t.Errorf("Attest %s result %+v", typ, res)
		}
	}
	h := digestHex(t, ref)
	for typ, p := range preds {
		sts, err := f.verifier.VerifyAttestations(ctx, ref, typ)
		if err != nil {
			t.Fatalf("VerifyAttestations %s: %v", typ, err)
		}
		if len(sts) != 1 {
			t.Fatalf("%s: %d statements, want 1", typ, len(sts))
		}
		st := sts[0]
		if st.Type != StatementType || st.PredicateType != typ || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != h.Hex || st.Subject[0].Name != f.host+"/api" {
			t.Errorf("%s: statement %+v", typ, st)
		}
		if !jsonEqual(t, st.Predicate, p) {
			t.Errorf("%s: predicate changed: %s", typ, st.Predicate)
		}
	}
	// Attesting the same statement again writes nothing.
	res, err := f.signer.Attest(ctx, ref, PredicateCycloneDX, cyclonedxPredicate)
	if err != nil || !res.Existing {
		t.Errorf("repeated attestation: %+v %v, want Existing", res, err)
	}
	if n := countLayers(t, res.Ref); n != len(preds) {
		t.Errorf("%s holds %d attestations, want %d", res.Ref, n, len(preds))
	}
}

func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatal(err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestVerifyAttestationFailures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	none := f.push(t, "api", 40)
	onlySBOM := f.push(t, "api", 41)
	byOther := f.push(t, "api", 42)
	tampered := f.push(t, "api", 43)
	original := f.push(t, "api", 44)
	replayTarget := f.push(t, "api", 45)

	if _, err := f.signer.Attest(ctx, onlySBOM, PredicateCycloneDX, cyclonedxPredicate); err != nil {
		t.Fatal(err)
	}
	if _, err := f.other.Attest(ctx, byOther, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{tampered, original} {
		if _, err := f.signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
			t.Fatal(err)
		}
	}
	opts := ociremote.WithRemoteOptions(f.client.RemoteOptions(ctx)...)

	// Tampered: the envelope's statement edited, signatures kept.
	attTag, _ := ociremote.AttestationTag(mustRef(t, tampered), opts)
	atts, err := ociremote.Signatures(attTag, opts)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := atts.Get()
	env, _ := list[0].Payload()
	var e map[string]any
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	st, _ := base64.StdEncoding.DecodeString(e["payload"].(string))
	e["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(st), "run-42", "run-666", 1)))
	forgedEnv, _ := json.Marshal(e)
	forged, err := static.NewAttestation(forgedEnv, static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": PredicateSLSAProvenanceV1}))
	if err != nil {
		t.Fatal(err)
	}
	forgedAtts, _ := mutate.AppendSignatures(empty.Signatures(), false, forged)
	if err := remote.Write(attTag, forgedAtts, f.client.RemoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}

	// Replayed: the original's attestations tagged for another image.
	origTag, _ := ociremote.AttestationTag(mustRef(t, original), opts)
	replayTag, _ := ociremote.AttestationTag(mustRef(t, replayTarget), opts)
	desc, err := remote.Get(origTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(replayTag, desc); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, ref string
		kind      error
		text      string
	}{
		{"missing attestation", none, ErrNoAttestations, "none stored under sha256-"},
		{"only another type", onlySBOM, ErrNoAttestations, "only the types " + PredicateCycloneDX},
		{"other key", byOther, ErrSignatureInvalid, "none by this key"},
		{"tampered statement", tampered, ErrSignatureInvalid, "none by this key"},
		{"replayed onto another digest", replayTarget, ErrClaimMismatch, "not " + digestHex(t, replayTarget).String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verifier.VerifyAttestations(ctx, tc.ref, PredicateSLSAProvenanceV1)
			t.Log(err)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.ref) || !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), PredicateSLSAProvenanceV1) {
				t.Errorf("error %q does not name the image, the type and say %q", err, tc.text)
			}
		})
	}
	if _, err := f.verifier.VerifyAttestations(ctx, original, PredicateSLSAProvenanceV1); err != nil {
		t.Errorf("original after the replay: %v", err)
	}
}

func TestAttestRejectsBadPredicates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 50)
	for name, tc := range map[string]struct {
		typ  string
		pred string
	}{
		"relative type": {"provenance", `{}`},
		"empty type":    {"", `{}`},
		"not json":      {PredicateCycloneDX, `{"bomFormat":`},
		"not an object": {PredicateCycloneDX, `[1, 2]`},
	} {
		if _, err := f.signer.Attest(ctx, ref, tc.typ, []byte(tc.pred)); !errors.Is(err, ErrBadPredicate) {
			t.Errorf("%s: %v, want ErrBadPredicate", name, err)
		}
	}
}
