package admission

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/testutil"
)

var (
	ciID      = config.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/main"}
	releaseID = config.Identity{Issuer: "https://token.actions.githubusercontent.com", SubjectRegexp: `https://github\.com/acme/shop/\.github/workflows/promote\.yml@refs/tags/v.*`}
	prodInput = Input{
		Project: "shop", Env: "prod",
		Repositories:   []string{"ghcr.io/acme/shop/orders", "ghcr.io/acme/shop/catalog"},
		Signers:        []config.Identity{releaseID},
		Attesters:      []config.Identity{ciID, releaseID},
		PredicateTypes: []string{"https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom"},
	}
)

// docs splits a YAML stream into documents.
func docs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// get walks a decoded document by keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func TestPolicyController(t *testing.T) {
	b, err := PolicyController(prodInput)
	if err != nil {
		t.Fatal(err)
	}
	ds := docs(t, b)
	if len(ds) != 2 {
		t.Fatalf("%d documents, want the signature's and the attestations' policy:\n%s", len(ds), b)
	}
	sig, att := ds[0], ds[1]
	if get(t, sig, "kind") != "ClusterImagePolicy" || get(t, sig, "metadata", "name") != "slipway-shop-prod-signed" {
		t.Errorf("signature policy:\n%s", b)
	}
	if g := get(t, sig, "spec", "images", 0, "glob"); g != "ghcr.io/acme/shop/catalog**" {
		t.Errorf("first glob %v", g)
	}
	a := get(t, sig, "spec", "authorities", 0)
	if get(t, a, "signatureFormat") != "bundle" || get(t, a, "keyless", "url") != PublicFulcio || get(t, a, "ctlog", "url") != PublicRekor {
		t.Errorf("signature authority: %v", a)
	}
	// Only the release workflow signs for prod; its pattern must match the
	// whole identity, as slipway.yaml's does.
	ids := get(t, a, "keyless", "identities").([]any)
	if len(ids) != 1 || get(t, ids[0], "subjectRegExp") != "^(?:"+releaseID.SubjectRegexp+")$" {
		t.Errorf("signers %v", ids)
	}
	// The attestations are the build's, so the CI workflow may sign them.
	aa := get(t, att, "spec", "authorities", 0)
	if n := len(get(t, aa, "keyless", "identities").([]any)); n != 2 {
		t.Errorf("attesters: %d", n)
	}
	if pt := get(t, aa, "attestations", 1, "predicateType"); pt != "https://cyclonedx.org/bom" {
		t.Errorf("attestations %v", get(t, aa, "attestations"))
	}

	// A key is accepted beside the identities; with a private instance
	// the trust root is referenced.
	in := prodInput
	in.PublicKeyPEM, in.Private, in.IgnoreSCT, in.PredicateTypes = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", true, true, nil
	b, err = PolicyController(in)
	if err != nil {
		t.Fatal(err)
	}
	ds = docs(t, b)
	auth := get(t, ds[0], "spec", "authorities").([]any)
	if len(ds) != 1 || len(auth) != 2 || get(t, auth[1], "key", "data") != in.PublicKeyPEM || get(t, auth[1], "signatureFormat") != "bundle" ||
		get(t, auth[0], "keyless", "trustRootRef") != "slipway-shop-prod-trust-root" || get(t, auth[0], "keyless", "insecureIgnoreSCT") != true {
		t.Errorf("key and private instance:\n%s", b)
	}
	if !strings.Contains(string(b), "install its trusted root in the cluster") {
		t.Errorf("no word on the private trust root:\n%s", b)
	}
}

func TestKyverno(t *testing.T) {
	b, err := Kyverno(prodInput)
	if err != nil {
		t.Fatal(err)
	}
	ds := docs(t, b)
	if len(ds) != 1 || get(t, ds[0], "kind") != "ClusterPolicy" {
		t.Fatalf("%s", b)
	}
	v := get(t, ds[0], "spec", "rules", 0, "verifyImages", 0)
	if get(t, v, "type") != "SigstoreBundle" || get(t, v, "failureAction") != "Enforce" || get(t, v, "imageReferences", 1) != "ghcr.io/acme/shop/orders*" {
		t.Errorf("verifyImages: %v", v)
	}
	e := get(t, v, "attestors", 0, "entries", 0, "keyless")
	if get(t, e, "subjectRegExp") != "^(?:"+releaseID.SubjectRegexp+")$" || get(t, e, "rekor", "url") != PublicRekor {
		t.Errorf("keyless attestor %v", e)
	}
	if n := len(get(t, v, "attestations", 0, "attestors", 0, "entries").([]any)); n != 2 || get(t, v, "attestations", 0, "type") != "https://slsa.dev/provenance/v1" {
		t.Errorf("attestations %v", get(t, v, "attestations"))
	}
	// A key alone, in cosign's classic format (signing.format: classic):
	// no transparency log.
	in := prodInput
	in.Signers, in.Attesters, in.PublicKeyPEM, in.ClassicKey = nil, nil, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", true
	b, err = Kyverno(in)
	if err != nil {
		t.Fatal(err)
	}
	v = get(t, docs(t, b)[0], "spec", "rules", 0, "verifyImages", 0)
	if get(t, v, "type") != "Cosign" || get(t, v, "attestors", 0, "entries", 0, "keys", "rekor", "ignoreTlog") != true ||
		get(t, v, "attestations", 0, "attestors", 0, "entries", 0, "keys", "publicKeys") != in.PublicKeyPEM {
		t.Errorf("key only:\n%s", b)
	}
	// The same key signing into bundles, the default.
	in.ClassicKey = false
	b, err = Kyverno(in)
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, docs(t, b)[0], "spec", "rules", 0, "verifyImages", 0); get(t, v, "type") != "SigstoreBundle" || get(t, v, "attestors", 0, "entries", 0, "keys", "publicKeys") != in.PublicKeyPEM {
		t.Errorf("key bundles:\n%s", b)
	}
}

func TestNothingToCheck(t *testing.T) {
	for name, in := range map[string]Input{
		"no repository":        {Env: "prod", Signers: []config.Identity{ciID}},
		"no signer and no key": {Env: "prod", Repositories: []string{"r/a"}},
		"attestations, no one makes them": {Env: "prod", Repositories: []string{"r/a"}, Signers: []config.Identity{ciID},
			PredicateTypes: []string{"https://slsa.dev/provenance/v1"}},
	} {
		for _, f := range []func(Input) ([]byte, error){PolicyController, Kyverno} {
			if _, err := f(in); !errors.Is(err, ErrNothingToCheck) {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// The stock kustomize reads what is written as Kubernetes objects.
func TestKustomizeReadsThePolicies(t *testing.T) {
	dir := t.TempDir()
	pc, err := PolicyController(prodInput)
	if err != nil {
		t.Fatal(err)
	}
	ky, err := Kyverno(prodInput)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"policy-controller.yaml": pc, "kyverno.yaml": ky,
		"kustomization.yaml": []byte("resources: [policy-controller.yaml, kyverno.yaml]\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(testutil.Tool(t, "kustomize"), "build", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build: %v\n%s", err, out)
	}
	for _, want := range []string{"name: slipway-shop-prod-signed", "name: slipway-shop-prod-attested", "name: slipway-shop-prod-verify-images"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kustomize output lacks %q:\n%s", want, out)
		}
	}
}
