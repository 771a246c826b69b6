// Package provenance builds the predicates of the in-toto attestations
// slipway signs for every image it publishes: SLSA build provenance v1, a
// vulnerability scan (cosign's vuln predicate), test results (in-toto's
// test-result predicate), and checks CycloneDX SBOMs written by a scanner
// before they are attested.
//
// Every builder validates its input once and returns deterministic JSON:
// the same input gives the same bytes (map keys sorted, times in UTC,
// dependencies in a fixed order), so re-attesting an unchanged image writes
// nothing new. The package knows nothing about signing or registries;
// internal/signing attests the bytes.
package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Predicate types, as in-toto statements name them. They are the values
// internal/signing attests and the stock cosign CLI verifies with
// `verify-attestation --type <CosignType>`.
const (
	// PredicateSLSAProvenanceV1 is SLSA build provenance v1 (cosign type
	// slsaprovenance1).
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// PredicateCycloneDX is a CycloneDX SBOM (cosign type cyclonedx).
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateVulnScan is cosign's vulnerability scan predicate (cosign
	// type vuln).
	PredicateVulnScan = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// PredicateTestResult is in-toto's test result predicate (cosign has
	// no short name for it: pass the URI as --type).
	PredicateTestResult = "https://in-toto.io/attestation/test-result/v0.1"
)

// Kind is one kind of attestation slipway writes, by the name used in
// slipway.yaml (requireAttestations) and on the worker's command line.
type Kind struct {
	// Name is slsa, sbom, vuln or test.
	Name string
	// PredicateType is the in-toto predicate type URI.
	PredicateType string
	// CosignType is what `cosign verify-attestation --type` takes.
	CosignType string
}

// Kinds lists the attestation kinds, in the order they are written.
var Kinds = []Kind{
	{"slsa", PredicateSLSAProvenanceV1, "slsaprovenance1"},
	{"sbom", PredicateCycloneDX, "cyclonedx"},
	{"vuln", PredicateVulnScan, "vuln"},
	{"test", PredicateTestResult, PredicateTestResult},
}

// ErrInvalid is wrapped by every error about bad input to a builder or a
// bad predicate document.
var ErrInvalid = errors.New("invalid predicate")

// KindOf returns the kind named name (slsa, sbom, vuln or test).
func KindOf(name string) (Kind, error) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	return Kind{}, fmt.Errorf("%w: unknown attestation kind %q (one of %s)", ErrInvalid, name, strings.Join(names, ", "))
}

// ResourceDescriptor names an artifact by URI and digests (in-toto's
// ResourceDescriptor, as SLSA v1 uses it).
type ResourceDescriptor struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
	Name   string            `json:"name,omitempty"`
}

var (
	gitSHA    = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	sha256Hex = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// absURI checks that s is an absolute URI (scheme and something after it).
func absURI(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") {
		return fmt.Errorf("%w: %s %q is not an absolute URI", ErrInvalid, field, s)
	}
	return nil
}

// timeUTC formats t as RFC 3339 in UTC with second precision, or nil when
// t is zero.
func timeUTC(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Truncate(time.Second).Format(time.RFC3339)
	return &s
}

// marshal encodes v as compact JSON without HTML escaping, so that the
// bytes are what a person reads and are stable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// ImageDependency describes a base image by the reference written in the
// Dockerfile and the digest it resolved to, as a package URL
// (pkg:docker/<repository>@<tag>, with repository_url for registries other
// than Docker Hub) and a sha256 digest.
func ImageDependency(ref, digest string) (ResourceDescriptor, error) {
	if !sha256Hex.MatchString(digest) {
		return ResourceDescriptor{}, fmt.Errorf("%w: base image %s: digest %q is not sha256:<64 hex>", ErrInvalid, ref, digest)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return ResourceDescriptor{}, fmt.Errorf("%w: base image reference %q: %v", ErrInvalid, ref, err)
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != digest {
		return ResourceDescriptor{}, fmt.Errorf("%w: base image %s resolved to %s, not the digest it names", ErrInvalid, ref, digest)
	}
	repo := r.Context()
	path := repo.RepositoryStr()
	version := r.Identifier()
	purl := "pkg:docker/" + strings.TrimPrefix(path, "library/") + "@" + strings.ReplaceAll(url.PathEscape(version), ":", "%3A")
	if reg := repo.RegistryStr(); reg != name.DefaultRegistry {
		purl += "?repository_url=" + url.QueryEscape(reg)
	}
	return ResourceDescriptor{
		URI:    purl,
		Name:   r.Name(),
		Digest: map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")},
	}, nil
}

// sortedCopy returns a sorted copy of a string slice.
func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
