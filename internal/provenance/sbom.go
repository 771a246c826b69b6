package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// CycloneDXSpecVersions are the CycloneDX specification versions that have
// a JSON format, and so may be attested.
var CycloneDXSpecVersions = []string{"1.2", "1.3", "1.4", "1.5", "1.6", "1.7"}

// BOM says what an SBOM holds.
type BOM struct {
	// SpecVersion is the CycloneDX specification version.
	SpecVersion string
	// Components is the number of top-level components.
	Components int
	// Vulnerabilities is the number of vulnerabilities the SBOM lists
	// (scanners may embed their findings).
	Vulnerabilities int
}

// CheckCycloneDX checks that data is a CycloneDX JSON document (bomFormat
// "CycloneDX", a known specVersion, components a list) before it is
// attested as PredicateCycloneDX, and returns what it holds.
func CheckCycloneDX(data []byte) (BOM, error) {
	var doc struct {
		BOMFormat       *string           `json:"bomFormat"`
		SpecVersion     *string           `json:"specVersion"`
		Components      json.RawMessage   `json:"components"`
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return BOM{}, fmt.Errorf("%w: the SBOM is not a JSON object (CycloneDX JSON expected)", ErrInvalid)
	}
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		return BOM{}, fmt.Errorf("%w: the SBOM is not CycloneDX JSON: %v", ErrInvalid, err)
	}
	if doc.BOMFormat == nil {
		var spdx struct {
			SPDXVersion string `json:"spdxVersion"`
		}
		if json.Unmarshal(trimmed, &spdx) == nil && spdx.SPDXVersion != "" {
			return BOM{}, fmt.Errorf("%w: the SBOM is SPDX (%s), not CycloneDX", ErrInvalid, spdx.SPDXVersion)
		}
		return BOM{}, fmt.Errorf("%w: the SBOM has no bomFormat (CycloneDX JSON expected)", ErrInvalid)
	}
	if *doc.BOMFormat != "CycloneDX" {
		return BOM{}, fmt.Errorf("%w: the SBOM's bomFormat is %q, not CycloneDX", ErrInvalid, *doc.BOMFormat)
	}
	if doc.SpecVersion == nil || !slices.Contains(CycloneDXSpecVersions, *doc.SpecVersion) {
		got := "none"
		if doc.SpecVersion != nil {
			got = fmt.Sprintf("%q", *doc.SpecVersion)
		}
		return BOM{}, fmt.Errorf("%w: the SBOM's specVersion is %s (CycloneDX JSON has %v)", ErrInvalid, got, CycloneDXSpecVersions)
	}
	b := BOM{SpecVersion: *doc.SpecVersion, Vulnerabilities: len(doc.Vulnerabilities)}
	if c := bytes.TrimSpace(doc.Components); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		var comps []json.RawMessage
		if err := json.Unmarshal(c, &comps); err != nil {
			return BOM{}, fmt.Errorf("%w: the SBOM's components is not a list", ErrInvalid)
		}
		b.Components = len(comps)
	}
	return b, nil
}
