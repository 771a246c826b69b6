package provenance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The readers below decode what promotion needs from predicates that were
// signed, so that `requireAttestations` judges their content, not only
// their signature. Each returns an error wrapping ErrInvalid when the
// document lacks what is needed.

// TestReport is what a test-result predicate says.
type TestReport struct {
	// Result is PASSED, WARNED or FAILED.
	Result string
	// Service is the service tested ("" in predicates that do not say).
	Service string
	// Suites are the per-kind outcomes (nil in predicates without them).
	Suites map[string]TestSuite
}

// ReadTestResult decodes a test-result predicate.
func ReadTestResult(data []byte) (TestReport, error) {
	var p testPredicate
	if err := json.Unmarshal(data, &p); err != nil {
		return TestReport{}, fmt.Errorf("%w: test result predicate: %v", ErrInvalid, err)
	}
	return TestReport{Result: p.Result, Service: p.Service, Suites: p.Suites}, nil
}

// BuildFacts is what an SLSA provenance predicate of slipway's build type
// says about the build.
type BuildFacts struct {
	BuildType string
	// Service, Repository (as recorded: a URL, without "git+") and Commit
	// are the externalParameters of that name.
	Service, Repository, Commit string
	// Dirty is externalParameters.dirty: the source had uncommitted
	// changes.
	Dirty bool
}

// ReadSLSA decodes an SLSA provenance v1 predicate.
func ReadSLSA(data []byte) (BuildFacts, error) {
	var p struct {
		BuildDefinition struct {
			BuildType          string          `json:"buildType"`
			ExternalParameters json.RawMessage `json:"externalParameters"`
		} `json:"buildDefinition"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return BuildFacts{}, fmt.Errorf("%w: SLSA provenance: %v", ErrInvalid, err)
	}
	var ext struct {
		Service    any `json:"service"`
		Repository any `json:"repository"`
		Commit     any `json:"commit"`
		Dirty      any `json:"dirty"`
	}
	if len(p.BuildDefinition.ExternalParameters) > 0 {
		if err := json.Unmarshal(p.BuildDefinition.ExternalParameters, &ext); err != nil {
			return BuildFacts{}, fmt.Errorf("%w: SLSA provenance externalParameters: %v", ErrInvalid, err)
		}
	}
	str := func(v any) string { s, _ := v.(string); return s }
	return BuildFacts{
		BuildType: p.BuildDefinition.BuildType,
		Service:   str(ext.Service), Repository: str(ext.Repository), Commit: str(ext.Commit),
		Dirty: ext.Dirty == true,
	}, nil
}

// ScanFacts is what a vulnerability scan predicate written by slipway says.
type ScanFacts struct {
	// Service and Environment are the ones the scan was judged for.
	Service, Environment string
	// FinishedOn is when the scan finished.
	FinishedOn time.Time
	// Findings are the scanner's findings (internal/vuln's Finding list,
	// undecoded); nil when the result records none.
	Findings json.RawMessage
}

// ReadVulnScan decodes a vulnerability scan predicate.
func ReadVulnScan(data []byte) (ScanFacts, error) {
	var p struct {
		Scanner struct {
			Result json.RawMessage `json:"result"`
		} `json:"scanner"`
		Metadata struct {
			Finished string `json:"scanFinishedOn"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return ScanFacts{}, fmt.Errorf("%w: vulnerability scan predicate: %v", ErrInvalid, err)
	}
	fin, err := time.Parse(time.RFC3339, p.Metadata.Finished)
	if err != nil {
		return ScanFacts{}, fmt.Errorf("%w: vulnerability scan predicate's metadata.scanFinishedOn %q is not an RFC 3339 time", ErrInvalid, p.Metadata.Finished)
	}
	var res struct {
		Service     string          `json:"service"`
		Environment string          `json:"environment"`
		Findings    json.RawMessage `json:"findings"`
	}
	if r := strings.TrimSpace(string(p.Scanner.Result)); r == "" || r[0] != '{' {
		return ScanFacts{}, fmt.Errorf("%w: vulnerability scan predicate's scanner.result is not a JSON object", ErrInvalid)
	}
	if err := json.Unmarshal(p.Scanner.Result, &res); err != nil {
		return ScanFacts{}, fmt.Errorf("%w: vulnerability scan predicate's scanner.result: %v", ErrInvalid, err)
	}
	return ScanFacts{Service: res.Service, Environment: res.Environment, FinishedOn: fin, Findings: res.Findings}, nil
}

// BOMSubject is what a CycloneDX document says it describes
// (metadata.component).
type BOMSubject struct {
	// Name is the component's name (slipway: the image repository).
	Name string
	// Version is its version (slipway: the image's manifest digest).
	Version string
	// PURL is its package URL (pkg:oci/<image>@<digest>?...).
	PURL string
}

// ReadCycloneDXSubject checks a CycloneDX document and returns its
// metadata.component.
func ReadCycloneDXSubject(data []byte) (BOMSubject, error) {
	if _, err := CheckCycloneDX(data); err != nil {
		return BOMSubject{}, err
	}
	var doc struct {
		Metadata struct {
			Component *struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				PURL    string `json:"purl"`
			} `json:"component"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return BOMSubject{}, fmt.Errorf("%w: the SBOM: %v", ErrInvalid, err)
	}
	c := doc.Metadata.Component
	if c == nil {
		return BOMSubject{}, fmt.Errorf("%w: the SBOM has no metadata.component (what it describes)", ErrInvalid)
	}
	return BOMSubject{Name: c.Name, Version: c.Version, PURL: c.PURL}, nil
}

// PURLName returns the name part of a package URL (pkg:oci/orders@... →
// orders), "" when purl is not one.
func PURLName(purl string) string {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "@?#"); i >= 0 {
		rest = rest[:i]
	}
	_, name, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return name
}
