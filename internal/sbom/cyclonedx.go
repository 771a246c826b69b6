package sbom

import "encoding/json"

// SpecVersion is the CycloneDX specification version of the BOMs this
// package writes.
const SpecVersion = "1.6"

// BOM is a CycloneDX JSON document: the subset of the specification this
// package writes. Field order follows the specification so the JSON reads
// like any other CycloneDX BOM.
type BOM struct {
	// BOMFormat is always "CycloneDX".
	BOMFormat string `json:"bomFormat"`
	// SpecVersion is the CycloneDX specification version (SpecVersion).
	SpecVersion string `json:"specVersion"`
	// SerialNumber is a urn:uuid derived from the image digest, name and
	// timestamp, so the same input gives the same document.
	SerialNumber string `json:"serialNumber,omitempty"`
	// Version is the BOM's revision; always 1.
	Version int `json:"version"`
	// Metadata describes the image and the tool.
	Metadata Metadata `json:"metadata"`
	// Components are the packages found in the image, sorted by BOMRef.
	Components []Component `json:"components"`
	// Dependencies record which components a Go binary is built from.
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// Metadata is the BOM's metadata: when, by what and about what.
type Metadata struct {
	// Timestamp is when the BOM was made (RFC 3339, UTC), as the caller said.
	Timestamp string `json:"timestamp,omitempty"`
	// Tools lists the tool that wrote the BOM.
	Tools *Tools `json:"tools,omitempty"`
	// Component is the image itself.
	Component *Component `json:"component,omitempty"`
}

// Tools is the CycloneDX 1.5+ form of metadata.tools.
type Tools struct {
	// Components are the tools, as components of type application.
	Components []Component `json:"components"`
}

// Component is one CycloneDX component.
type Component struct {
	// BOMRef identifies the component within the BOM: its purl when it has
	// one.
	BOMRef string `json:"bom-ref,omitempty"`
	// Type is application, library, container or operating-system.
	Type string `json:"type"`
	// Name is the package's name as its ecosystem spells it.
	Name string `json:"name"`
	// Version is the package's version as its ecosystem spells it.
	Version string `json:"version,omitempty"`
	// Licenses are the licenses the package declares, when it does.
	Licenses []License `json:"licenses,omitempty"`
	// PURL is the package URL.
	PURL string `json:"purl,omitempty"`
	// Evidence says where in the image the component was found.
	Evidence *Evidence `json:"evidence,omitempty"`
}

// License is one entry of a component's licenses: a named license or an
// SPDX expression (never both).
type License struct {
	// License is a license by name.
	License *LicenseName `json:"license,omitempty"`
	// Expression is an SPDX license expression ("MIT OR Apache-2.0").
	Expression string `json:"expression,omitempty"`
}

// LicenseName names a license as the package declares it.
type LicenseName struct {
	// Name is the license as written by the package.
	Name string `json:"name"`
}

// Evidence is where a component was found.
type Evidence struct {
	// Occurrences are the files in the image that declare the component.
	Occurrences []Occurrence `json:"occurrences"`
}

// Occurrence is one file of the image.
type Occurrence struct {
	// Location is the absolute path of the file in the image.
	Location string `json:"location"`
}

// Dependency says which components one component is built from.
type Dependency struct {
	// Ref is the depending component's BOMRef.
	Ref string `json:"ref"`
	// DependsOn are the BOMRefs it depends on, sorted.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// JSON returns the BOM as indented JSON, ending in a newline.
func (b *BOM) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// licenses turns a declared license string into CycloneDX licenses: an SPDX
// expression when it combines licenses, a named license otherwise.
func licenses(decl string) []License {
	switch decl {
	case "", "UNKNOWN", "UNLICENSED", "NOASSERTION":
		return nil
	}
	for _, op := range []string{" OR ", " AND ", " WITH "} {
		if contains(decl, op) {
			return []License{{Expression: decl}}
		}
	}
	return []License{{License: &LicenseName{Name: decl}}}
}
