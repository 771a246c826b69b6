package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/signing/sigstoretest"
	"github.com/slipwayci/slipway/internal/testutil"
)

// TestModuleKeylessSigning signs keylessly through the real engine against
// a private Sigstore stack of real servers (Fulcio, Rekor v2, a timestamp
// authority and an OIDC issuer shaped like GitHub Actions'), on the
// engine's bridge: ci signs and attests every image as the CI workflow,
// the stock cosign v3 CLI verifies them by identity, a rerun reuses them
// (verified by identity), and prod, which takes only the release
// workflow's signatures, refuses them until that workflow promotes them
// with --sign; admission-policy writes the same rules for the cluster.
func TestModuleKeylessSigning(t *testing.T) {
	ip := bridgeAddr(t)
	ciWF := sigstoretest.Workflow{Repository: "acme/shop", File: ".github/workflows/ci.yml", Ref: "refs/heads/main"}
	releaseWF := sigstoretest.Workflow{Repository: "acme/shop", File: ".github/workflows/promote.yml", Ref: "refs/heads/main"}
	identity := func(w sigstoretest.Workflow) string {
		return "https://github.com/" + w.Repository + "/" + w.File + "@" + w.Ref
	}
	st := sigstoretest.Start(t, ip, ciWF)

	r := newSlipwayRun(t)
	r.keyless = true
	t.Setenv("SLIPWAY_E2E_OIDC_REQUEST_TOKEN", st.Issuer.RequestToken)
	r.moduleArgs = []string{"--oidc-request-url", st.Issuer.TokenRequestURL(), "--oidc-request-token", "env://SLIPWAY_E2E_OIDC_REQUEST_TOKEN"}
	if err := os.MkdirAll(filepath.Join(r.fixture, "sigstore"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.fixture, "sigstore", "signing_config.json"), st.SigningConfig, 0o644)
	os.WriteFile(filepath.Join(r.fixture, "sigstore", "trusted_root.json"), st.TrustedRoot, 0o644)
	// The sample's own slipway.yaml names its GitHub identities: the CI
	// workflow signs, and prod takes only the promote workflow's
	// countersignatures. Here the same workflows of acme/shop, from this
	// stack's issuer, and its signing config and trusted root.
	r.edit("slipway.yaml", func(s string) string {
		if !strings.Contains(s, "signedBy:") || !strings.Contains(s, "\nsigning:\n") {
			t.Fatalf("the sample's slipway.yaml no longer names its signers:\n%s", s)
		}
		s = strings.Replace(s, classicFormat, "", 1)
		s = strings.ReplaceAll(s, "https://github.com/slipwayci/slipway/", "https://github.com/acme/shop/")
		s = strings.ReplaceAll(s, "issuer: "+signing.GitHubActionsOIDCIssuer, "issuer: "+st.Issuer.URL)
		return strings.Replace(s, "\nsigning:\n", `
signing:
  keyless:
    signingConfig: sigstore/signing_config.json
    trustedRoot: sigstore/trusted_root.json
    insecureIgnoreSCT: true   # this Fulcio logs to no CT log
`, 1)
	})
	r.commit("sign keylessly")

	// 1. ci signs and attests as the CI workflow.
	r.mustCall("ci")
	rep := r.lastReport()
	if !rep.OK() || rep.Count(report.Built) != 3 {
		t.Fatalf("ci: %s", rep.Text())
	}
	if st.Issuer.Issued() == 0 {
		t.Fatal("no OIDC token was requested")
	}
	reg := r.exposeRegistry()
	dir := t.TempDir()
	trustedRoot := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(trustedRoot, st.TrustedRoot, 0o644)
	cosign := func(args ...string) (string, error) {
		cmd := exec.Command(testutil.Tool(t, "cosign3"), args...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost"}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	refs := map[string]string{}
	for _, s := range rep.Services {
		if s.Signature == "" {
			t.Errorf("%s: no signature in the report: %+v", s.Name, s)
		}
		refs[s.Name] = s.Repository + "@" + s.Digest
		local := strings.Replace(s.Repository, "registry:5000", reg, 1) + "@" + s.Digest
		common := []string{"--trusted-root", trustedRoot, "--insecure-ignore-sct", "--allow-http-registry",
			"--certificate-oidc-issuer", st.Issuer.URL, "--certificate-identity", identity(ciWF)}
		if out, err := cosign(append(append([]string{"verify"}, common...), "--certificate-github-workflow-repository", "acme/shop", "-a", "dev.slipway.service="+s.Name, local)...); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", s.Name, err, tail(out, 20))
		}
		for _, typ := range []string{"slsaprovenance1", "cyclonedx"} {
			if out, err := cosign(append(append([]string{"verify-attestation", "--type", typ}, common...), local)...); err != nil {
				t.Errorf("cosign verify-attestation --type %s %s: %v\n%s", typ, s.Name, err, tail(out, 20))
			}
		}
		if out, err := cosign(append([]string{"verify", "--trusted-root", trustedRoot, "--insecure-ignore-sct", "--allow-http-registry",
			"--certificate-oidc-issuer", st.Issuer.URL, "--certificate-identity", identity(releaseWF)}, local)...); err == nil {
			t.Errorf("cosign verify %s as the release workflow passed:\n%s", s.Name, tail(out, 20))
		}
	}

	// 2. Nothing changed: every image is reused, verified by identity.
	r.mustCall("ci")
	if rep := r.lastReport(); rep.Count(report.Reused) != 3 {
		t.Fatalf("rerun: %s", rep.Text())
	}

	// 3. staging takes the CI workflow's signatures; prod does not.
	// staging has no signers of its own: --sign countersigns nothing there.
	r.mustCall("promote", "--from", "dev", "--to", "staging", "--sign")
	if rep := r.lastReportOf(report.Promote); !strings.Contains(strings.Join(rep.Notes, "\n"), "nothing countersigned: staging takes the build's signatures") {
		t.Errorf("promote into staging with --sign: %s", rep.Text())
	}
	before, prodBefore := r.overlay("prod")
	out, err := r.call("promote", "--from", "staging", "--to", "prod")
	if err == nil || !strings.Contains(out, "signed by "+identity(ciWF)) || !strings.Contains(out, "no accepted identity matches") {
		t.Fatalf("prod took the CI workflow's signatures (err=%v):\n%s", err, tail(out, 40))
	}
	if after, prodAfter := r.overlay("prod"); after != before || prodAfter != prodBefore {
		t.Fatalf("a refused promotion wrote to the GitOps repository")
	}

	// 4. promote --sign countersigns as the run's identity, but only an
	// identity prod accepts: as the CI workflow it is refused before
	// anything is signed or written.
	out, err = r.call("promote", "--from", "staging", "--to", "prod", "--sign")
	if err == nil || !strings.Contains(out, "prod would not accept this run's signatures") {
		t.Fatalf("promote --sign as the CI workflow (err=%v):\n%s", err, tail(out, 40))
	}
	if after, prodAfter := r.overlay("prod"); after != before || prodAfter != prodBefore {
		t.Fatalf("a refused countersigning promotion wrote to the GitOps repository")
	}

	// 5. The release workflow countersigns what it promotes (the images
	// carry the CI workflow's signature, which staging accepts); prod
	// takes them, the attestations being the build's.
	st.Issuer.SetWorkflow(releaseWF)
	// A dry run says what would be countersigned and writes nothing.
	r.mustCall("promote", "--from", "staging", "--to", "prod", "--sign", "--dry-run")
	if rep := r.lastReportOf(report.Promote); !strings.Contains(strings.Join(rep.Notes, "\n"), "dry run: 3 image(s) would be countersigned as "+identity(releaseWF)) {
		t.Errorf("promote --sign --dry-run: %s", rep.Text())
	}
	if after, prodAfter := r.overlay("prod"); after != before || prodAfter != prodBefore {
		t.Fatalf("a dry run wrote to the GitOps repository")
	}
	r.mustCall("promote", "--from", "staging", "--to", "prod", "--sign")
	if rep := r.lastReportOf(report.Promote); !strings.Contains(strings.Join(rep.Notes, "\n"), "countersigned 3 image(s) as "+identity(releaseWF)) {
		t.Errorf("promote report: %s", rep.Text())
	}
	_, prod := r.overlay("prod")
	for name, ref := range refs {
		if !strings.Contains(prod, ref[strings.Index(ref, "@")+1:]) {
			t.Errorf("prod does not run %s's %s:\n%s", name, ref, prod)
		}
	}
	orders := strings.Replace(refs["orders"], "registry:5000", reg, 1)
	if out, err := cosign("verify", "--trusted-root", trustedRoot, "--insecure-ignore-sct", "--allow-http-registry",
		"--certificate-oidc-issuer", st.Issuer.URL, "--certificate-identity", identity(releaseWF), orders); err != nil {
		t.Errorf("cosign verify orders as the release workflow: %v\n%s", err, tail(out, 20))
	}

	// 6. The cluster's admission policy checks what promotion checked:
	// prod's signer for the signature, the build's identities for the
	// attestations prod requires; kustomize reads it.
	r.mustCall("admission-policy", "--env", "prod")
	policy := r.stdout
	for _, want := range []string{"kind: ClusterImagePolicy", "name: slipway-" + r.project + "-prod-signed", "signatureFormat: bundle",
		"subject: " + identity(releaseWF), "subject: " + identity(ciWF), "predicateType: https://slsa.dev/provenance/v1",
		"kind: ClusterPolicy", "type: SigstoreBundle", "trustRootRef: slipway-" + r.project + "-prod-trust-root"} {
		if !strings.Contains(policy, want) {
			t.Errorf("admission-policy --env prod lacks %q:\n%s", want, policy)
		}
	}
	kdir := t.TempDir()
	os.WriteFile(filepath.Join(kdir, "policy.yaml"), []byte(policy), 0o644)
	os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte("resources: [policy.yaml]\n"), 0o644)
	if out, err := exec.Command(testutil.Tool(t, "kustomize"), "build", kdir).CombinedOutput(); err != nil {
		t.Errorf("kustomize build of the admission policy: %v\n%s", err, out)
	}

	// The request token never shows.
	if strings.Contains(r.seen.String(), st.Issuer.RequestToken) {
		t.Error("the OIDC request token appears in the module's output")
	}
}
