package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	cremote "github.com/sigstore/cosign/v3/pkg/cosign/remote"
	"github.com/sigstore/cosign/v3/pkg/oci"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/slipwayci/slipway/internal/registry"
)

// Result says where a signature or attestation is stored.
type Result struct {
	// Digest is the signed image's digest reference.
	Digest string
	// Ref is the tag holding the signatures or attestations
	// ("repo:sha256-<hex>.sig" or ".att").
	Ref string
	// Existing is true when an identical signature or attestation by the
	// same key was already there, so nothing was written.
	Existing bool
}

// ociOptions returns cosign's registry options carrying the client's.
func ociOptions(ctx context.Context, c *registry.Client) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(c.RemoteOptions(ctx)...)}
}

// signedEntity fetches the image (or index) digestRef names, for attaching
// signatures, failing with registry.ErrNotFound if it does not exist.
func signedEntity(ctx context.Context, c *registry.Client, op string, d name.Digest) (oci.SignedEntity, error) {
	se, err := ociremote.SignedEntity(d, ociOptions(ctx, c)...)
	if err != nil {
		var nf *ociremote.EntityNotFoundError
		if errors.As(err, &nf) {
			return nil, &registry.Error{Op: op, Ref: d.String(), Kind: registry.ErrNotFound, Status: 404,
				Hint: "the image does not exist; push it before signing", Err: err}
		}
		return nil, registry.Classify(op, d.String(), err)
	}
	return se, nil
}

// Sign signs the image digestRef names ("repo@sha256:...") with a classic
// cosign signature whose payload names the digest and carries annotations
// (see AnnotationSourceCommit, AnnotationService, AnnotationRunID), and
// stores it under the signature tag in the image's repository. Signing again
// with the same key and annotations writes nothing (Result.Existing).
func (s *Signer) Sign(ctx context.Context, digestRef string, annotations map[string]string) (Result, error) {
	d, err := s.client.ParseDigest(digestRef)
	if err != nil {
		return Result{}, fmt.Errorf("signing: %w", err)
	}
	if s.keyless != nil || s.bundles {
		st, err := signStatement(d, annotations)
		if err != nil {
			return Result{}, fmt.Errorf("signing %s: %w", d, err)
		}
		var res Result
		if s.keyless != nil {
			res, err = s.keyless.signStatement(ctx, s.client, d, st, SignPredicateType)
		} else {
			res, err = s.signKeyBundle(ctx, d, st, SignPredicateType)
		}
		if err == nil {
			s.client.Logger().Info("signed image", "digest", d.String(), "bundle", res.Ref)
		}
		return res, err
	}
	se, err := signedEntity(ctx, s.client, "signing", d)
	if err != nil {
		return Result{}, err
	}
	var optional map[string]interface{}
	if len(annotations) > 0 {
		optional = make(map[string]interface{}, len(annotations))
		for k, v := range annotations {
			optional[k] = v
		}
	}
	pl, err := json.Marshal(payload.Cosign{Image: d, Annotations: optional})
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: building the payload: %w", d, err)
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	sig, err := static.NewSignature(pl, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	tag, err := ociremote.SignatureTag(d, ociOptions(ctx, s.client)...)
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	res := Result{Digest: d.String(), Ref: tag.String()}

	existing, err := se.Signatures()
	if err != nil {
		return Result{}, registry.Classify("reading the signatures of", d.String(), err)
	}
	dup, err := cremote.NewDupeDetector(s.sv).Find(existing, sig)
	if err != nil {
		return Result{}, registry.Classify("reading the signatures of", d.String(), err)
	}
	if dup != nil {
		res.Existing = true
		return res, nil
	}
	signed, err := mutate.AttachSignatureToEntity(se, sig)
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	if err := ociremote.WriteSignatures(d.Repository, signed, ociOptions(ctx, s.client)...); err != nil {
		return Result{}, registry.Classify("writing the signature of "+d.String()+" to", tag.String(), err)
	}
	s.client.Logger().Info("signed image", "digest", d.String(), "signature", tag.String())
	return res, nil
}

// signStatement is the in-toto statement cosign v3 signs for an image: the
// image digest as its subject, carrying the signed annotations, and an
// empty predicate of type SignPredicateType.
func signStatement(d name.Digest, annotations map[string]string) ([]byte, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	ann := map[string]string{}
	for k, v := range annotations {
		ann[k] = v
	}
	return json.Marshal(Statement{
		Type:          StatementType,
		Subject:       []Subject{{Digest: map[string]string{h.Algorithm: h.Hex}, Annotations: ann}},
		PredicateType: SignPredicateType,
		Predicate:     json.RawMessage("{}"),
	})
}
