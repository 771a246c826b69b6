package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/oci"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/slipwayci/slipway/internal/registry"
)

// Predicate types slipway attests. Any other absolute URI works too.
const (
	// PredicateSLSAProvenanceV1 is SLSA build provenance v1
	// (cosign --type slsaprovenance1).
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// PredicateCycloneDX is a CycloneDX SBOM (cosign --type cyclonedx).
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateSPDX is an SPDX SBOM (cosign --type spdxjson).
	PredicateSPDX = "https://spdx.dev/Document"
	// PredicateVulnScan is cosign's vulnerability scan predicate
	// (cosign --type vuln); its predicate must follow cosign's schema
	// (invocation, scanner{uri, version, db, result}, metadata).
	PredicateVulnScan = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// PredicateTestResult is the in-toto test result predicate.
	PredicateTestResult = "https://in-toto.io/attestation/test-result/v0.1"
)

// StatementType is the in-toto statement type slipway writes.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto statement about an image.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject names an artifact by digest.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
	// Annotations are signed with the subject (cosign v3's image
	// signatures carry the signature annotations here).
	Annotations map[string]string `json:"annotations,omitempty"`
}

func checkPredicate(predicateType string, predicate []byte) ([]byte, error) {
	u, err := url.Parse(predicateType)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%w: predicate type %q is not an absolute URI", ErrBadPredicate, predicateType)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, predicate); err != nil {
		return nil, fmt.Errorf("%w: predicate of type %s is not valid JSON: %v", ErrBadPredicate, predicateType, err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fmt.Errorf("%w: predicate of type %s must be a JSON object", ErrBadPredicate, predicateType)
	}
	return buf.Bytes(), nil
}

// Attest signs an in-toto statement saying that the image digestRef names
// has predicate (a JSON object) of predicateType, and stores it in a DSSE
// envelope under the attestation tag in the image's repository, next to
// attestations of other types. Attesting the same statement again with the
// same key writes nothing (Result.Existing).
func (s *Signer) Attest(ctx context.Context, digestRef, predicateType string, predicate []byte) (Result, error) {
	d, err := s.client.ParseDigest(digestRef)
	if err != nil {
		return Result{}, fmt.Errorf("attesting: %w", err)
	}
	pred, err := checkPredicate(predicateType, predicate)
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	st, err := json.Marshal(Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: d.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}},
		PredicateType: predicateType,
		Predicate:     pred,
	})
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	if s.keyless != nil || s.bundles {
		var res Result
		if s.keyless != nil {
			res, err = s.keyless.signStatement(ctx, s.client, d, st, predicateType)
		} else {
			res, err = s.signKeyBundle(ctx, d, st, predicateType)
		}
		if err == nil {
			s.client.Logger().Info("attested image", "digest", d.String(), "predicateType", predicateType, "bundle", res.Ref)
		}
		return res, err
	}
	se, err := signedEntity(ctx, s.client, "attesting", d)
	if err != nil {
		return Result{}, err
	}
	tag, err := ociremote.AttestationTag(d, ociOptions(ctx, s.client)...)
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	res := Result{Digest: d.String(), Ref: tag.String()}

	existing, err := se.Attestations()
	if err != nil {
		return Result{}, registry.Classify("reading the attestations of", d.String(), err)
	}
	list, err := existing.Get()
	if err != nil {
		return Result{}, registry.Classify("reading the attestations of", d.String(), err)
	}
	co := s.Verifier().checkOpts(ctx, cosign.IntotoSubjectClaimVerifier)
	for _, att := range list {
		if ann, _ := att.Annotations(); ann["predicateType"] != predicateType {
			continue
		}
		if got, err := statementBytes(att); err != nil || !bytes.Equal(got, st) {
			continue
		}
		if _, err := cosign.VerifyBlobAttestation(ctx, att, h, co); err == nil {
			res.Existing = true
			return res, nil
		}
	}

	env, err := dsse.WrapSigner(s.sv, ctypes.IntotoPayloadType).SignMessage(bytes.NewReader(st))
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	att, err := static.NewAttestation(env,
		static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	attested, err := mutate.AttachAttestationToEntity(se, att)
	if err != nil {
		return Result{}, fmt.Errorf("attesting %s: %w", d, err)
	}
	if err := ociremote.WriteAttestations(d.Repository, attested, ociOptions(ctx, s.client)...); err != nil {
		return Result{}, registry.Classify("writing the attestation of "+d.String()+" to", tag.String(), err)
	}
	s.client.Logger().Info("attested image", "digest", d.String(), "predicateType", predicateType, "attestations", tag.String())
	return res, nil
}

// statementBytes extracts the (unverified) statement from a DSSE envelope.
func statementBytes(att oci.Signature) ([]byte, error) {
	p, err := att.Payload()
	if err != nil {
		return nil, err
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(p, &env); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(env.Payload)
}

// subjectClaim binds an attestation to digest h.
func subjectClaim(sig oci.Signature, h v1.Hash, ann map[string]interface{}) error {
	if err := cosign.IntotoSubjectClaimVerifier(sig, h, ann); err != nil {
		detail := "its subject is not " + h.String()
		if b, err := statementBytes(sig); err == nil {
			var st Statement
			if json.Unmarshal(b, &st) == nil && len(st.Subject) > 0 {
				var about []string
				for alg, hex := range st.Subject[0].Digest {
					about = append(about, alg+":"+hex)
				}
				sort.Strings(about)
				detail = fmt.Sprintf("it is about %s, not %s (an attestation copied from another image)", strings.Join(about, ", "), h)
			}
		}
		return &claimError{ErrClaimMismatch, detail}
	}
	return nil
}

// VerifyAttestations returns the statements of predicateType about the image
// digestRef names that verify with the verifier's key and whose subject is
// exactly this digest. None is an error wrapping ErrNoAttestations (or
// ErrSignatureInvalid / ErrClaimMismatch when attestations of that type exist
// but fail verification).
func (v *Verifier) VerifyAttestations(ctx context.Context, digestRef, predicateType string) ([]Statement, error) {
	d, err := v.client.ParseDigest(digestRef)
	if err != nil {
		return nil, fmt.Errorf("verifying attestations: %w", err)
	}
	op := "verifying the " + predicateType + " attestations of"
	if err := v.mustExist(ctx, op, d); err != nil {
		return nil, err
	}
	out, kerr := v.verifyBundles(ctx, op, d, predicateType)
	if kerr == nil {
		sts := make([]Statement, len(out))
		for i, o := range out {
			sts[i] = o.statement
		}
		return sts, nil
	}
	if v.v == nil {
		return nil, kerr
	}
	sts, cerr := v.verifyAttestationsClassic(ctx, op, d, predicateType)
	if cerr == nil {
		return sts, nil
	}
	return nil, either(kerr, cerr, ErrNoAttestations)
}

// verifyAttestationsClassic verifies cosign's classic attestations (the
// ".att" tag).
func (v *Verifier) verifyAttestationsClassic(ctx context.Context, op string, d name.Digest, predicateType string) ([]Statement, error) {
	h, list, err := v.fetch(ctx, op, d, ociremote.AttestationTag)
	if err != nil {
		return nil, err
	}
	co := v.checkOpts(ctx, subjectClaim)
	var out []Statement
	var failures []error
	others := map[string]bool{}
	candidates := 0
	for _, att := range list {
		att, err := static.Copy(att)
		if err != nil {
			return nil, registry.Classify("reading the attestations of", d.String(), err)
		}
		// The type read before verification only steers error messages;
		// results come from verified statements.
		claimed := ""
		if b, err := statementBytes(att); err == nil {
			var st Statement
			if json.Unmarshal(b, &st) == nil {
				claimed = st.PredicateType
			}
		}
		if _, err := cosign.VerifyBlobAttestation(ctx, att, h, co); err != nil {
			if claimed == predicateType {
				candidates++
				failures = append(failures, err)
			}
			continue
		}
		b, err := statementBytes(att)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op, d, err)
		}
		var st Statement
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s %s: decoding a verified statement: %w", op, d, err)
		}
		if st.PredicateType != predicateType {
			others[st.PredicateType] = true
			continue
		}
		out = append(out, st)
	}
	if len(out) > 0 {
		return out, nil
	}
	if candidates > 0 {
		return nil, explain(op, d.String(), candidates, "attestation", failures)
	}
	detail := "none stored under " + sigTagName(h, "att")
	if len(others) > 0 {
		types := make([]string, 0, len(others))
		for t := range others {
			types = append(types, t)
		}
		sort.Strings(types)
		detail = "verified attestations have only the types " + strings.Join(types, ", ")
	}
	return nil, &verifyError{op, d.String(), ErrNoAttestations, detail}
}
