package vuln

import (
	"encoding/json"
	"fmt"
	"strings"
)

// trivyReport is the part of `trivy image --format json` (report schema
// version 2) that findings come from.
type trivyReport struct {
	SchemaVersion *int          `json:"SchemaVersion"`
	Results       []trivyResult `json:"Results"`
}

type trivyResult struct {
	// Target is "image.tar (debian 12.5)" for OS packages, or the file a
	// language package was found in ("usr/local/bin/app").
	Target string `json:"Target"`
	// Type is the package type: the distribution ("debian", "alpine")
	// or the language ecosystem ("gobinary", "npm", "jar").
	Type            string      `json:"Type"`
	Vulnerabilities []trivyVuln `json:"Vulnerabilities"`
}

type trivyVuln struct {
	VulnerabilityID  string               `json:"VulnerabilityID"`
	VendorIDs        []string             `json:"VendorIDs"`
	PkgName          string               `json:"PkgName"`
	PkgPath          string               `json:"PkgPath"`
	InstalledVersion string               `json:"InstalledVersion"`
	FixedVersion     string               `json:"FixedVersion"`
	Title            string               `json:"Title"`
	Severity         string               `json:"Severity"`
	CVSS             map[string]trivyCVSS `json:"CVSS"`
}

type trivyCVSS struct {
	V2Score  float64 `json:"V2Score"`
	V3Score  float64 `json:"V3Score"`
	V40Score float64 `json:"V40Score"`
}

// TrivySchemaVersion is the report schema version ParseTrivy reads.
const TrivySchemaVersion = 2

// ParseTrivy reads the JSON report of `trivy image --format json`: every
// Results[].Vulnerabilities[] entry becomes a Finding (ID VulnerabilityID,
// aliases VendorIDs, package PkgName, versions InstalledVersion and
// FixedVersion, source the result's Target or the package's path). A
// missing or UNKNOWN Severity is derived from the highest CVSS score Trivy
// reports for the vulnerability.
func ParseTrivy(data []byte) ([]Finding, error) {
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: trivy report is not a JSON object: %v", ErrBadReport, err)
	}
	if err := notJSONReport(ScannerTrivy, top); err != nil {
		return nil, err
	}
	var r trivyReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: trivy report: %v", ErrBadReport, err)
	}
	if r.SchemaVersion == nil {
		return nil, fmt.Errorf("%w: trivy report has no SchemaVersion (is it `trivy image --format json` output?)", ErrBadReport)
	}
	if *r.SchemaVersion != TrivySchemaVersion {
		return nil, fmt.Errorf("%w: trivy report SchemaVersion is %d, slipway reads %d", ErrBadReport, *r.SchemaVersion, TrivySchemaVersion)
	}
	var out []Finding
	for i, res := range r.Results {
		for j, v := range res.Vulnerabilities {
			at := fmt.Sprintf("Results[%d].Vulnerabilities[%d]", i, j)
			if strings.TrimSpace(v.VulnerabilityID) == "" {
				return nil, fmt.Errorf("%w: trivy report: %s: no VulnerabilityID", ErrBadReport, at)
			}
			if strings.TrimSpace(v.PkgName) == "" {
				return nil, fmt.Errorf("%w: trivy report: %s (%s): no PkgName", ErrBadReport, at, v.VulnerabilityID)
			}
			sev := ParseSeverity(v.Severity)
			if sev == Unknown {
				sev = SeverityFromScore(maxTrivyScore(v.CVSS))
			}
			src := res.Target
			if v.PkgPath != "" {
				src = v.PkgPath
			}
			out = append(out, Finding{
				ID:        v.VulnerabilityID,
				Aliases:   v.VendorIDs,
				Package:   v.PkgName,
				Ecosystem: res.Type,
				Installed: v.InstalledVersion,
				Fixed:     strings.TrimSpace(v.FixedVersion),
				Severity:  sev,
				Source:    src,
				Title:     oneLine(v.Title),
			})
		}
	}
	return sortFindings(out), nil
}

func maxTrivyScore(m map[string]trivyCVSS) float64 {
	best := 0.0
	for _, c := range m {
		best = max(best, c.V2Score, c.V3Score, c.V40Score)
	}
	return best
}

// oneLine trims a description to its first line, at most 200 bytes.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
