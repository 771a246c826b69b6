package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/admission"
	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
)

// AdmissionPolicy writes the admission policy that makes a cluster check
// what promotion into the environment checks: every image of the services
// deployed there must be signed by an identity the environment accepts (its
// signedBy, else signing.identities; or by --public-key) and carry the
// attestations it requires. As a Sigstore policy-controller
// ClusterImagePolicy, a Kyverno ClusterPolicy, or both:
// `dagger call admission-policy --env prod > prod-admission.yaml`.
func (m *Slipway) AdmissionPolicy(
	ctx context.Context,
	// The environment the cluster runs, e.g. prod.
	env string,
	// policy-controller, kyverno or both.
	// +optional
	// +default="both"
	format string,
	// cosign public key (PEM) whose signatures are accepted too.
	// +optional
	publicKey *dagger.Secret,
) (string, error) {
	if format != "both" && format != "policy-controller" && format != "kyverno" {
		return "", fmt.Errorf("--format %q: want policy-controller, kyverno or both", format)
	}
	p, err := m.configPlan(ctx)
	if err != nil {
		return "", err
	}
	e, err := (&config.Config{Project: p.Project}).Environment(env)
	if err != nil {
		return "", err
	}
	in := admission.Input{Project: p.Project.Name, Env: e.Name, Signers: p.Project.SignersFor(e.Name),
		IgnoreSCT: p.Project.Signing.Keyless.InsecureIgnoreSCT, ClassicKey: p.Project.Signing.Format == "classic"}
	in.Attesters = append(append([]config.Identity(nil), p.Project.Signing.Identities...), e.SignedBy...)
	for _, s := range p.Services {
		if s.DeploysTo(e.Name) {
			in.Repositories = append(in.Repositories, s.Repository)
		}
	}
	for _, a := range e.RequireAttestations {
		k, err := provenance.KindOf(a)
		if err != nil {
			return "", err
		}
		in.PredicateTypes = append(in.PredicateTypes, k.PredicateType)
	}
	if publicKey != nil {
		if in.PublicKeyPEM, err = publicKey.Plaintext(ctx); err != nil {
			return "", err
		}
	}
	if sc := p.Project.Signing.Keyless.SigningConfigJSON; sc != "" {
		in.Private = true
		in.FulcioURL, in.RekorURL = sigstoreURLs(sc)
	}
	var out strings.Builder
	if format != "kyverno" {
		b, err := admission.PolicyController(in)
		if err != nil {
			return "", err
		}
		out.Write(b)
	}
	if format != "policy-controller" {
		b, err := admission.Kyverno(in)
		if err != nil {
			return "", err
		}
		out.Write(b)
	}
	return out.String(), nil
}

// sigstoreURLs reads the first Fulcio and Rekor URLs of a signing config.
func sigstoreURLs(signingConfig string) (fulcio, rekor string) {
	var sc struct {
		CAURLs []struct {
			URL string `json:"url"`
		} `json:"caUrls"`
		RekorURLs []struct {
			URL string `json:"url"`
		} `json:"rekorTlogUrls"`
	}
	if json.Unmarshal([]byte(signingConfig), &sc) != nil {
		return "", ""
	}
	if len(sc.CAURLs) > 0 {
		fulcio = sc.CAURLs[0].URL
	}
	if len(sc.RekorURLs) > 0 {
		rekor = sc.RekorURLs[0].URL
	}
	return fulcio, rekor
}
