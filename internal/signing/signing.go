// Package signing signs container images and attests facts about them in
// the formats the stock cosign CLI verifies, in two ways:
//
//   - With a cosign key pair, offline: classic signatures under the tag
//     "sha256-<hex>.sig" and in-toto attestations in DSSE envelopes under
//     "sha256-<hex>.att", in the image's repository, with no transparency
//     log (verify with `cosign verify --key k.pub --insecure-ignore-tlog`).
//     A Signer is loaded once per run from the encrypted private key.
//   - Keylessly (NewKeylessSigner): an ephemeral key certified by Fulcio
//     for the identity in an OIDC token, each signature timestamped and
//     logged in Rekor, and stored as a Sigstore bundle referring to the
//     image (cosign v3's format: OCI referrers, or the referrers tag
//     schema where the registry lacks the API).
//
// A Verifier accepts a public key, keyless identities under a trusted root
// (NewVerifier), or either. Both reach registries through a
// registry.Client, so credentials, insecure hosts, retries and the
// transport are the same as for pushes.
//
// Verification is always bound to a digest: the signed content must name
// the digest being verified (a valid signature copied onto another image is
// rejected), and wanted annotations must match exactly.
package signing

import (
	"errors"
	"fmt"

	"github.com/slipwayci/slipway/internal/registry"
)

// Annotations slipway puts in every signature payload (the "optional"
// section of cosign's simple-signing payload).
const (
	// AnnotationSourceCommit is the full commit SHA the image was built from.
	AnnotationSourceCommit = "dev.slipway.source-commit"
	// AnnotationService is the service name in the monorepo.
	AnnotationService = "dev.slipway.service"
	// AnnotationRunID identifies the pipeline run that signed the image.
	AnnotationRunID = "dev.slipway.run-id"
	// AnnotationPlatform names the platform of an image signed as one
	// child of a multi-platform index ("linux/arm64").
	AnnotationPlatform = "dev.slipway.platform"
)

// Sentinel errors callers branch on with errors.Is. Registry failures wrap
// the registry package's sentinels (registry.ErrNotFound, ...).
var (
	// ErrUnsigned: the image has no signature at all.
	ErrUnsigned = errors.New("image is not signed")
	// ErrSignatureInvalid: signatures exist but none verifies with the
	// public key (signed with another key, or altered after signing) or
	// comes from an accepted keyless identity under the trusted root.
	ErrSignatureInvalid = errors.New("no signature verifies with the public key or an accepted identity")
	// ErrNotVerifiable: the image is signed, but only in a way this
	// verifier has nothing to check with (a key's signature and no key
	// given, or a keyless one and no identity accepted). It also matches
	// ErrSignatureInvalid: whoever requires a verified signature refuses it.
	ErrNotVerifiable error = notVerifiable{}
	// ErrClaimMismatch: a signature verifies with the key but signs another
	// digest (a signature replayed from another image).
	ErrClaimMismatch = errors.New("signature is for another image")
	// ErrAnnotationMismatch: a valid signature for the digest exists but its
	// annotations differ from the wanted ones.
	ErrAnnotationMismatch = errors.New("signature annotations do not match")
	// ErrNoAttestations: no verified attestation of the wanted predicate
	// type exists for the digest.
	ErrNoAttestations = errors.New("no attestation of that predicate type")
	// ErrBadKey: a key could not be loaded (wrong password, not a cosign
	// key, not PEM).
	ErrBadKey = errors.New("bad key")
	// ErrBadPredicate: an attestation predicate or its type is malformed.
	ErrBadPredicate = errors.New("bad predicate")
)

// Option configures a Signer or a Verifier.
type Option func(*options) error

type options struct {
	client  *registry.Client
	bundles bool
}

// WithBundles makes a key Signer write Sigstore bundles as OCI referrers
// (cosign v3's format; what stock cosign v3 verifies with --key
// --insecure-ignore-tlog) instead of the classic ".sig"/".att" tags, which
// verifiers on cosign v2 need. Keyless signers always write bundles.
func WithBundles() Option {
	return func(o *options) error {
		o.bundles = true
		return nil
	}
}

// WithRegistry makes the Signer or Verifier reach registries through c
// (credentials, insecure hosts, retries, transport). Without it, a client
// with default settings and anonymous access is used.
func WithRegistry(c *registry.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("WithRegistry: nil client")
		}
		o.client = c
		return nil
	}
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.client == nil {
		c, err := registry.New()
		if err != nil {
			return nil, err
		}
		o.client = c
	}
	return o, nil
}

// verifyError is the error Verify and VerifyAttestations return: it names
// the reference and carries a sentinel kind.
type verifyError struct {
	op, ref string
	kind    error
	detail  string
}

func (e *verifyError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.op, e.ref, e.kind)
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

func (e *verifyError) Unwrap() error { return e.kind }

type notVerifiable struct{}

func (notVerifiable) Error() string {
	return "signed, but in a way this verifier has nothing to check with"
}

// Is makes ErrNotVerifiable match ErrSignatureInvalid too.
func (notVerifiable) Is(target error) bool { return target == ErrSignatureInvalid }
