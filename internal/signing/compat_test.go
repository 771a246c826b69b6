package signing

// Compatibility with the stock cosign CLI, built from the pinned module in
// hack/tools/cosign by testutil.Tool (several minutes on a cold cache, then
// cached). These tests always run: they are the proof that what slipway
// writes is what cosign users verify.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testutil"
)

// cosignEnv keeps the CLI on this machine: its own home and TUF cache, and a
// dead proxy for anything but loopback, so that an attempt to reach the
// public sigstore services fails at once instead of leaving the machine.
func cosignEnv(tb testing.TB, extra ...string) []string {
	tb.Helper()
	home := tb.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"TUF_ROOT=" + filepath.Join(home, "tuf"),
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost",
		"COSIGN_YES=true",
	}
	return append(env, extra...)
}

// cosign3 runs the stock cosign v3 CLI (hack/tools/cosign3), which reads
// Sigstore bundles, and returns its combined output.
func cosign3(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.Command(testutil.Tool(tb, "cosign3"), args...)
	cmd.Env = cosignEnv(tb)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func runCosign(tb testing.TB, env []string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := exec.Command(testutil.Tool(tb, "cosign"), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestStockCosignVerifiesOurSignaturesAndAttestations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 80)
	unsigned := f.push(t, "api", 81)
	mk, ok := keys(t)
	dir := t.TempDir()
	pub := filepath.Join(dir, "cosign.pub")
	otherPub := filepath.Join(dir, "other.pub")
	if err := os.WriteFile(pub, mk.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherPub, ok.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.signer.Sign(ctx, ref, annotationSet); err != nil {
		t.Fatal(err)
	}
	preds := []struct {
		cliType, uri string
		body         []byte
	}{
		{"slsaprovenance1", PredicateSLSAProvenanceV1, provenancePredicate},
		{"cyclonedx", PredicateCycloneDX, cyclonedxPredicate},
		{"vuln", PredicateVulnScan, vulnPredicate},
		{PredicateTestResult, PredicateTestResult, testResultPredicate},
	}
	for _, p := range preds {
		if _, err := f.signer.Attest(ctx, ref, p.uri, p.body); err != nil {
			t.Fatal(err)
		}
	}
	env := cosignEnv(t)

	t.Run("verify", func(t *testing.T) {
		out, errOut, err := runCosign(t, env, "verify", "--key", pub, "--insecure-ignore-tlog=true",
			"-a", AnnotationRunID+"=run-42", "-a", AnnotationService+"=api", ref)
		if err != nil {
			t.Fatalf("cosign verify: %v\n%s", err, errOut)
		}
		var payloads []struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
			} `json:"critical"`
			Optional map[string]any `json:"optional"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &payloads); err != nil {
			t.Fatalf("cosign verify output is not the JSON list of payloads: %v\n%s", err, out)
		}
		if len(payloads) != 1 || payloads[0].Critical.Image.Digest != digestHex(t, ref).String() || payloads[0].Optional[AnnotationSourceCommit] != annotationSet[AnnotationSourceCommit] {
			t.Errorf("cosign verified %+v", payloads)
		}
	})
	for _, p := range preds {
		t.Run("verify-attestation "+p.cliType, func(t *testing.T) {
			out, errOut, err := runCosign(t, env, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", p.cliType, ref)
			if err != nil {
				t.Fatalf("cosign verify-attestation --type %s: %v\n%s", p.cliType, err, errOut)
			}
			if !strings.Contains(out, `"payloadType":"application/vnd.in-toto+json"`) {
				t.Errorf("unexpected output: %.300s", out)
			}
		})
	}
	// The CLI really checks: these must fail.
	for name, tc := range map[string]struct {
		args []string
		why  string
	}{
		"unsigned image":     {[]string{"verify", "--key", pub, "--insecure-ignore-tlog=true", unsigned}, "no signatures found"},
		"other key":          {[]string{"verify", "--key", otherPub, "--insecure-ignore-tlog=true", ref}, "invalid signature"},
		"wrong annotation":   {[]string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "-a", AnnotationRunID + "=run-1", ref}, "missing or incorrect annotation"},
		"absent type":        {[]string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "spdxjson", ref}, "none of the attestations matched the predicate type"},
		"other key (attest)": {[]string{"verify-attestation", "--key", otherPub, "--insecure-ignore-tlog=true", "--type", "cyclonedx", ref}, "accepted signatures do not match threshold"},
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			_, errOut, err := runCosign(t, env, tc.args...)
			if err == nil {
				t.Fatalf("cosign %s succeeded", strings.Join(tc.args, " "))
			}
			if !strings.Contains(errOut, tc.why) {
				t.Errorf("cosign failed for another reason than %q:\n%s", tc.why, errOut)
			}
		})
	}
}

func TestWeVerifyStockCosignSignatures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 82)
	mk, _ := keys(t)
	key := filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(key, mk.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pred := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(pred, cyclonedxPredicate, 0o644); err != nil {
		t.Fatal(err)
	}
	// The password reaches the CLI through its environment, never argv.
	env := cosignEnv(t, "COSIGN_PASSWORD="+string(testPassword))
	if _, errOut, err := runCosign(t, env, "sign", "--key", key, "--tlog-upload=false", "-a", AnnotationRunID+"=cli-run", ref); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, errOut)
	}
	if _, errOut, err := runCosign(t, env, "attest", "--key", key, "--tlog-upload=false", "--type", "cyclonedx", "--predicate", pred, ref); err != nil {
		t.Fatalf("cosign attest: %v\n%s", err, errOut)
	}
	if _, err := f.verifier.Verify(ctx, ref, map[string]string{AnnotationRunID: "cli-run"}); err != nil {
		t.Errorf("our Verify of a CLI signature: %v", err)
	}
	sts, err := f.verifier.VerifyAttestations(ctx, ref, PredicateCycloneDX)
	if err != nil || len(sts) != 1 {
		t.Errorf("our VerifyAttestations of a CLI attestation: %d, %v", len(sts), err)
	}
}
