package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
)

// approve refuses, before signing anything, a key the environment does
// not list, and an environment without the gate; the listed key passes,
// and a listed file that is not a public key is a located error.
func TestApproverKeys(t *testing.T) {
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	rm, err := signing.GenerateKeyPair([]byte("rm"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := signing.GenerateKeyPair([]byte("ci"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(src, "keys"), 0o755)
	os.WriteFile(filepath.Join(src, "keys/rm.pub"), rm.PublicKeyPEM, 0o644)
	os.WriteFile(filepath.Join(src, "keys/not-a-key.pub"), []byte("hello\n"), 0o644)
	prod := config.Environment{Name: "prod", RequireApproval: true, Approvers: config.Approvers{Keys: []string{"keys/rm.pub"}}}

	signer := func(kp *signing.KeyPair, pw string) *signing.Signer {
		s, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte(pw), signing.WithRegistry(c))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	if err := acceptedApprover(ctx, src, prod, signer(rm, "rm")); err != nil {
		t.Fatalf("the listed key: %v", err)
	}
	if err := acceptedApprover(ctx, src, prod, signer(ci, "ci")); err == nil || !strings.Contains(err.Error(), "prod does not take approvals from this key") {
		t.Fatalf("an unlisted key: %v", err)
	}
	staging := config.Environment{Name: "staging"}
	if err := acceptedApprover(ctx, src, staging, signer(rm, "rm")); err == nil || !strings.Contains(err.Error(), "does not set requireApproval") {
		t.Fatalf("no gate: %v", err)
	}
	vs, err := approverVerifiers(src, prod, c)
	if err != nil || len(vs) != 1 {
		t.Fatalf("verifiers: %v %v", vs, err)
	}
	bad := prod
	bad.Approvers.Keys = []string{"keys/not-a-key.pub"}
	if _, err := approverVerifiers(src, bad, c); err == nil || !strings.Contains(err.Error(), "environments[prod].approvers.keys[0] (keys/not-a-key.pub)") {
		t.Fatalf("not a key: %v", err)
	}
	missing := prod
	missing.Approvers.Keys = []string{"keys/gone.pub"}
	if _, err := approverVerifiers(src, missing, c); err == nil || !strings.Contains(err.Error(), "environments[prod].approvers.keys[0]") {
		t.Fatalf("missing file: %v", err)
	}
}
