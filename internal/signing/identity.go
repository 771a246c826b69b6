package signing

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Identity is a keyless signer a Verifier accepts. The certificate Fulcio
// issued for the signature must match every field that is set; regular
// expressions must match the whole value.
type Identity struct {
	// Issuer is the OIDC issuer (e.g. GitHubActionsOIDCIssuer), or
	// IssuerRegexp a pattern for it. One of the two is required.
	Issuer       string `json:"issuer,omitempty"`
	IssuerRegexp string `json:"issuerRegexp,omitempty"`
	// Subject is the certificate identity (its subject alternative name:
	// for GitHub Actions, https://github.com/OWNER/REPO/.github/workflows/
	// FILE@REF), or SubjectRegexp a pattern for it. One of the two is
	// required.
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subjectRegexp,omitempty"`
	// Repository ("owner/name"), Ref ("refs/heads/main") and Workflow (the
	// workflow file, ".github/workflows/promote.yml") narrow a GitHub
	// Actions identity through the certificate's extensions.
	Repository string `json:"repository,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Workflow   string `json:"workflow,omitempty"`

	issuerRE, subjectRE *regexp.Regexp
}

// String describes the identity for messages.
func (i Identity) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("subject", i.Subject)
	add("subjectRegexp", i.SubjectRegexp)
	add("issuer", i.Issuer)
	add("issuerRegexp", i.IssuerRegexp)
	add("repository", i.Repository)
	add("ref", i.Ref)
	add("workflow", i.Workflow)
	return strings.Join(parts, " ")
}

// Compile checks the identity and compiles its patterns.
func (i *Identity) Compile() error {
	if (i.Issuer == "") == (i.IssuerRegexp == "") {
		return errors.New("give exactly one of issuer and issuerRegexp")
	}
	if (i.Subject == "") == (i.SubjectRegexp == "") {
		return errors.New("give exactly one of subject and subjectRegexp")
	}
	var err error
	if i.IssuerRegexp != "" {
		if i.issuerRE, err = regexp.Compile("^(?:" + i.IssuerRegexp + ")$"); err != nil {
			return fmt.Errorf("issuerRegexp: %v", err)
		}
	}
	if i.SubjectRegexp != "" {
		if i.subjectRE, err = regexp.Compile("^(?:" + i.SubjectRegexp + ")$"); err != nil {
			return fmt.Errorf("subjectRegexp: %v", err)
		}
	}
	if i.Workflow != "" && (strings.HasPrefix(i.Workflow, "/") || strings.Contains(i.Workflow, "@")) {
		return fmt.Errorf("workflow %q: give the workflow file's path in the repository, e.g. .github/workflows/ci.yml", i.Workflow)
	}
	return nil
}

// match says why the certificate summary s does not match i ("" when it
// does).
func (i Identity) match(s certificate.Summary) string {
	switch {
	case i.Issuer != "" && s.Extensions.Issuer != i.Issuer,
		i.issuerRE != nil && !i.issuerRE.MatchString(s.Extensions.Issuer):
		return "issuer"
	case i.Subject != "" && s.SubjectAlternativeName != i.Subject,
		i.subjectRE != nil && !i.subjectRE.MatchString(s.SubjectAlternativeName):
		return "subject"
	case i.Repository != "" && s.Extensions.GithubWorkflowRepository != i.Repository && repoOfURI(s.Extensions.SourceRepositoryURI) != i.Repository:
		return "repository"
	case i.Ref != "" && s.Extensions.SourceRepositoryRef != i.Ref && s.Extensions.GithubWorkflowRef != i.Ref:
		return "ref"
	case i.Workflow != "" && !strings.Contains(s.Extensions.BuildConfigURI, "/"+i.Workflow+"@") && !strings.Contains(s.SubjectAlternativeName, "/"+i.Workflow+"@"):
		return "workflow"
	}
	return ""
}

func repoOfURI(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.Trim(p.Path, "/")
}

// describeSigner names who signed, from a certificate summary.
func describeSigner(s certificate.Summary) string {
	d := s.SubjectAlternativeName + " (issuer " + s.Extensions.Issuer
	if r := s.Extensions.GithubWorkflowRepository; r != "" {
		d += ", repository " + r
	}
	if r := s.Extensions.SourceRepositoryRef; r != "" {
		d += ", ref " + r
	}
	return d + ")"
}

// KeylessPolicy is what keyless signatures must satisfy.
type KeylessPolicy struct {
	// TrustedRoot is a Sigstore trusted root (JSON: Fulcio CAs,
	// transparency logs, timestamp authorities, CT logs). Nil means the
	// public-good instance's, fetched through Sigstore's TUF repository.
	TrustedRoot []byte
	// Identities are the accepted signers of image signatures; at least
	// one.
	Identities []Identity
	// AttestedBy are the accepted signers of attestations (the builder,
	// which may differ from who signs for an environment); empty means
	// Identities.
	AttestedBy []Identity
	// IgnoreSCT skips the certificate transparency check: only for a
	// private Fulcio that logs to no CT log (its trusted root lists none).
	IgnoreSCT bool
}

// keylessVerifier verifies Sigstore bundles against a KeylessPolicy.
type keylessVerifier struct {
	signers, attesters []Identity
	policy             KeylessPolicy

	once sync.Once
	v    *verify.Verifier
	err  error
}

func newKeylessVerifier(p KeylessPolicy) (*keylessVerifier, error) {
	if len(p.Identities) == 0 {
		return nil, fmt.Errorf("%w: no accepted identities", ErrKeylessConfig)
	}
	signers, err := compileIdentities(p.Identities)
	if err != nil {
		return nil, err
	}
	attesters := signers
	if len(p.AttestedBy) > 0 {
		if attesters, err = compileIdentities(p.AttestedBy); err != nil {
			return nil, err
		}
	}
	k := &keylessVerifier{signers: signers, attesters: attesters, policy: p}
	if p.TrustedRoot != nil {
		// A given trusted root is read now: a bad one fails at once.
		if _, err := k.verifier(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// verifier builds sigstore-go's verifier on first use, so that the
// public-good trusted root is fetched (through TUF, over the network) only
// when a Sigstore bundle is actually there to verify.
func (k *keylessVerifier) verifier() (*verify.Verifier, error) {
	k.once.Do(func() {
		var tm root.TrustedMaterial
		if k.policy.TrustedRoot != nil {
			tr, err := root.NewTrustedRootFromJSON(k.policy.TrustedRoot)
			if err != nil {
				k.err = fmt.Errorf("%w: the trusted root: %v", ErrKeylessConfig, err)
				return
			}
			tm = tr
		} else {
			tr, err := root.FetchTrustedRoot()
			if err != nil {
				k.err = fmt.Errorf("%w: fetching the public-good trusted root through TUF: %v (offline? give a trusted root: signing.keyless.trustedRoot)", ErrKeylessConfig, err)
				return
			}
			tm = tr
		}
		opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1)}
		if !k.policy.IgnoreSCT {
			opts = append(opts, verify.WithSignedCertificateTimestamps(1))
		}
		if k.v, k.err = verify.NewVerifier(tm, opts...); k.err != nil {
			k.err = fmt.Errorf("%w: %v", ErrKeylessConfig, k.err)
		}
	})
	return k.v, k.err
}

func compileIdentities(in []Identity) ([]Identity, error) {
	ids := make([]Identity, len(in))
	for n, id := range in {
		if err := id.Compile(); err != nil {
			return nil, fmt.Errorf("%w: identity %d (%s): %v", ErrKeylessConfig, n+1, id, err)
		}
		ids[n] = id
	}
	return ids, nil
}

// verified is one bundle that verified: its statement and signer.
type verified struct {
	statement Statement
	signer    certificate.Summary
	// ref is the referrer manifest holding the bundle.
	ref string
}

// verifyBundles verifies every bundle referring to d whose statement has
// predicateType, and returns those that verify: a keyless one against the
// trusted root and an accepted identity, one signed with a key against the
// verifier's key. The error, when none does, wraps ErrUnsigned (no bundle
// at all), ErrNoAttestations (none of that type), ErrClaimMismatch (a
// bundle about another image) or ErrSignatureInvalid (not verifiable, or
// signed by a key or identity not accepted, which it names).
func (v *Verifier) verifyBundles(ctx context.Context, op string, d name.Digest, predicateType string) ([]verified, error) {
	stored, err := readBundles(ctx, v.client, d)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		kind := ErrUnsigned
		if predicateType != SignPredicateType {
			kind = ErrNoAttestations
		}
		return nil, &verifyError{op, d.String(), kind, "no Sigstore bundle refers to it"}
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(d.DigestStr(), "sha256:"))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, d, err)
	}
	var out []verified
	var failures []error
	others := map[string]bool{}
	for _, sb := range stored {
		var b bundle.Bundle
		if err := b.UnmarshalJSON(sb.json); err != nil {
			failures = append(failures, fmt.Errorf("bundle %s is unreadable: %v", sb.manifest, err))
			continue
		}
		env := b.GetDsseEnvelope()
		if env == nil {
			continue
		}
		var st Statement
		if err := json.Unmarshal(env.GetPayload(), &st); err != nil {
			failures = append(failures, fmt.Errorf("bundle %s: its statement is unreadable", sb.manifest))
			continue
		}
		if st.PredicateType != predicateType {
			others[st.PredicateType] = true
			continue
		}
		var got verified
		if b.GetVerificationMaterial().GetPublicKey() != nil {
			got, err = v.verifyKeyBundle(&b, raw)
		} else {
			got, err = v.verifyKeylessBundle(&b, raw, predicateType)
		}
		if err != nil {
			if strings.Contains(err.Error(), "artifact digest") {
				err = &claimError{ErrClaimMismatch, "a bundle about another image refers to it (" + err.Error() + ")"}
			}
			failures = append(failures, err)
			continue
		}
		got.statement, got.ref = st, d.Repository.Digest(sb.manifest.String()).String()
		out = append(out, got)
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(failures) > 0 {
		return nil, explain(op, d.String(), len(failures), bundleWhat, failures)
	}
	kind := ErrUnsigned
	if predicateType != SignPredicateType {
		kind = ErrNoAttestations
	}
	detail := "no Sigstore bundle of type " + predicateType + " refers to it"
	if len(others) > 0 {
		var ts []string
		for t := range others {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		detail += "; its bundles have only the types " + strings.Join(ts, ", ")
	}
	return nil, &verifyError{op, d.String(), kind, detail}
}

// verifyKeylessBundle verifies a bundle with a certificate: the trusted
// root, then an accepted identity.
func (v *Verifier) verifyKeylessBundle(b *bundle.Bundle, digest []byte, predicateType string) (verified, error) {
	if v.keyless == nil {
		return verified{}, &claimError{ErrNotVerifiable, "signed keylessly, and no keyless identity is accepted (signing.identities)"}
	}
	sv, err := v.keyless.verifier()
	if err != nil {
		return verified{}, err
	}
	res, err := sv.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return verified{}, err
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return verified{}, errors.New("no signing certificate")
	}
	sum := *res.Signature.Certificate
	ids := v.keyless.signers
	if predicateType != SignPredicateType {
		ids = v.keyless.attesters
	}
	var misses []string
	for _, id := range ids {
		why := id.match(sum)
		if why == "" {
			return verified{signer: sum}, nil
		}
		misses = append(misses, id.String()+" (its "+why+" differs)")
	}
	return verified{}, fmt.Errorf("signed by %s, which no accepted identity matches: %s", describeSigner(sum), strings.Join(misses, "; "))
}

// verifyKeyBundle verifies a bundle signed with a key against the
// verifier's key. Such bundles are written offline: no transparency log, no
// timestamp (as the classic format).
func (v *Verifier) verifyKeyBundle(b *bundle.Bundle, digest []byte) (verified, error) {
	if v.v == nil {
		return verified{}, &claimError{ErrNotVerifiable, "signed with a key, and no public key is given"}
	}
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v.v, time.Time{}, time.Time{}), nil
	})
	sv, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		return verified{}, err
	}
	if _, err := sv.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithKey())); err != nil {
		return verified{}, fmt.Errorf("not by this key: %w", err)
	}
	return verified{}, nil
}

// bundleWhat names bundles in explain's messages.
const bundleWhat = "Sigstore bundle"

// verifySignatureBundles verifies cosign v3 image signatures (bundles of
// SignPredicateType) holding every wanted annotation.
func (v *Verifier) verifySignatureBundles(ctx context.Context, op string, d name.Digest, want map[string]string) ([]Signature, error) {
	found, err := v.verifyBundles(ctx, op, d, SignPredicateType)
	if err != nil {
		return nil, err
	}
	var out []Signature
	var mismatch string
	for _, f := range found {
		var ann map[string]string
		for _, s := range f.statement.Subject {
			if s.Digest["sha256"] == strings.TrimPrefix(d.DigestStr(), "sha256:") {
				ann = s.Annotations
			}
		}
		if k, bad := annotationMismatch(ann, want); bad {
			mismatch = fmt.Sprintf("annotation %s is %q, want %q", k, ann[k], want[k])
			continue
		}
		out = append(out, Signature{Digest: d.String(), Annotations: ann, Ref: f.ref, Signer: f.signer.SubjectAlternativeName, Issuer: f.signer.Extensions.Issuer})
	}
	if len(out) == 0 {
		return nil, &verifyError{op, d.String(), ErrAnnotationMismatch, mismatch}
	}
	return out, nil
}

// annotationMismatch returns the first wanted annotation (in key order)
// that got lacks or holds with another value.
func annotationMismatch(got, want map[string]string) (string, bool) {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v, ok := got[k]; !ok || v != want[k] {
			return k, true
		}
	}
	return "", false
}

// NewVerifier returns a Verifier that accepts signatures by the public key
// (PEM; nil for none) and keyless signatures satisfying policy (nil for
// none). With both, either kind of signature is accepted.
func NewVerifier(publicKeyPEM []byte, policy *KeylessPolicy, opts ...Option) (*Verifier, error) {
	var v *Verifier
	if publicKeyPEM != nil {
		var err error
		if v, err = LoadVerifier(publicKeyPEM, opts...); err != nil {
			return nil, err
		}
	} else {
		o, err := makeOptions(opts)
		if err != nil {
			return nil, err
		}
		v = &Verifier{client: o.client}
	}
	if policy != nil {
		k, err := newKeylessVerifier(*policy)
		if err != nil {
			return nil, fmt.Errorf("keyless verification: %w", err)
		}
		v.keyless = k
	}
	if v.v == nil && v.keyless == nil {
		return nil, errors.New("a verifier needs a public key or keyless identities")
	}
	return v, nil
}

// SignerIdentity is who a keyless Signer signs as: the certificate Fulcio
// issues it, summarised.
type SignerIdentity struct {
	summary certificate.Summary
}

// String names the identity as error messages do.
func (s SignerIdentity) String() string { return describeSigner(s.summary) }

// Identity asks Fulcio for the signer's certificate (once per run; signing
// later reuses it) and returns the identity it certifies. Key signers have
// none: ErrKeylessConfig.
func (s *Signer) Identity(ctx context.Context) (SignerIdentity, error) {
	if s.keyless == nil {
		return SignerIdentity{}, fmt.Errorf("%w: a key signer has no certificate identity", ErrKeylessConfig)
	}
	der, err := s.keyless.GetCertificate(ctx, s.keyless.kp, nil)
	if err != nil {
		return SignerIdentity{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return SignerIdentity{}, err
	}
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return SignerIdentity{}, fmt.Errorf("reading the signing certificate: %w", err)
	}
	return SignerIdentity{summary: sum}, nil
}

// AcceptsSigner says whether signatures by id would satisfy the verifier's
// identities (nil), or why not (ErrSignatureInvalid).
func (v *Verifier) AcceptsSigner(id SignerIdentity) error {
	if v.keyless == nil {
		return fmt.Errorf("%w: only a key is accepted, not %s", ErrSignatureInvalid, id)
	}
	var misses []string
	for _, want := range v.keyless.signers {
		why := want.match(id.summary)
		if why == "" {
			return nil
		}
		misses = append(misses, want.String()+" (its "+why+" differs)")
	}
	return fmt.Errorf("%w: %s is not an accepted signer: %s", ErrSignatureInvalid, id, strings.Join(misses, "; "))
}
