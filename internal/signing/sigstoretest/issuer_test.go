package sigstoretest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func getJSON(t *testing.T, url, auth string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode
}

// verifyToken checks tok the way a relying party does: the key from the
// issuer's discovery and JWKS, issuer, audience and expiry.
func verifyToken(t *testing.T, iss *Issuer, tok, aud string) (map[string]any, error) {
	t.Helper()
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if code := getJSON(t, iss.URL+"/.well-known/openid-configuration", "", &disc); code != http.StatusOK {
		t.Fatalf("discovery: %d", code)
	}
	if disc.Issuer != iss.URL {
		t.Fatalf("discovery issuer %q, want %q", disc.Issuer, iss.URL)
	}
	var set jose.JSONWebKeySet
	if code := getJSON(t, disc.JWKSURI, "", &set); code != http.StatusOK {
		t.Fatalf("jwks: %d", code)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", parsed.Headers[0].KeyID, len(keys))
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := parsed.Claims(keys[0].Key, &std, &all); err != nil {
		return nil, err
	}
	if err := std.Validate(jwt.Expected{Issuer: disc.Issuer, AnyAudience: jwt.Audience{aud}, Time: time.Now()}); err != nil {
		return nil, err
	}
	return all, nil
}

var ci = Workflow{Repository: "acme/shop", File: ".github/workflows/ci.yml", Ref: "refs/heads/main", SHA: strings.Repeat("a", 40)}

func TestIssuerTokensVerifyAgainstItsOwnDiscovery(t *testing.T) {
	iss, err := StartIssuer("127.0.0.1:0", ci)
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	tok, err := iss.Token(ci, Audience, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifyToken(t, iss, tok, Audience)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"sub":              "repo:acme/shop:ref:refs/heads/main",
		"repository":       "acme/shop",
		"repository_owner": "acme",
		"workflow_ref":     "acme/shop/.github/workflows/ci.yml@refs/heads/main",
		"job_workflow_ref": "acme/shop/.github/workflows/ci.yml@refs/heads/main",
		"ref":              "refs/heads/main",
		"ref_type":         "branch",
		"sha":              strings.Repeat("a", 40),
		"event_name":       "push",
		"workflow":         "ci",
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %q", k, claims[k], want)
		}
	}
	// Another audience, an expired token and a token from another issuer
	// are refused by the same checks.
	if _, err := verifyToken(t, iss, tok, "other"); err == nil {
		t.Error("a token for audience sigstore verified for audience other")
	}
	old, err := iss.Token(ci, Audience, -2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyToken(t, iss, old, Audience); err == nil {
		t.Error("an expired token verified")
	}
	other, err := StartIssuer("127.0.0.1:0", ci)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign, err := other.Token(ci, Audience, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyToken(t, iss, foreign, Audience); err == nil {
		t.Error("another issuer's token verified with this issuer's keys")
	}
}

func TestIssuerTokenRequestEndpointActsLikeGitHubs(t *testing.T) {
	iss, err := StartIssuer("127.0.0.1:0", ci)
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	if code := getJSON(t, iss.TokenRequestURL()+"?audience=sigstore", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no request token: %d, want 401", code)
	}
	if code := getJSON(t, iss.TokenRequestURL()+"?audience=sigstore", "bearer wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("wrong request token: %d, want 401", code)
	}
	release := Workflow{Repository: "acme/shop", File: ".github/workflows/promote.yml", Ref: "refs/tags/v1.2.0"}
	iss.SetWorkflow(release)
	var got struct{ Value string }
	if code := getJSON(t, iss.TokenRequestURL()+"?audience=sigstore", "bearer "+iss.RequestToken, &got); code != http.StatusOK {
		t.Fatalf("token request: %d", code)
	}
	claims, err := verifyToken(t, iss, got.Value, Audience)
	if err != nil {
		t.Fatal(err)
	}
	if claims["workflow_ref"] != "acme/shop/.github/workflows/promote.yml@refs/tags/v1.2.0" || claims["ref_type"] != "tag" {
		t.Errorf("token speaks for %v (%v), want promote.yml at the tag", claims["workflow_ref"], claims["ref_type"])
	}
	if iss.Issued() != 1 {
		t.Errorf("issued %d tokens, want 1", iss.Issued())
	}
}
