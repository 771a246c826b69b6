package signing

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func jwt(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(b) + "." + enc([]byte("signature-not-checked-here"))
}

func TestKeylessConfigValidation(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := map[string]any{"iss": GitHubActionsOIDCIssuer, "aud": "sigstore", "sub": "repo:acme/mono:ref:refs/heads/main", "exp": now.Add(5 * time.Minute).Unix()}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	base := KeylessConfig{FulcioURL: DefaultFulcioURL, RekorURL: DefaultRekorURL, OIDCIssuer: GitHubActionsOIDCIssuer, Now: func() time.Time { return now }}
	cfg := func(mod func(*KeylessConfig)) KeylessConfig { c := base; mod(&c); return c }

	valid := map[string]KeylessConfig{
		"token":         cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, good) }),
		"audience list": cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, with("aud", []string{"x", "sigstore"})) }),
		"token request": cfg(func(c *KeylessConfig) {
			c.TokenRequestURL, c.TokenRequestToken = "https://pipelines.actions.example/token", "req"
		}),
		"loopback sigstore": cfg(func(c *KeylessConfig) {
			c.FulcioURL, c.RekorURL, c.IDToken = "http://127.0.0.1:5555", "http://localhost:3000", jwt(t, good)
		}),
	}
	for name, c := range valid {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	secret := jwt(t, with("iss", "https://evil.example"))
	invalid := map[string]struct {
		cfg  KeylessConfig
		text string
	}{
		"no fulcio":        {cfg(func(c *KeylessConfig) { c.FulcioURL, c.IDToken = "", jwt(t, good) }), "FulcioURL is empty"},
		"plain http rekor": {cfg(func(c *KeylessConfig) { c.RekorURL, c.IDToken = "http://rekor.example", jwt(t, good) }), "only loopback"},
		"relative url":     {cfg(func(c *KeylessConfig) { c.FulcioURL, c.IDToken = "fulcio", jwt(t, good) }), "not an absolute URL"},
		"no token":         {base, "no OIDC token"},
		"both token sources": {cfg(func(c *KeylessConfig) {
			c.IDToken, c.TokenRequestURL, c.TokenRequestToken = jwt(t, good), "https://x", "y"
		}), "not both"},
		"half request":   {cfg(func(c *KeylessConfig) { c.TokenRequestURL = "https://x" }), "set together"},
		"not a jwt":      {cfg(func(c *KeylessConfig) { c.IDToken = "opaque-token" }), "not a JWT"},
		"wrong issuer":   {cfg(func(c *KeylessConfig) { c.IDToken = secret }), "issuer is \"https://evil.example\""},
		"wrong audience": {cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, with("aud", "api://AzureADTokenExchange")) }), "lacks \"sigstore\""},
		"no subject":     {cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, with("sub", nil)) }), "no subject"},
		"expired":        {cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, with("exp", now.Add(-time.Second).Unix())) }), "expired at 2025-06-01T11:59:59Z"},
	}
	for name, tc := range invalid {
		err := tc.cfg.Validate()
		if !errors.Is(err, ErrKeylessConfig) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want ErrKeylessConfig saying %q", name, err, tc.text)
		}
		if tc.cfg.IDToken != "" && strings.Contains(err.Error(), tc.cfg.IDToken) {
			t.Errorf("%s: the error contains the token", name)
		}
	}
}

func TestKeylessConfigFromGitHubActions(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := KeylessConfigFromGitHubActions(env(nil)); !errors.Is(err, ErrKeylessConfig) || !strings.Contains(err.Error(), "not running in GitHub Actions") {
		t.Errorf("outside Actions: %v", err)
	}
	if _, err := KeylessConfigFromGitHubActions(env(map[string]string{"GITHUB_ACTIONS": "true"})); !errors.Is(err, ErrKeylessConfig) || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("without id-token permission: %v", err)
	}
	cfg, err := KeylessConfigFromGitHubActions(env(map[string]string{"GITHUB_ACTIONS": "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.example/idtoken", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-token"}))
	if err != nil || cfg.FulcioURL != DefaultFulcioURL || cfg.RekorURL != DefaultRekorURL || cfg.OIDCIssuer != GitHubActionsOIDCIssuer {
		t.Errorf("in Actions: %+v %v", cfg, err)
	}
}

func TestNewKeylessSignerContactsNothing(t *testing.T) {
	// TEST-NET addresses: nothing answers there. The constructor decides
	// from the configuration alone.
	now := time.Now()
	c := KeylessConfig{FulcioURL: "https://192.0.2.1", RekorURL: "https://192.0.2.2", OIDCIssuer: GitHubActionsOIDCIssuer,
		IDToken: jwt(t, map[string]any{"iss": GitHubActionsOIDCIssuer, "aud": "sigstore", "sub": "s", "exp": now.Add(time.Hour).Unix()})}
	_, err := NewKeylessSigner(c)
	if !errors.Is(err, ErrKeylessUnavailable) || !strings.Contains(err.Error(), "sign with a cosign key pair") || !strings.Contains(err.Error(), "https://192.0.2.1") {
		t.Fatalf("got %v", err)
	}
	if _, err := NewKeylessSigner(KeylessConfig{}); !errors.Is(err, ErrKeylessConfig) {
		t.Errorf("empty configuration: %v", err)
	}
}
