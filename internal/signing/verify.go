package signing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/slipwayci/slipway/internal/registry"
)

// Signature is a verified signature.
type Signature struct {
	// Digest is the digest reference the signature is bound to.
	Digest string
	// Annotations are the signed annotations.
	Annotations map[string]string
	// Ref is where the signature is stored: the classic ".sig" tag, or the
	// referrer manifest holding the Sigstore bundle.
	Ref string
	// Signer and Issuer name a keyless signature's certificate identity
	// and OIDC issuer (empty for a key's).
	Signer, Issuer string
}

// checkOpts are cosign's verification options for v: offline, key-based,
// with claim checking bound to the digest by the claim verifier.
func (v *Verifier) checkOpts(ctx context.Context, claim func(oci.Signature, v1.Hash, map[string]interface{}) error) *cosign.CheckOpts {
	return &cosign.CheckOpts{
		RegistryClientOpts: ociOptions(ctx, v.client),
		SigVerifier:        v.v,
		IgnoreTlog:         true,
		IgnoreSCT:          true,
		ClaimVerifier:      claim,
	}
}

// claimError marks failures found after the cryptographic check passed.
type claimError struct {
	kind   error
	detail string
}

func (e *claimError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *claimError) Unwrap() error { return e.kind }

// simpleClaim checks that a simple-signing payload names digest h and holds
// every wanted annotation with the same value.
func simpleClaim(want map[string]string) func(oci.Signature, v1.Hash, map[string]interface{}) error {
	return func(sig oci.Signature, h v1.Hash, _ map[string]interface{}) error {
		if err := cosign.SimpleClaimVerifier(sig, h, nil); err != nil {
			return &claimError{ErrClaimMismatch, claimedDigest(sig, err)}
		}
		p, err := sig.Payload()
		if err != nil {
			return err
		}
		var ss payload.SimpleContainerImage
		if err := json.Unmarshal(p, &ss); err != nil {
			return err
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var diffs []string
		for _, k := range keys {
			got, ok := ss.Optional[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s missing (want %q)", k, want[k]))
			case got != want[k]:
				diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", k, fmt.Sprint(got), want[k]))
			}
		}
		if len(diffs) > 0 {
			return &claimError{ErrAnnotationMismatch, strings.Join(diffs, ", ")}
		}
		return nil
	}
}

func claimedDigest(sig oci.Signature, fallback error) string {
	p, err := sig.Payload()
	if err == nil {
		var ss payload.SimpleContainerImage
		if json.Unmarshal(p, &ss) == nil && ss.Critical.Image.DockerManifestDigest != "" {
			return "it signs " + ss.Critical.Image.DockerManifestDigest + " (a signature copied from another image)"
		}
	}
	return fallback.Error()
}

// Verify checks that the image digestRef names carries at least one
// signature by the verifier's key whose payload names exactly this digest
// and holds every annotation in want (extra annotations are allowed). It
// returns the verified signatures.
//
// Failures wrap ErrUnsigned, ErrSignatureInvalid, ErrClaimMismatch,
// ErrAnnotationMismatch or a registry error (registry.ErrNotFound when the
// image itself is missing).
func (v *Verifier) Verify(ctx context.Context, digestRef string, want map[string]string) ([]Signature, error) {
	d, err := v.client.ParseDigest(digestRef)
	if err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	const op = "verifying the signature of"
	if err := v.mustExist(ctx, op, d); err != nil {
		return nil, err
	}
	// Sigstore bundles first (keyless, or with the key), then the classic
	// signature tag.
	sigs, kerr := v.verifySignatureBundles(ctx, op, d, want)
	if kerr == nil || v.v == nil {
		return sigs, kerr
	}
	sigs, cerr := v.verifyClassic(ctx, op, d, want)
	if cerr == nil {
		return sigs, nil
	}
	return nil, either(kerr, cerr, ErrUnsigned)
}

// verifyClassic verifies cosign's classic signatures (the ".sig" tag).
func (v *Verifier) verifyClassic(ctx context.Context, op string, d name.Digest, want map[string]string) ([]Signature, error) {
	h, list, err := v.fetch(ctx, op, d, ociremote.SignatureTag)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, &verifyError{op, d.String(), ErrUnsigned, "no signature under " + sigTagName(h, "sig") + "; sign it, or copy its signatures along with it"}
	}
	co := v.checkOpts(ctx, simpleClaim(want))
	var out []Signature
	var failures []error
	for _, sig := range list {
		sig, err := static.Copy(sig)
		if err != nil {
			return nil, registry.Classify("reading the signatures of", d.String(), err)
		}
		if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
			failures = append(failures, err)
			continue
		}
		p, _ := sig.Payload()
		var ss payload.SimpleContainerImage
		_ = json.Unmarshal(p, &ss)
		ann := map[string]string{}
		for k, val := range ss.Optional {
			if s, ok := val.(string); ok {
				ann[k] = s
			}
		}
		out = append(out, Signature{Digest: d.String(), Annotations: ann, Ref: d.Context().Tag(sigTagName(h, "sig")).String()})
	}
	if len(out) == 0 {
		return nil, explain(op, d.String(), len(list), "signature", failures)
	}
	return out, nil
}

// explain turns per-signature failures into one error of the most specific
// kind: a wrong annotation beats a replayed signature beats an invalid one.
func explain(op, ref string, n int, what string, failures []error) error {
	for _, kind := range []error{ErrAnnotationMismatch, ErrClaimMismatch} {
		for _, f := range failures {
			var ce *claimError
			if errors.As(f, &ce) && ce.kind == kind {
				return &verifyError{op, ref, kind, ce.detail}
			}
		}
	}
	// Signed only in ways this verifier has nothing to check with.
	notVerifiable := len(failures) > 0
	for _, f := range failures {
		var ce *claimError
		if !errors.As(f, &ce) || ce.kind != ErrNotVerifiable {
			notVerifiable = false
		}
	}
	if notVerifiable {
		return &verifyError{op, ref, ErrNotVerifiable, failures[0].(*claimError).detail}
	}
	detail := fmt.Sprintf("%d %s(s) found, none by this key (signed with another key, or altered after signing)", n, what)
	if what == bundleWhat {
		detail = fmt.Sprintf("%d Sigstore bundle(s) found, none verifies", n)
	}
	if len(failures) > 0 {
		detail += "; first failure: " + failures[0].Error()
	}
	return &verifyError{op, ref, ErrSignatureInvalid, detail}
}

// fetch lists what is stored under the tag that tagFn derives from the
// digest (its callers have checked that the image exists).
func (v *Verifier) fetch(ctx context.Context, op string, d name.Digest, tagFn func(name.Reference, ...ociremote.Option) (name.Tag, error)) (v1.Hash, []oci.Signature, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("%s %s: %w", op, d, err)
	}
	tag, err := tagFn(d, ociOptions(ctx, v.client)...)
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("%s %s: %w", op, d, err)
	}
	sigs, err := ociremote.Signatures(tag, ociOptions(ctx, v.client)...)
	if err != nil {
		return v1.Hash{}, nil, registry.Classify(op, tag.String(), err)
	}
	list, err := sigs.Get()
	if err != nil {
		return v1.Hash{}, nil, registry.Classify(op, tag.String(), err)
	}
	return h, list, nil
}

func sigTagName(h v1.Hash, suffix string) string {
	return h.Algorithm + "-" + h.Hex + "." + suffix
}

// mustExist fails with registry.ErrNotFound when the image d names is not
// in its repository.
func (v *Verifier) mustExist(ctx context.Context, op string, d name.Digest) error {
	ok, err := v.client.Exists(ctx, d.String())
	if err != nil {
		return err
	}
	if !ok {
		return &registry.Error{Op: op, Ref: d.String(), Kind: registry.ErrNotFound, Status: 404,
			Hint: "the image does not exist in this repository"}
	}
	return nil
}

// either picks, of the keyless and the key-based failure, the one that says
// more: the other when one of them only found nothing (absent).
func either(keyless, classic, absent error) error {
	switch {
	case errors.Is(keyless, absent):
		return classic
	case errors.Is(classic, absent):
		return keyless
	}
	return keyless
}
