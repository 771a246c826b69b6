package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

// hostOf returns the registry host of a repository or reference.
func hostOf(ref string) string {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i]
	}
	return ref
}

// newRegistry builds the registry client: plain HTTP for the insecure hosts,
// and the credentials from the environment for every host the run uses.
func newRegistry(insecure []string, hosts ...string) (*registry.Client, error) {
	opts := []registry.Option{registry.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if len(insecure) > 0 {
		opts = append(opts, registry.WithInsecure(insecure...))
	}
	user, pass := os.Getenv(wire.EnvRegistryUsername), os.Getenv(wire.EnvRegistryPassword)
	if pass != "" {
		seen := map[string]bool{}
		for _, h := range hosts {
			h = hostOf(h)
			if h == "" || seen[h] {
				continue
			}
			seen[h] = true
			if user == "" {
				opts = append(opts, registry.WithToken(h, pass))
			} else {
				opts = append(opts, registry.WithBasicAuth(h, user, pass))
			}
		}
	}
	return registry.New(opts...)
}

// finder adapts the registry client to the planner's build-avoidance lookup.
type finder struct{ c *registry.Client }

func (f finder) FindByInputDigest(ctx context.Context, repo, inputDigest string) (string, bool, error) {
	d, found, err := f.c.FindByInputDigest(ctx, repo, inputDigest)
	if err != nil || !found {
		// A tag whose label does not match is not ours to reuse: rebuild.
		if err != nil && strings.Contains(err.Error(), registry.ErrInputMismatch.Error()) {
			return "", false, nil
		}
		return "", false, err
	}
	return d.String(), true, nil
}

var _ plan.Finder = finder{}

// newFinder returns the registry-backed build-avoidance lookup.
func newFinder(insecure []string, registryAddr string) (plan.Finder, error) {
	c, err := newRegistry(insecure, registryAddr)
	if err != nil {
		return nil, err
	}
	return finder{c}, nil
}

// newSigner returns this run's signer: the cosign key from the
// environment, or a keyless signer when an OIDC token (or GitHub Actions'
// token request) was given; nil when neither was (images are then
// published unsigned).
func newSigner(c *registry.Client) (*signing.Signer, error) {
	tok, reqTok := os.Getenv(wire.EnvOIDCToken), os.Getenv(wire.EnvOIDCRequestToken)
	keyless := tok != "" || reqTok != ""
	if os.Getenv(wire.EnvSigningKey) != "" {
		if keyless {
			return nil, errors.New("both a signing key and an OIDC token were given: sign with one (--signing-key, or --oidc-token / --oidc-request-token)")
		}
		return keySigner(c)
	}
	if !keyless {
		return nil, nil
	}
	k, err := keylessSettings()
	if err != nil {
		return nil, err
	}
	if k.Format == "classic" {
		return nil, errors.New("slipway.yaml: signing.format: classic needs a key pair (--signing-key): keyless signatures are Sigstore bundles, which cosign v3 verifies")
	}
	cfg := signing.KeylessConfig{IDToken: tok, TokenRequestURL: os.Getenv(wire.EnvOIDCRequestURL), TokenRequestToken: reqTok}
	if k.SigningConfig != "" {
		cfg.SigningConfig = []byte(k.SigningConfig)
	}
	if reqTok != "" && cfg.TokenRequestURL == "" {
		return nil, errors.New("--oidc-request-token needs --oidc-request-url (ACTIONS_ID_TOKEN_REQUEST_URL)")
	}
	return signing.NewKeylessSigner(cfg, signing.WithRegistry(c))
}

// keySigner loads the cosign signing key from the environment; nil when
// none was given. It signs into Sigstore bundles unless slipway.yaml's
// signing.format is classic.
func keySigner(c *registry.Client) (*signing.Signer, error) {
	key := os.Getenv(wire.EnvSigningKey)
	if key == "" {
		return nil, nil
	}
	k, err := keylessSettings()
	if err != nil {
		return nil, err
	}
	opts := []signing.Option{signing.WithRegistry(c)}
	if k.Format != "classic" {
		opts = append(opts, signing.WithBundles())
	}
	s, err := signing.LoadSigner([]byte(key), []byte(os.Getenv(wire.EnvSigningPassword)), opts...)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	return s, nil
}

// keylessSettings reads the project's keyless settings the module passes;
// zero without.
func keylessSettings() (wire.Keyless, error) {
	var k wire.Keyless
	if v := os.Getenv(wire.EnvKeyless); v != "" {
		if err := json.Unmarshal([]byte(v), &k); err != nil {
			return k, fmt.Errorf("%s: %w", wire.EnvKeyless, err)
		}
	}
	return k, nil
}

// keylessPolicy is what keyless signatures must satisfy in environment env
// (its signedBy, else signing.identities; "" for the project's); nil when
// no identity is configured.
func keylessPolicy(env string) (*signing.KeylessPolicy, error) {
	k, err := keylessSettings()
	if err != nil {
		return nil, err
	}
	decode := func(raw json.RawMessage) ([]signing.Identity, error) {
		var ids []signing.Identity
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &ids); err != nil {
				return nil, fmt.Errorf("%s: identities: %w", wire.EnvKeyless, err)
			}
		}
		return ids, nil
	}
	project, err := decode(k.Identities)
	if err != nil {
		return nil, err
	}
	var own []signing.Identity
	if env != "" {
		if own, err = decode(k.SignedBy[env]); err != nil {
			return nil, err
		}
	}
	ids := project
	if len(own) > 0 {
		ids = own
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// Signatures by the environment's own signers; attestations (made by
	// the build) by the project's signers or those.
	p := &signing.KeylessPolicy{Identities: ids, AttestedBy: append(append([]signing.Identity(nil), project...), own...), IgnoreSCT: k.IgnoreSCT}
	if k.TrustedRoot != "" {
		p.TrustedRoot = []byte(k.TrustedRoot)
	}
	return p, nil
}

// newVerifier returns the verifier for signature checks in environment env
// ("" for the project's identities): the explicit public key, else the
// signing key's, and the keyless identities env accepts; nil when there is
// neither a key nor an identity.
func newVerifier(c *registry.Client, env string) (*signing.Verifier, error) {
	var pub []byte
	if p := os.Getenv(wire.EnvSigningPublicKey); p != "" {
		pub = []byte(p)
	} else {
		s, err := keySigner(c)
		if err != nil {
			return nil, err
		}
		if s != nil {
			pub = s.PublicKeyPEM()
		}
	}
	policy, err := keylessPolicy(env)
	if err != nil {
		return nil, err
	}
	if pub == nil && policy == nil {
		return nil, nil
	}
	v, err := signing.NewVerifier(pub, policy, signing.WithRegistry(c))
	if err != nil && pub != nil && os.Getenv(wire.EnvSigningPublicKey) != "" {
		return nil, fmt.Errorf("--public-key: %w", err)
	}
	return v, err
}
