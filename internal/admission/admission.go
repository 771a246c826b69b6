// Package admission writes the cluster-side twin of slipway's promotion
// checks: admission policies that make a Kubernetes cluster refuse any image
// of the project that the environment's signers did not sign, or that lacks
// the attestations the environment requires. Two controllers are served:
// Sigstore's policy-controller (ClusterImagePolicy, policy.sigstore.dev/
// v1beta1) and Kyverno (ClusterPolicy with verifyImages, kyverno.io/v1).
//
// The policies say what slipway's own verification says: the signature by
// an identity the environment accepts (its signedBy, else
// signing.identities) or by the project's public key, and each required
// attestation by the build's identities. The package never imports Dagger.
package admission

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/internal/config"
)

// Public-good Sigstore, which the policies name unless told otherwise.
const (
	PublicFulcio = "https://fulcio.sigstore.dev"
	PublicRekor  = "https://rekor.sigstore.dev"
)

// Input is what the policies are made from.
type Input struct {
	// Project and Env name the policies.
	Project, Env string
	// Repositories are the image repositories of the services deployed to
	// Env (e.g. ghcr.io/acme/shop/orders).
	Repositories []string
	// Signers may sign the images; Attesters may sign their attestations.
	Signers, Attesters []config.Identity
	// PublicKeyPEM, when set, is a key whose signatures are accepted too;
	// ClassicKey says they are in cosign's classic format
	// (signing.format: classic), not Sigstore bundles.
	PublicKeyPEM string
	ClassicKey   bool
	// PredicateTypes are the attestations the environment requires.
	PredicateTypes []string
	// FulcioURL and RekorURL locate the Sigstore instance (default the
	// public-good one). Private names a private instance: its trust root
	// must be installed in the cluster (policy-controller TrustRoot).
	FulcioURL, RekorURL string
	Private             bool
	// IgnoreSCT: the instance's Fulcio logs to no CT log.
	IgnoreSCT bool
}

// ErrNothingToCheck: the environment has no signer, key or attestation to
// require, or no image to guard.
var ErrNothingToCheck = errors.New("nothing to check")

func (in *Input) check() error {
	if len(in.Repositories) == 0 {
		return fmt.Errorf("%w: no service is deployed to %s", ErrNothingToCheck, in.Env)
	}
	if len(in.Signers) == 0 && in.PublicKeyPEM == "" {
		return fmt.Errorf("%w: environment %s accepts no keyless signer (signing.identities or environments[].signedBy in slipway.yaml) and no public key was given", ErrNothingToCheck, in.Env)
	}
	if len(in.PredicateTypes) > 0 && len(in.Attesters) == 0 && in.PublicKeyPEM == "" {
		return fmt.Errorf("%w: environment %s requires attestations but names no identity that makes them (signing.identities)", ErrNothingToCheck, in.Env)
	}
	if in.FulcioURL == "" {
		in.FulcioURL = PublicFulcio
	}
	if in.RekorURL == "" {
		in.RekorURL = PublicRekor
	}
	return nil
}

func (in Input) name(suffix string) string {
	return "slipway-" + in.Project + "-" + in.Env + suffix
}

// anchored makes a whole-value pattern of slipway's (regular expressions in
// slipway.yaml match the whole value; the controllers' may match a part).
func anchored(re string) string {
	if re == "" {
		return ""
	}
	return "^(?:" + re + ")$"
}

// globs are the image patterns: every repository and everything in it.
func (in Input) globs(suffix string) []string {
	out := make([]string, 0, len(in.Repositories))
	for _, r := range in.Repositories {
		out = append(out, r+suffix)
	}
	sort.Strings(out)
	return out
}

// PolicyController returns ClusterImagePolicy documents: one for the
// signature, and one for the attestations when the environment requires
// any (every matching policy must pass, so both apply).
func PolicyController(in Input) ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	images := []map[string]any{}
	for _, g := range in.globs("**") {
		images = append(images, map[string]any{"glob": g})
	}
	keyless := func(ids []config.Identity) map[string]any {
		var list []map[string]any
		for _, id := range ids {
			m := map[string]any{}
			put(m, "issuer", id.Issuer)
			put(m, "issuerRegExp", anchored(id.IssuerRegexp))
			put(m, "subject", id.Subject)
			put(m, "subjectRegExp", anchored(id.SubjectRegexp))
			list = append(list, m)
		}
		k := map[string]any{"url": in.FulcioURL, "identities": list}
		if in.Private {
			k["trustRootRef"] = in.name("-trust-root")
		}
		if in.IgnoreSCT {
			k["insecureIgnoreSCT"] = true
		}
		return k
	}
	authority := func(name string, ids []config.Identity, attestations []map[string]any) []map[string]any {
		var out []map[string]any
		if len(ids) > 0 {
			a := map[string]any{"name": name + "-keyless", "keyless": keyless(ids), "signatureFormat": "bundle",
				"ctlog": map[string]any{"url": in.RekorURL}}
			if in.Private {
				a["ctlog"] = map[string]any{"trustRootRef": in.name("-trust-root")}
				a["rfc3161timestamp"] = map[string]any{"trustRootRef": in.name("-trust-root")}
			}
			if attestations != nil {
				a["attestations"] = attestations
			}
			out = append(out, a)
		}
		if in.PublicKeyPEM != "" {
			// Key signatures are logged nowhere.
			a := map[string]any{"name": name + "-key", "key": map[string]any{"data": in.PublicKeyPEM}, "ctlog": map[string]any{}}
			if !in.ClassicKey {
				a["signatureFormat"] = "bundle"
			}
			if attestations != nil {
				a["attestations"] = attestations
			}
			out = append(out, a)
		}
		return out
	}
	docs := []any{policy("policy.sigstore.dev/v1beta1", "ClusterImagePolicy", in.name("-signed"), map[string]any{
		"mode":        "enforce",
		"images":      images,
		"authorities": authority("signature", in.Signers, nil),
	})}
	if len(in.PredicateTypes) > 0 {
		var atts []map[string]any
		for i, pt := range in.PredicateTypes {
			atts = append(atts, map[string]any{"name": fmt.Sprintf("attestation-%d", i+1), "predicateType": pt})
		}
		docs = append(docs, policy("policy.sigstore.dev/v1beta1", "ClusterImagePolicy", in.name("-attested"), map[string]any{
			"mode":        "enforce",
			"images":      images,
			"authorities": authority("attestations", in.Attesters, atts),
		}))
	}
	return render(in, "Sigstore policy-controller", true, docs)
}

// Kyverno returns a ClusterPolicy whose verifyImages rule checks the
// signature (Sigstore bundles, Kyverno's SigstoreBundle type; cosign's
// classic format for a key with signing.format: classic) and the required
// attestations.
func Kyverno(in Input) ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	entries := func(ids []config.Identity) []map[string]any {
		var out []map[string]any
		for _, id := range ids {
			k := map[string]any{"rekor": map[string]any{"url": in.RekorURL}}
			put(k, "issuer", id.Issuer)
			put(k, "issuerRegExp", anchored(id.IssuerRegexp))
			put(k, "subject", id.Subject)
			put(k, "subjectRegExp", anchored(id.SubjectRegexp))
			if in.IgnoreSCT {
				k["ctlog"] = map[string]any{"ignoreSCT": true}
			}
			out = append(out, map[string]any{"keyless": k})
		}
		return out
	}
	refs := in.globs("*")
	// Kyverno checks one signature format per rule, and its policies all
	// apply: an image signed either way cannot be admitted by two. With
	// keyless signers, the keyless rule is written; with a key alone, the
	// key's.
	v := map[string]any{
		"failureAction": "Enforce", "imageReferences": refs,
		"mutateDigest": true, "verifyDigest": true, "required": true,
	}
	name := "signed-by-an-accepted-identity"
	if len(in.Signers) > 0 {
		v["type"] = "SigstoreBundle"
		v["attestors"] = []map[string]any{{"count": 1, "entries": entries(in.Signers)}}
	} else {
		name = "signed-with-the-project-key"
		v["type"] = "SigstoreBundle"
		if in.ClassicKey {
			v["type"] = "Cosign"
		}
		v["attestors"] = []map[string]any{{"count": 1, "entries": []map[string]any{{"keys": map[string]any{
			"publicKeys": in.PublicKeyPEM, "rekor": map[string]any{"ignoreTlog": true, "url": in.RekorURL}}}}}}
	}
	if len(in.PredicateTypes) > 0 {
		attesters := []map[string]any{{"count": 1, "entries": entries(in.Attesters)}}
		if len(in.Signers) == 0 {
			attesters = v["attestors"].([]map[string]any)
		}
		var atts []map[string]any
		for _, pt := range in.PredicateTypes {
			atts = append(atts, map[string]any{"type": pt, "attestors": attesters})
		}
		v["attestations"] = atts
	}
	docs := []any{policy("kyverno.io/v1", "ClusterPolicy", in.name("-verify-images"), map[string]any{
		"background":           false,
		"webhookConfiguration": map[string]any{"failurePolicy": "Fail", "timeoutSeconds": 30},
		"rules": []map[string]any{{
			"name":         name,
			"match":        map[string]any{"any": []map[string]any{{"resources": map[string]any{"kinds": []string{"Pod"}}}}},
			"verifyImages": []map[string]any{v},
		}},
	})}
	return render(in, "Kyverno", false, docs)
}

func put(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func policy(apiVersion, kind, name string, spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata": map[string]any{"name": name, "labels": map[string]string{
			"app.kubernetes.io/managed-by": "slipway",
		}},
		"spec": spec,
	}
}

// render writes the documents as one YAML stream under a header saying
// what they enforce.
func render(in Input, controller string, keyToo bool, docs []any) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s admission policy for environment %s of %s, written by slipway\n", controller, in.Env, in.Project)
	fmt.Fprintf(&b, "# (dagger call admission-policy --env %s). It admits an image of %s only when\n", in.Env, strings.Join(in.Repositories, ", "))
	if len(in.Signers) > 0 {
		fmt.Fprintf(&b, "# it carries a Sigstore bundle signed by %s", describe(in.Signers))
		if in.PublicKeyPEM != "" && keyToo {
			b.WriteString(", or a signature by the project's key")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("# the project's key signed it\n")
	}
	if len(in.PredicateTypes) > 0 {
		fmt.Fprintf(&b, "# and attestations %s by %s.\n", strings.Join(in.PredicateTypes, ", "), describe(in.Attesters))
	}
	if in.Private {
		fmt.Fprintf(&b, "# The Sigstore instance is private: install its trusted root in the cluster as %s.\n", in.name("-trust-root"))
	}
	for _, d := range docs {
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func describe(ids []config.Identity) string {
	var out []string
	for _, id := range ids {
		s := id.Subject
		if s == "" {
			s = "/" + id.SubjectRegexp + "/"
		}
		out = append(out, s)
	}
	return strings.Join(out, " or ")
}
