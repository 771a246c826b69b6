package signing

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Public sigstore instance and GitHub Actions' OIDC issuer.
const (
	DefaultFulcioURL        = "https://fulcio.sigstore.dev"
	DefaultRekorURL         = "https://rekor.sigstore.dev"
	GitHubActionsOIDCIssuer = "https://token.actions.githubusercontent.com"
	// SigstoreAudience is the audience Fulcio requires in OIDC tokens.
	SigstoreAudience = "sigstore"
)

var (
	// ErrKeylessConfig: the keyless configuration is incomplete or invalid.
	ErrKeylessConfig = errors.New("keyless signing is not configured correctly")
	// ErrKeylessUnavailable: keyless signing was asked for but cannot be
	// done by this build (see NewKeylessSigner).
	ErrKeylessUnavailable = errors.New("keyless signing is not available")
)

// KeylessConfig configures keyless signing: an ephemeral key pair whose
// public key Fulcio certifies for the workload identity in an OIDC token (in
// GitHub Actions, the workflow's token with audience "sigstore"), the
// signature being recorded in the Rekor transparency log.
//
// Keyless signing cannot run offline: it needs network access to Fulcio,
// Rekor and, to obtain the token, the CI's OIDC provider. Verifying such
// signatures needs the sigstore trust root. slipway's tests only validate
// this configuration; nothing here contacts any service.
type KeylessConfig struct {
	// FulcioURL and RekorURL locate the sigstore services (HTTPS; plain
	// HTTP only for loopback addresses, for a local sigstore stack).
	FulcioURL, RekorURL string
	// OIDCIssuer is the issuer the token must come from.
	OIDCIssuer string
	// IDToken is the OIDC token itself (a secret: never logged). Either it
	// or both TokenRequestURL and TokenRequestToken must be set.
	IDToken string
	// TokenRequestURL and TokenRequestToken are GitHub Actions'
	// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, with
	// which a token can be requested at signing time.
	TokenRequestURL, TokenRequestToken string
	// Now is the clock used to check token expiry (time.Now if nil).
	Now func() time.Time
}

// KeylessConfigFromGitHubActions builds a configuration for the public
// sigstore instance from GitHub Actions' environment, read through getenv
// (os.Getenv in production). The workflow needs `permissions: id-token:
// write` for the token request variables to be set.
func KeylessConfigFromGitHubActions(getenv func(string) string) (KeylessConfig, error) {
	cfg := KeylessConfig{
		FulcioURL:         DefaultFulcioURL,
		RekorURL:          DefaultRekorURL,
		OIDCIssuer:        GitHubActionsOIDCIssuer,
		TokenRequestURL:   getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		TokenRequestToken: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
	}
	if getenv("GITHUB_ACTIONS") != "true" {
		return cfg, fmt.Errorf("%w: not running in GitHub Actions (GITHUB_ACTIONS is not \"true\")", ErrKeylessConfig)
	}
	if cfg.TokenRequestURL == "" || cfg.TokenRequestToken == "" {
		return cfg, fmt.Errorf("%w: ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN are not set: give the job `permissions: id-token: write`", ErrKeylessConfig)
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration without contacting anything. Error
// messages never contain the token.
func (c KeylessConfig) Validate() error {
	for _, f := range []struct{ field, value string }{{"FulcioURL", c.FulcioURL}, {"RekorURL", c.RekorURL}, {"OIDCIssuer", c.OIDCIssuer}} {
		if err := checkServiceURL(f.field, f.value); err != nil {
			return err
		}
	}
	switch {
	case c.IDToken == "" && c.TokenRequestURL == "" && c.TokenRequestToken == "":
		return fmt.Errorf("%w: no OIDC token: set IDToken, or TokenRequestURL and TokenRequestToken", ErrKeylessConfig)
	case c.IDToken != "" && (c.TokenRequestURL != "" || c.TokenRequestToken != ""):
		return fmt.Errorf("%w: set either IDToken or TokenRequestURL/TokenRequestToken, not both", ErrKeylessConfig)
	case c.IDToken == "" && (c.TokenRequestURL == "" || c.TokenRequestToken == ""):
		return fmt.Errorf("%w: TokenRequestURL and TokenRequestToken must be set together", ErrKeylessConfig)
	case c.IDToken == "":
		return checkServiceURL("TokenRequestURL", c.TokenRequestURL)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return checkIDToken(c.IDToken, c.OIDCIssuer, now())
}

func checkServiceURL(field, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s is empty", ErrKeylessConfig, field)
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %s %q is not an absolute URL", ErrKeylessConfig, field, v)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("%w: %s %q uses plain HTTP; only loopback addresses may", ErrKeylessConfig, field, v)
	}
	return fmt.Errorf("%w: %s %q: scheme must be https", ErrKeylessConfig, field, v)
}

// checkIDToken checks the shape and claims of a JWT without verifying its
// signature (Fulcio does that): issuer, audience "sigstore", expiry.
func checkIDToken(tok, issuer string, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: IDToken is not a JWT (want three dot-separated parts)", ErrKeylessConfig)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: IDToken claims are not base64url", ErrKeylessConfig)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
		Sub string          `json:"sub"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return fmt.Errorf("%w: IDToken claims are not JSON", ErrKeylessConfig)
	}
	if claims.Iss != issuer {
		return fmt.Errorf("%w: IDToken issuer is %q, want %q", ErrKeylessConfig, claims.Iss, issuer)
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		return fmt.Errorf("%w: IDToken audience is malformed", ErrKeylessConfig)
	}
	if !slices.Contains(auds, SigstoreAudience) {
		return fmt.Errorf("%w: IDToken audience %v lacks %q (request the token with audience=sigstore)", ErrKeylessConfig, auds, SigstoreAudience)
	}
	if claims.Sub == "" {
		return fmt.Errorf("%w: IDToken has no subject", ErrKeylessConfig)
	}
	if claims.Exp == 0 || !now.Before(time.Unix(claims.Exp, 0)) {
		return fmt.Errorf("%w: IDToken expired at %s", ErrKeylessConfig, time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// NewKeylessSigner validates cfg and would build a keyless Signer.
//
// Keyless signing cannot run offline: it needs Fulcio, Rekor and the OIDC
// provider on the network, and this build of slipway signs with key pairs
// only. NewKeylessSigner contacts nothing: it returns an error wrapping
// ErrKeylessConfig for an invalid configuration, else one wrapping
// ErrKeylessUnavailable that says to sign with a key pair (LoadSigner).
func NewKeylessSigner(cfg KeylessConfig, opts ...Option) (*Signer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	if _, err := makeOptions(opts); err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	return nil, fmt.Errorf("keyless signing via %s and %s: %w: it needs these sigstore services on the network, which this build does not contact; sign with a cosign key pair (signing key and password) instead",
		cfg.FulcioURL, cfg.RekorURL, ErrKeylessUnavailable)
}
