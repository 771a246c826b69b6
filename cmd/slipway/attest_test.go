package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/wire"
)

const testCommit = "0123456789abcdef0123456789abcdef01234567"

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestAttestEveryKind writes the four predicates with the worker's own
// commands, attests them in one call with the key from the environment, and
// verifies each with internal/signing and with the stock cosign CLI.
func TestAttestEveryKind(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 11}), host+"/shop/api:"+testCommit)
	if err != nil {
		t.Fatal(err)
	}
	ref := d.String()
	password := "attest-test-password"
	kp, err := signing.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}

	dir := scanRepo(t, map[string]string{
		"services/api/service.yaml": "buildArgs: {APP: api}\n",
		".slipway/vuln-ignore.yaml": "ignores:\n  - {id: CVE-2099-1001, reason: accepted, expires: 2099-01-31}\n  - {id: CVE-2099-2001, reason: accepted, expires: 2099-01-31}\n",
	})
	slsa := filepath.Join(dir, "slsa.json")
	if code, _, stderr := runCmd(t, "provenance", "--source", dir, "--service", "api", "--commit", testCommit,
		"--repository", "https://github.com/acme/shop", "--ref", "refs/heads/main",
		"--builder-id", "https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/main",
		"--base-image", "golang:1.26=sha256:"+strings.Repeat("a", 64), "--builder-version", "dagger=v0.19.10",
		"--started", "2099-01-10T11:00:00Z", "--finished", "2099-01-10T11:01:00Z", "--out", slsa); code != 0 {
		t.Fatalf("provenance: exit %d\n%s", code, stderr)
	}
	tests := filepath.Join(dir, "test.json")
	if code, _, stderr := runCmd(t, "test-result", "--service", "api", "--passed", "unit,integration", "--passed", "smoke", "--out", tests); code != 0 {
		t.Fatalf("test-result: exit %d\n%s", code, stderr)
	}
	vulnPred := filepath.Join(dir, "vuln.json")
	if code, _, stderr := scanReport(t, dir, "staging", "--predicate-out", vulnPred, "--scanner-version", "2.5.0",
		"--started", "2099-01-10T11:02:00Z", "--finished", "2099-01-10T11:02:01Z"); code != 0 {
		t.Fatalf("scan-report: exit %d\n%s", code, stderr)
	}
	sbom, err := filepath.Abs(filepath.Join("..", "..", "internal", "provenance", "testdata", "trivy-image.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv(wire.EnvSigningKey, string(kp.PrivateKeyPEM))
	t.Setenv(wire.EnvSigningPassword, password)
	// The classic format, which the stock cosign v2 CLI below verifies
	// (bundles, the default, are TestKeySignedBundles' in internal/signing).
	t.Setenv(wire.EnvKeyless, `{"format": "classic"}`)
	out := filepath.Join(dir, "attest.json")
	code, stdout, stderr := runCmd(t, "attest", "--ref", ref, "--out", out,
		"--predicate", "slsa="+slsa, "--predicate", "sbom="+sbom, "--predicate", "vuln="+vulnPred, "--predicate", "test="+tests)
	if code != 0 {
		t.Fatalf("attest: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, password) || strings.Contains(stdout+stderr, "PRIVATE KEY") {
		t.Fatal("the key or its password reached the output")
	}
	var res struct {
		Digest       string
		Attestations []struct {
			Kind, PredicateType, CosignType, Ref string
			Existing                             bool
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Digest != ref || len(res.Attestations) != 4 {
		t.Fatalf("result %s", b)
	}
	for i, k := range provenance.Kinds {
		a := res.Attestations[i]
		if a.Kind != k.Name || a.PredicateType != k.PredicateType || a.CosignType != k.CosignType || a.Existing ||
			!strings.HasPrefix(a.Ref, host+"/shop/api:sha256-") || !strings.HasSuffix(a.Ref, ".att") {
			t.Errorf("attestation %d: %+v", i, a)
		}
	}

	// Verified by slipway's verifier and by the stock cosign CLI.
	v, err := signing.LoadVerifier(kp.PublicKeyPEM, signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pub, kp.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range provenance.Kinds {
		sts, err := v.VerifyAttestations(ctx, ref, k.PredicateType)
		if err != nil || len(sts) != 1 {
			t.Errorf("%s: %v", k.Name, err)
			continue
		}
		if err := provenance.Check(k.Name, sts[0].Predicate); err != nil {
			t.Errorf("%s: the verified predicate does not check: %v", k.Name, err)
		}
		cmd := exec.Command(testutil.Tool(t, "cosign"), "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", k.CosignType, ref)
		home := t.TempDir()
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TUF_ROOT=" + filepath.Join(home, "tuf"),
			"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost"}
		if outB, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cosign verify-attestation --type %s: %v\n%s", k.CosignType, err, outB)
		}
	}
	var slsaPred struct {
		BuildDefinition struct {
			ExternalParameters map[string]any `json:"externalParameters"`
		} `json:"buildDefinition"`
	}
	sts, _ := v.VerifyAttestations(ctx, ref, provenance.PredicateSLSAProvenanceV1)
	if err := json.Unmarshal(sts[0].Predicate, &slsaPred); err != nil {
		t.Fatal(err)
	}
	if ext := slsaPred.BuildDefinition.ExternalParameters; ext["dockerfile"] != "services/api/Dockerfile" || ext["service"] != "api" || ext["commit"] != testCommit {
		t.Errorf("provenance parameters %v", ext)
	}

	// Again: nothing new is written.
	code, stdout, stderr = runCmd(t, "attest", "--ref", ref, "--type", "slsa", "--predicate", slsa)
	if code != 0 || !strings.Contains(stdout, `"existing": true`) || !strings.Contains(stderr, "already attested") {
		t.Errorf("re-attest: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestAttestRefusals(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 12}), host+"/shop/api:1")
	if err != nil {
		t.Fatal(err)
	}
	ref := d.String()
	kp, err := signing.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("test.json", `{"result": "PASSED", "configuration": [{"name": "unit"}], "passedTests": ["unit"]}`)
	spdx := write("spdx.json", `{"spdxVersion": "SPDX-2.3", "packages": []}`)

	// No key: refused before anything is written.
	t.Setenv(wire.EnvSigningKey, "")
	if code, _, stderr := runCmd(t, "attest", "--ref", ref, "--type", "test", "--predicate", good); code != 1 || !strings.Contains(stderr, "no signer: attestations need the cosign key pair") {
		t.Errorf("without a key: exit %d\n%s", code, stderr)
	}
	t.Setenv(wire.EnvSigningKey, string(kp.PrivateKeyPEM))
	t.Setenv(wire.EnvSigningPassword, "pw")
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"SPDX as sbom":       {[]string{"--predicate", "test=" + good, "--predicate", "sbom=" + spdx}, 1, "spdx.json: invalid predicate: the SBOM is SPDX (SPDX-2.3), not CycloneDX"},
		"unknown kind":       {[]string{"--type", "spdx", "--predicate", spdx}, 2, `unknown attestation kind "spdx"`},
		"file without -type": {[]string{"--predicate", good}, 2, "needs -type"},
		"absent file":        {[]string{"--predicate", "slsa=" + filepath.Join(dir, "none.json")}, 1, "reading the slsa predicate"},
		"not a digest":       {[]string{"--ref", host + "/shop/api:1", "--type", "test", "--predicate", good}, 1, "digest"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"attest"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--ref") {
				args = append(args, "--ref", ref)
			}
			code, _, stderr := runCmd(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d)\n%s\nwant %q", code, tc.code, stderr, tc.want)
			}
		})
	}
	// Nothing was attested by the refused calls (the SPDX one included a
	// valid test predicate).
	v, _ := signing.LoadVerifier(kp.PublicKeyPEM, signing.WithRegistry(c))
	if _, err := v.VerifyAttestations(ctx, ref, provenance.PredicateTestResult); !errors.Is(err, signing.ErrNoAttestations) {
		t.Errorf("a refused call attested something: %v", err)
	}
	// A wrong password names the key problem, not the password.
	t.Setenv(wire.EnvSigningPassword, "not-the-password")
	code, stdout, stderr := runCmd(t, "attest", "--ref", ref, "--type", "test", "--predicate", good)
	if code != 1 || !strings.Contains(stderr, "bad key") || strings.Contains(stdout+stderr, "not-the-password") {
		t.Errorf("wrong password: exit %d\n%s", code, stderr)
	}
}

// test-result --suites records each kind's status, command and counts and
// the service; the result is PASSED only when every kind passed.
func TestTestResultSuites(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		suites, result, err string
	}{
		"all passed": {`{"unit": {"status": "passed", "command": "go test ./...", "counts": {"runner": "go test", "passed": 3, "failed": 0, "skipped": 1}},
			"integration": {"status": "passed", "command": "go test -tags integration ./..."}}`, "PASSED", ""},
		"no unit tests": {`{"unit": {"status": "not configured", "command": "go test ./...", "reason": "the command ran no tests"},
			"integration": {"status": "not configured"}}`, "WARNED", ""},
		"passed without a test":   {`{"unit": {"status": "passed", "command": "x", "counts": {"runner": "go test", "passed": 0}}, "integration": {"status": "not configured"}}`, "", "cannot have passed"},
		"integration unaccounted": {`{"unit": {"status": "passed", "command": "x"}}`, "", "integration tests are not accounted for"},
		"unknown status":          {`{"unit": {"status": "ok", "command": "x"}, "integration": {"status": "not configured"}}`, "", `status "ok"`},
	}
	for name, tc := range cases {
		out := filepath.Join(dir, "out.json")
		os.Remove(out)
		code, _, stderr := runCmd(t, "test-result", "--service", "orders", "--suites", write("s.json", tc.suites), "--out", out)
		if tc.err != "" {
			if code == 0 || !strings.Contains(stderr, tc.err) {
				t.Errorf("%s: exit %d, want an error containing %q:\n%s", name, code, tc.err, stderr)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := provenance.ReadTestResult(b)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Result != tc.result || rep.Service != "orders" || len(rep.Suites) != 2 {
			t.Errorf("%s: %+v", name, rep)
		}
		if err := provenance.Check("test", b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
