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
	base := KeylessConfig{OIDCIssuer: GitHubActionsOIDCIssuer, Now: func() time.Time { return now }}
	cfg := func(mod func(*KeylessConfig)) KeylessConfig { c := base; mod(&c); return c }

	valid := map[string]KeylessConfig{
		"token":         cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, good) }),
		"audience list": cfg(func(c *KeylessConfig) { c.IDToken = jwt(t, with("aud", []string{"x", "sigstore"})) }),
		"token request": cfg(func(c *KeylessConfig) {
			c.TokenRequestURL, c.TokenRequestToken = "https://pipelines.actions.example/token", "req"
		}),
		"private sigstore": cfg(func(c *KeylessConfig) {
			c.SigningConfig, c.IDToken = signingConfigJSON(t, "http://127.0.0.1:5555", "http://10.1.2.3:3000", 2, "http://localhost:3001/api/v1/timestamp"), jwt(t, good)
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
		"no fulcio": {cfg(func(c *KeylessConfig) {
			c.SigningConfig, c.IDToken = signingConfigJSON(t, "", "https://rekor.example", 1, ""), jwt(t, good)
		}), "names no Fulcio"},
		"plain http rekor": {cfg(func(c *KeylessConfig) {
			c.SigningConfig, c.IDToken = signingConfigJSON(t, "https://fulcio.example", "http://rekor.example", 1, ""), jwt(t, good)
		}), "only loopback and private"},
		"rekor v2 without a tsa": {cfg(func(c *KeylessConfig) {
			c.SigningConfig, c.IDToken = signingConfigJSON(t, "https://fulcio.example", "https://rekor.example", 2, ""), jwt(t, good)
		}), "needs a timestamp authority"},
		"not a signing config": {cfg(func(c *KeylessConfig) { c.SigningConfig, c.IDToken = []byte(`{"mediaType":"x"}`), jwt(t, good) }), "the signing config"},
		"no token":             {base, "no OIDC token"},
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
	if err != nil || cfg.SigningConfig != nil || cfg.OIDCIssuer != GitHubActionsOIDCIssuer {
		t.Errorf("in Actions: %+v %v", cfg, err)
	}
}

// signingConfigJSON writes a signing config v0.2 naming the services (an
// empty URL leaves the service out).
func signingConfigJSON(t testing.TB, fulcio, rekor string, rekorVersion int, tsa string) []byte {
	t.Helper()
	svc := func(u string, v int) []any {
		if u == "" {
			return nil
		}
		return []any{map[string]any{"url": u, "majorApiVersion": v, "validFor": map[string]any{"start": "2020-01-01T00:00:00Z"}, "operator": "test"}}
	}
	b, err := json.Marshal(map[string]any{
		"mediaType":       "application/vnd.dev.sigstore.signingconfig.v0.2+json",
		"caUrls":          svc(fulcio, 1),
		"rekorTlogUrls":   svc(rekor, rekorVersion),
		"tsaUrls":         svc(tsa, 1),
		"rekorTlogConfig": map[string]any{"selector": "ANY"},
		"tsaConfig":       map[string]any{"selector": "ANY"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
