package signing

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/slipwayci/slipway/internal/registry"
)

// GitHub Actions' OIDC issuer and the audience Fulcio requires.
const (
	GitHubActionsOIDCIssuer = "https://token.actions.githubusercontent.com"
	// SigstoreAudience is the audience Fulcio requires in OIDC tokens.
	SigstoreAudience = "sigstore"
	// inTotoPayloadType is the DSSE payload type of in-toto statements.
	inTotoPayloadType = "application/vnd.in-toto+json"
)

var (
	// ErrKeylessConfig: the keyless configuration is incomplete or invalid.
	ErrKeylessConfig = errors.New("keyless signing is not configured correctly")
	// ErrKeylessToken: no OIDC token could be had, or Fulcio refused it.
	ErrKeylessToken = errors.New("keyless signing could not get a signing certificate")
)

// KeylessConfig configures keyless signing: an ephemeral key pair, made
// once per run, whose public key Fulcio certifies for the workload identity
// in an OIDC token (in GitHub Actions, the workflow's token with audience
// "sigstore"); each signature is timestamped by the timestamp authorities
// and recorded in the transparency log the signing config names, and stored
// as a Sigstore bundle referring to the image (cosign v3's format).
type KeylessConfig struct {
	// SigningConfig is a Sigstore signing config (v0.2 JSON: Fulcio, Rekor
	// v1 or v2, timestamp authorities). Nil means the public-good
	// instance's, fetched through Sigstore's TUF repository.
	SigningConfig []byte
	// OIDCIssuer, when set, is the issuer the token must come from
	// (checked before anything is sent to Fulcio).
	OIDCIssuer string
	// IDToken is the OIDC token itself (a secret: never logged). Either it
	// or both TokenRequestURL and TokenRequestToken must be set.
	IDToken string
	// TokenRequestURL and TokenRequestToken are GitHub Actions'
	// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, with
	// which a fresh token is requested whenever a certificate is needed.
	TokenRequestURL, TokenRequestToken string
	// Now is the clock used to check token expiry (time.Now if nil).
	Now func() time.Time
	// HTTPClient requests tokens (http.DefaultClient if nil).
	HTTPClient *http.Client
}

// KeylessConfigFromGitHubActions builds a configuration for the public
// Sigstore instance from GitHub Actions' environment, read through getenv
// (os.Getenv in production). The workflow needs `permissions: id-token:
// write` for the token request variables to be set.
func KeylessConfigFromGitHubActions(getenv func(string) string) (KeylessConfig, error) {
	cfg := KeylessConfig{
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
	if c.SigningConfig != nil {
		if _, err := parseSigningConfig(c.SigningConfig); err != nil {
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
	return checkIDToken(c.IDToken, c.OIDCIssuer, c.now())
}

func (c KeylessConfig) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// keylessServices are the services a signing config selects.
type keylessServices struct {
	fulcio string
	rekor  []root.Service
	tsa    []root.Service
}

// parseSigningConfig reads a signing config and selects its services for
// now, checking each URL.
func parseSigningConfig(b []byte) (keylessServices, error) {
	sc, err := root.NewSigningConfigFromJSON(b)
	if err != nil {
		return keylessServices{}, fmt.Errorf("%w: the signing config: %v", ErrKeylessConfig, err)
	}
	return selectServices(sc)
}

func selectServices(sc *root.SigningConfig) (keylessServices, error) {
	now := time.Now()
	var s keylessServices
	if len(sc.FulcioCertificateAuthorityURLs()) == 0 {
		return s, fmt.Errorf("%w: the signing config names no Fulcio (caUrls)", ErrKeylessConfig)
	}
	f, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil {
		return s, fmt.Errorf("%w: the signing config's Fulcio: %v", ErrKeylessConfig, err)
	}
	s.fulcio = f.URL
	if len(sc.RekorLogURLs()) > 0 {
		if s.rekor, err = root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, now); err != nil {
			return s, fmt.Errorf("%w: the signing config's transparency logs: %v", ErrKeylessConfig, err)
		}
	}
	if len(sc.TimestampAuthorityURLs()) > 0 {
		if s.tsa, err = root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now); err != nil {
			return s, fmt.Errorf("%w: the signing config's timestamp authorities: %v", ErrKeylessConfig, err)
		}
	}
	if len(s.rekor) == 0 && len(s.tsa) == 0 {
		return s, fmt.Errorf("%w: the signing config names neither a transparency log nor a timestamp authority: a keyless signature must be timestamped to outlive its 10-minute certificate", ErrKeylessConfig)
	}
	for _, r := range s.rekor {
		if r.MajorAPIVersion == 2 && len(s.tsa) == 0 {
			return s, fmt.Errorf("%w: the signing config's Rekor v2 log (%s) needs a timestamp authority for keyless signatures, and it names none", ErrKeylessConfig, r.URL)
		}
	}
	if err := checkServiceURL("Fulcio", s.fulcio); err != nil {
		return s, err
	}
	for _, r := range s.rekor {
		if err := checkServiceURL("Rekor", r.URL); err != nil {
			return s, err
		}
	}
	for _, t := range s.tsa {
		if err := checkServiceURL("timestamp authority", t.URL); err != nil {
			return s, err
		}
	}
	return s, nil
}

// checkServiceURL accepts https, and plain http to loopback or private
// addresses only (a private Sigstore stack next to the runner).
func checkServiceURL(field, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s URL is empty", ErrKeylessConfig, field)
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %s URL %q is not an absolute URL", ErrKeylessConfig, field, v)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && (ip.IsLoopback() || ip.IsPrivate())) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("%w: %s URL %q uses plain HTTP; only loopback and private addresses may", ErrKeylessConfig, field, v)
	}
	return fmt.Errorf("%w: %s URL %q: scheme must be https", ErrKeylessConfig, field, v)
}

// checkIDToken checks the shape and claims of a JWT without verifying its
// signature (Fulcio does that): issuer (when one is wanted), audience
// "sigstore", subject, expiry.
func checkIDToken(tok, issuer string, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: the OIDC token is not a JWT (want three dot-separated parts)", ErrKeylessConfig)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: the OIDC token's claims are not base64url", ErrKeylessConfig)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
		Sub string          `json:"sub"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return fmt.Errorf("%w: the OIDC token's claims are not JSON", ErrKeylessConfig)
	}
	if issuer != "" && claims.Iss != issuer {
		return fmt.Errorf("%w: the OIDC token's issuer is %q, want %q", ErrKeylessConfig, claims.Iss, issuer)
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		return fmt.Errorf("%w: the OIDC token's audience is malformed", ErrKeylessConfig)
	}
	if !slices.Contains(auds, SigstoreAudience) {
		return fmt.Errorf("%w: the OIDC token's audience %v lacks %q (request the token with audience=sigstore)", ErrKeylessConfig, auds, SigstoreAudience)
	}
	if claims.Sub == "" {
		return fmt.Errorf("%w: the OIDC token has no subject", ErrKeylessConfig)
	}
	if claims.Exp == 0 || !now.Before(time.Unix(claims.Exp, 0)) {
		return fmt.Errorf("%w: the OIDC token expired at %s", ErrKeylessConfig, time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// keyless is the keyless half of a Signer: one ephemeral key per run, its
// certificate fetched once and again only when it is about to expire.
type keyless struct {
	cfg      KeylessConfig
	services keylessServices
	kp       *sign.EphemeralKeypair
	fulcio   *sign.Fulcio

	mu       sync.Mutex
	cert     []byte
	notAfter time.Time
	certs    int
}

// NewKeylessSigner validates cfg and returns a Signer that signs and attests
// keylessly, writing Sigstore bundles as referrers of the images. Nothing is
// contacted until the first signature, except that a nil SigningConfig is
// fetched from the public-good instance's TUF repository here.
func NewKeylessSigner(cfg KeylessConfig, opts ...Option) (*Signer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	var services keylessServices
	if cfg.SigningConfig != nil {
		services, err = parseSigningConfig(cfg.SigningConfig)
	} else {
		var sc *root.SigningConfig
		if sc, err = root.FetchSigningConfig(); err != nil {
			return nil, fmt.Errorf("keyless signing: fetching the public-good signing config through TUF: %v (offline? give a signing config)", err)
		}
		services, err = selectServices(sc)
	}
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	k := &keyless{cfg: cfg, services: services, kp: kp,
		fulcio: sign.NewFulcio(&sign.FulcioOptions{BaseURL: services.fulcio, Timeout: 30 * time.Second, Retries: 2})}
	return &Signer{client: o.client, keyless: k}, nil
}

// token returns the configured token, or requests a fresh one.
func (k *keyless) token(ctx context.Context) (string, error) {
	if k.cfg.IDToken != "" {
		if err := checkIDToken(k.cfg.IDToken, k.cfg.OIDCIssuer, k.cfg.now()); err != nil {
			return "", err
		}
		return k.cfg.IDToken, nil
	}
	u, err := url.Parse(k.cfg.TokenRequestURL)
	if err != nil {
		return "", fmt.Errorf("%w: TokenRequestURL: %v", ErrKeylessConfig, err)
	}
	q := u.Query()
	q.Set("audience", SigstoreAudience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+k.cfg.TokenRequestToken)
	req.Header.Set("Accept", "application/json")
	hc := k.cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: requesting an OIDC token from %s: %v", ErrKeylessToken, u.Host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: requesting an OIDC token from %s: HTTP %d (is the request token current, and does the job have `permissions: id-token: write`?)", ErrKeylessToken, u.Host, resp.StatusCode)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fmt.Errorf("%w: requesting an OIDC token from %s: the answer holds no token", ErrKeylessToken, u.Host)
	}
	if err := checkIDToken(v.Value, k.cfg.OIDCIssuer, k.cfg.now()); err != nil {
		return "", err
	}
	return v.Value, nil
}

// GetCertificate makes keyless a sign.CertificateProvider that asks Fulcio
// once per run (again only when the certificate has under two minutes
// left).
func (k *keyless) GetCertificate(ctx context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && time.Until(k.notAfter) > 2*time.Minute {
		return k.cert, nil
	}
	tok, err := k.token(ctx)
	if err != nil {
		return nil, err
	}
	der, err := k.fulcio.GetCertificate(ctx, kp, &sign.CertificateProviderOptions{IDToken: tok})
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, tok) {
			msg = "(detail withheld: it quotes the token)"
		}
		return nil, fmt.Errorf("%w from Fulcio %s: %s", ErrKeylessToken, k.services.fulcio, msg)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: Fulcio %s answered an unreadable certificate: %v", ErrKeylessToken, k.services.fulcio, err)
	}
	k.cert, k.notAfter = der, cert.NotAfter
	k.certs++
	return der, nil
}

// bundleOptions are sigstore-go's options for one signature.
func (k *keyless) bundleOptions(ctx context.Context) sign.BundleOptions {
	opts := sign.BundleOptions{
		CertificateProvider:        k,
		CertificateProviderOptions: &sign.CertificateProviderOptions{},
		Context:                    ctx,
	}
	for _, t := range k.services.tsa {
		opts.TimestampAuthorities = append(opts.TimestampAuthorities,
			sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: t.URL, Timeout: 30 * time.Second, Retries: 2}))
	}
	for _, r := range k.services.rekor {
		opts.TransparencyLogs = append(opts.TransparencyLogs,
			sign.NewRekor(&sign.RekorOptions{BaseURL: r.URL, Version: r.MajorAPIVersion, Timeout: 60 * time.Second, Retries: 2}))
	}
	return opts
}

// signStatement signs an in-toto statement about d into a bundle and stores
// it as a referrer of d.
func (k *keyless) signStatement(ctx context.Context, c *registry.Client, d name.Digest, statement []byte, predicateType string) (Result, error) {
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: inTotoPayloadType}, k.kp, k.bundleOptions(ctx))
	if err != nil {
		if errors.Is(err, ErrKeylessToken) || errors.Is(err, ErrKeylessConfig) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("keyless signing %s: %w", d, err)
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		return Result{}, fmt.Errorf("keyless signing %s: %w", d, err)
	}
	ref, err := writeBundle(ctx, c, d, js, predicateType, k.cfg.now())
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: d.String(), Ref: ref.String()}, nil
}

// Certificate returns the PEM of the signing certificate Fulcio issued
// (empty before the first signature, or for a key-based Signer).
func (s *Signer) Certificate() []byte {
	if s.keyless == nil {
		return nil
	}
	s.keyless.mu.Lock()
	defer s.keyless.mu.Unlock()
	if s.keyless.cert == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.keyless.cert})
}

// Keyless reports whether the Signer signs keylessly.
func (s *Signer) Keyless() bool { return s.keyless != nil }
