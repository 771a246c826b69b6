package signing

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/signing/sigstoretest"
)

// BenchmarkSignAttest50 signs and attests (SLSA provenance) 50 fresh images,
// once in-process with a Signer loaded once, once by looping the stock
// cosign CLI (`cosign sign` and `cosign attest` per image, the key password
// in COSIGN_PASSWORD), and reports both times and their ratio.
func BenchmarkSignAttest50(b *testing.B) {
	const images = 50
	ctx := context.Background()
	f := newFixture(b)
	mk, _ := keys(b)
	dir := b.TempDir()
	key := filepath.Join(dir, "cosign.key")
	pred := filepath.Join(dir, "provenance.json")
	if err := os.WriteFile(key, mk.PrivateKeyPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(pred, provenancePredicate, 0o644); err != nil {
		b.Fatal(err)
	}
	env := cosignEnv(b, "COSIGN_PASSWORD="+string(testPassword))
	cosignTool(b) // build outside the timing

	seed := int64(10_000)
	fresh := func() []string {
		refs := make([]string, images)
		for i := range refs {
			seed++
			refs[i] = f.push(b, "bench", seed)
		}
		return refs
	}
	var inproc, cli time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		refs := fresh()
		b.StartTimer()
		start := time.Now()
		// In-process: the key is decrypted once per run, as the pipeline
		// does; the load is part of the measured time.
		s, err := LoadSigner(mk.PrivateKeyPEM, testPassword, WithRegistry(f.client))
		if err != nil {
			b.Fatal(err)
		}
		for _, ref := range refs {
			if _, err := s.Sign(ctx, ref, annotationSet); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
				b.Fatal(err)
			}
		}
		inproc += time.Since(start)

		b.StopTimer()
		refs = fresh()
		b.StartTimer()
		start = time.Now()
		for _, ref := range refs {
			if _, errOut, err := runCosign(b, env, "sign", "--key", key, "--tlog-upload=false",
				"-a", AnnotationRunID+"=run-42", ref); err != nil {
				b.Fatalf("cosign sign: %v\n%s", err, errOut)
			}
			if _, errOut, err := runCosign(b, env, "attest", "--key", key, "--tlog-upload=false",
				"--type", "slsaprovenance1", "--predicate", pred, ref); err != nil {
				b.Fatalf("cosign attest: %v\n%s", err, errOut)
			}
		}
		cli += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(inproc.Milliseconds())/n, "inprocess-ms/50")
	b.ReportMetric(float64(cli.Milliseconds())/n, "cosign-cli-ms/50")
	b.ReportMetric(float64(cli)/float64(inproc), "cli/inprocess")
	b.Logf("sign+attest %d images: in-process %s, stock cosign CLI loop %s (%.1fx)", images,
		(inproc / time.Duration(b.N)).Round(time.Millisecond), (cli / time.Duration(b.N)).Round(time.Millisecond), float64(cli)/float64(inproc))
}

func cosignTool(tb testing.TB) { _, _, _ = runCosign(tb, cosignEnv(tb), "version") }

// BenchmarkKeylessVersusKey signs and attests (SLSA provenance) 10 fresh
// images keylessly against the private Sigstore stack (one certificate for
// the run, a timestamp and a Rekor v2 entry per signature) and with a key,
// then verifies each both ways, and reports the per-image figures.
func BenchmarkKeylessVersusKey(b *testing.B) {
	const images = 10
	ctx := context.Background()
	st := sigstoretest.Start(b, "127.0.0.1", ciWorkflow)
	f := newFixture(b)
	mk, _ := keys(b)
	kv, err := NewVerifier(nil, &KeylessPolicy{TrustedRoot: st.TrustedRoot, IgnoreSCT: true,
		Identities: []Identity{{Issuer: st.Issuer.URL, Subject: identityOf(ciWorkflow)}}}, WithRegistry(f.client))
	if err != nil {
		b.Fatal(err)
	}
	seed := int64(20_000)
	fresh := func() []string {
		refs := make([]string, images)
		for i := range refs {
			seed++
			refs[i] = f.push(b, "bench", seed)
		}
		return refs
	}
	type figures struct{ sign, verify time.Duration }
	var keyless, key figures
	run := func(s *Signer, v *Verifier, fig *figures) {
		b.StopTimer()
		refs := fresh()
		b.StartTimer()
		start := time.Now()
		for _, ref := range refs {
			if _, err := s.Sign(ctx, ref, annotationSet); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
				b.Fatal(err)
			}
		}
		fig.sign += time.Since(start)
		start = time.Now()
		for _, ref := range refs {
			if _, err := v.Verify(ctx, ref, map[string]string{AnnotationService: "api"}); err != nil {
				b.Fatal(err)
			}
			if _, err := v.VerifyAttestations(ctx, ref, PredicateSLSAProvenanceV1); err != nil {
				b.Fatal(err)
			}
		}
		fig.verify += time.Since(start)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		// A signer per iteration: each run fetches its own certificate.
		s, err := NewKeylessSigner(KeylessConfig{SigningConfig: st.SigningConfig,
			TokenRequestURL: st.Issuer.TokenRequestURL(), TokenRequestToken: st.Issuer.RequestToken}, WithRegistry(f.client))
		if err != nil {
			b.Fatal(err)
		}
		run(s, kv, &keyless)
		ks, err := LoadSigner(mk.PrivateKeyPEM, testPassword, WithRegistry(f.client))
		if err != nil {
			b.Fatal(err)
		}
		run(ks, ks.Verifier(), &key)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N*images) }
	b.ReportMetric(per(keyless.sign), "keyless-sign+attest-ms/image")
	b.ReportMetric(per(keyless.verify), "keyless-verify-ms/image")
	b.ReportMetric(per(key.sign), "key-sign+attest-ms/image")
	b.ReportMetric(per(key.verify), "key-verify-ms/image")
	b.Logf("per image, sign+attest / verify both: keyless %.0f ms / %.0f ms, key %.0f ms / %.0f ms",
		per(keyless.sign), per(keyless.verify), per(key.sign), per(key.verify))
}
