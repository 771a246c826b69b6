// Package reuse decides whether ci may reuse an image found by its input
// digest (build avoidance) instead of rebuilding the service.
//
// Finding the image proves little: its input tag and its
// dev.slipway.input-digest label can be written by anyone who can push to
// the repository, and input digests can be computed from the source. So an
// image is reused only when it is proven to be the pipeline's own:
//
//  1. its digest is not on the denylist of the GitOps repository's state
//     file (as read once at the start of the run);
//  2. with a signing key, it carries a valid signature by that key, bound to
//     its digest, whose dev.slipway.service annotation names this service;
//  3. with a signing key, it carries verified attestations of every kind the
//     first auto-deployed environment requires (requireAttestations),
//     checked exactly as a promotion checks them.
//
// Check returns a Refusal (with a typed Reason) when any of these fails:
// the caller rebuilds the service and writes nothing for the refused image.
package reuse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

// Reason is why an image found by its input digest is not reused.
type Reason string

// The reasons, in the order Check tests them.
const (
	// Denylisted: the digest is on the state file's denylist.
	Denylisted Reason = "denylisted"
	// Unsigned: no signature at all.
	Unsigned Reason = "unsigned"
	// ForeignKey: signatures exist, none verifies with the configured key
	// (signed with another key, or altered after signing).
	ForeignKey Reason = "signature-invalid"
	// CopiedSignature: a signature by the key, but for another digest
	// (copied from another image).
	CopiedSignature Reason = "signature-copied"
	// OtherService: a valid signature, but for another service.
	OtherService Reason = "other-service"
	// MissingAttestation: a required attestation is missing or does not
	// verify.
	MissingAttestation Reason = "attestation-missing"
	// IncompleteIndex: a multi-platform service's image lacks one of its
	// platforms.
	IncompleteIndex Reason = "index-incomplete"
)

// Refusal says why an image is not reused.
type Refusal struct {
	Reason Reason `json:"reason"`
	// Digest of the refused image (sha256:...).
	Digest string `json:"digest"`
	// Kind is the attestation kind, for MissingAttestation.
	Kind string `json:"kind,omitempty"`
	// Detail is the underlying finding (the verifier's error, the denylist
	// entry).
	Detail string `json:"detail"`
}

func (r *Refusal) Error() string {
	var what string
	switch r.Reason {
	case Denylisted:
		return fmt.Sprintf("input-digest image %s", r.Detail)
	case Unsigned:
		return fmt.Sprintf("input-digest image %s has no valid signature by the configured key: it is unsigned", r.Digest)
	case ForeignKey:
		what = "has no valid signature by the configured key"
	case CopiedSignature:
		what = "has no valid signature by the configured key (its signature is for another image)"
	case OtherService:
		what = "is signed by the configured key for another service"
	case MissingAttestation:
		what = "has no verified " + r.Kind + " attestation, which the first auto-deployed environment requires"
	case IncompleteIndex:
		what = "is not an index of every platform the service is built for"
	default:
		what = "is not trusted"
	}
	return fmt.Sprintf("input-digest image %s %s: %s", r.Digest, what, r.Detail)
}

// Note is the run report's line for service: what failed, and that the
// service was rebuilt.
func (r *Refusal) Note(service string) string {
	return service + ": " + r.Error() + ": rebuilt"
}

// Options are what Check verifies against.
type Options struct {
	// Service the image must be signed for.
	Service string
	// Verifier holds the public key of the configured signing key; nil
	// when none is configured (then only the denylist is checked).
	Verifier *signing.Verifier
	// State holds the denylist; nil means an empty one.
	State *state.State
	// RequireAttestations are the attestation kinds the first
	// auto-deployed environment requires.
	RequireAttestations []string
	// Platforms, when set, are the platforms the service is built for:
	// the image must be an index holding an image of each, every one
	// signed for the service (a partial index is rebuilt, never reused).
	Platforms []string
}

// Check decides whether the image digestRef (repository@sha256:...) may be
// reused. It returns nil, nil when it may; a Refusal when it must be
// rebuilt; an error when the answer could not be found (the registry is
// unreachable, the configuration names an unknown attestation kind).
func Check(ctx context.Context, c *registry.Client, digestRef string, o Options) (*Refusal, error) {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", o.Service, err)
	}
	digest := d.DigestStr()
	if o.State != nil {
		if why, ok := o.State.DenyReason(digest); ok {
			return &Refusal{Reason: Denylisted, Digest: digest, Detail: why}, nil
		}
	}
	var children []registry.Child
	if len(o.Platforms) > 0 {
		children, err = c.Children(ctx, d.String())
		if err != nil {
			return nil, fmt.Errorf("service %s: reading the platforms of %s before reusing it: %w", o.Service, d, err)
		}
		have := map[string]string{}
		for _, ch := range children {
			have[ch.Platform] = ch.Ref
		}
		for _, p := range o.Platforms {
			ref, ok := have[p]
			if !ok {
				return &Refusal{Reason: IncompleteIndex, Digest: digest, Detail: fmt.Sprintf("it holds no %s image", p)}, nil
			}
			if o.Verifier == nil {
				continue
			}
			if r, err := verifySignature(ctx, o, ref); r != nil || err != nil {
				if r != nil {
					r.Digest, r.Detail = digest, p+" image: "+r.Detail
				}
				return r, err
			}
			for _, kind := range o.RequireAttestations {
				if r, err := verifyAttestation(ctx, o, ref, kind); r != nil || err != nil {
					if r != nil {
						r.Digest, r.Detail = digest, p+" image: "+r.Detail
					}
					return r, err
				}
			}
		}
	}
	if o.Verifier == nil {
		return nil, nil
	}
	if r, err := verifySignature(ctx, o, d.String()); r != nil || err != nil {
		return r, err
	}
	for _, kind := range o.RequireAttestations {
		if len(children) > 0 && promote.PerPlatformOnly(kind) {
			continue // verified on each platform's image above
		}
		if r, err := verifyAttestation(ctx, o, d.String(), kind); r != nil || err != nil {
			return r, err
		}
	}
	return nil, nil
}

// verifyAttestation checks ref carries a verified attestation of kind,
// returning a Refusal when it does not.
func verifyAttestation(ctx context.Context, o Options, ref, kind string) (*Refusal, error) {
	err := promote.VerifyAttestationKind(ctx, o.Verifier, ref, kind)
	switch {
	case err == nil:
		return nil, nil
	case isFinding(err):
		return &Refusal{Reason: MissingAttestation, Digest: ref[strings.LastIndex(ref, "@")+1:], Kind: kind, Detail: err.Error()}, nil
	default:
		return nil, fmt.Errorf("service %s: verifying the %s attestation of %s before reusing it: %w", o.Service, kind, ref, err)
	}
}

// verifySignature checks ref carries a valid signature for o.Service,
// returning a Refusal when it does not.
func verifySignature(ctx context.Context, o Options, ref string) (*Refusal, error) {
	digest := ref[strings.LastIndex(ref, "@")+1:]
	_, err := o.Verifier.Verify(ctx, ref, map[string]string{signing.AnnotationService: o.Service})
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, signing.ErrUnsigned):
		// The verifier's hint (sign it) is for images of our own: this one
		// is refused, and the detail would only repeat that it is unsigned.
		return &Refusal{Reason: Unsigned, Digest: digest, Detail: "no signature is stored for this digest"}, nil
	case errors.Is(err, signing.ErrAnnotationMismatch):
		return &Refusal{Reason: OtherService, Digest: digest, Detail: err.Error()}, nil
	case errors.Is(err, signing.ErrClaimMismatch):
		return &Refusal{Reason: CopiedSignature, Digest: digest, Detail: err.Error()}, nil
	case errors.Is(err, signing.ErrSignatureInvalid):
		return &Refusal{Reason: ForeignKey, Digest: digest, Detail: err.Error()}, nil
	default:
		return nil, fmt.Errorf("service %s: verifying the signature of %s before reusing it: %w", o.Service, ref, err)
	}
}

// isFinding tells a verification finding (the image is not proven) from a
// failure to look.
func isFinding(err error) bool {
	for _, k := range []error{signing.ErrNoAttestations, signing.ErrSignatureInvalid, signing.ErrClaimMismatch,
		signing.ErrAnnotationMismatch, signing.ErrUnsigned, signing.ErrBadPredicate} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
