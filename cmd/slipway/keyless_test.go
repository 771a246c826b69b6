package main

import (
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

// The worker takes a key or an OIDC token, never both, and verifies in an
// environment against that environment's signers.
func TestKeylessSettingsInTheWorker(t *testing.T) {
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := signing.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(wire.EnvSigningKey, string(kp.PrivateKeyPEM))
	t.Setenv(wire.EnvSigningPassword, "pw")
	t.Setenv(wire.EnvOIDCToken, "a.b.c")
	if _, err := newSigner(c); err == nil || !strings.Contains(err.Error(), "sign with one") {
		t.Errorf("key and token: %v", err)
	}
	t.Setenv(wire.EnvSigningKey, "")
	t.Setenv(wire.EnvOIDCToken, "")
	t.Setenv(wire.EnvOIDCRequestToken, "req")
	if _, err := newSigner(c); err == nil || !strings.Contains(err.Error(), "needs --oidc-request-url") {
		t.Errorf("request token without its URL: %v", err)
	}
	t.Setenv(wire.EnvOIDCRequestToken, "")
	if s, err := newSigner(c); s != nil || err != nil {
		t.Errorf("nothing given: %v %v", s, err)
	}

	t.Setenv(wire.EnvKeyless, `{"identities":[{"issuer":"https://issuer.example","subject":"ci"}],
		"signedBy":{"prod":[{"issuer":"https://issuer.example","subject":"release"},{"issuer":"https://issuer.example","subjectRegexp":"hotfix-.*"}]}}`)
	for env, want := range map[string][]string{"": {"ci"}, "dev": {"ci"}, "prod": {"release", ""}} {
		p, err := keylessPolicy(env)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, id := range p.Identities {
			got = append(got, id.Subject)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("environment %q accepts %v, want %v", env, got, want)
		}
	}
	t.Setenv(wire.EnvKeyless, "")
	if v, err := newVerifier(c, "prod"); v != nil || err != nil {
		t.Errorf("no key and no identity: %v %v", v, err)
	}
	t.Setenv(wire.EnvKeyless, `{"identities": "not a list"}`)
	if _, err := keylessPolicy(""); err == nil {
		t.Error("malformed identities were accepted")
	}
}
