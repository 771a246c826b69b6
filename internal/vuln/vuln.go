// Package vuln turns vulnerability scanner reports into findings and decides
// whether an image may ship under an environment's policy.
//
// Two scanners are understood: Trivy (`trivy image --format json`) and
// osv-scanner (`osv-scanner scan image --format json`). Both are parsed into
// the same Finding, so that the policy, the ignore list and the report do not
// depend on the scanner a repository chose.
//
// Evaluate applies one environment's config.Policy (the lowest severity that
// blocks, fixable findings only or not, strict or not) and the repository's
// ignore list (every entry with an id, a reason and an expiry date; see
// ParseIgnoreFile) to the findings, and returns a Decision that says what
// blocked and why, what was ignored, which ignore entries have expired and
// which match nothing any more.
package vuln

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Scanner names, as written in slipway.yaml (scan.scanner).
const (
	// ScannerTrivy is Aqua Security's Trivy.
	ScannerTrivy = "trivy"
	// ScannerOSV is Google's osv-scanner.
	ScannerOSV = "osv-scanner"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrUnknownScanner: the scanner name is neither trivy nor osv-scanner.
	ErrUnknownScanner = errors.New("unknown scanner")
	// ErrBadReport: the scanner report is not the JSON the scanner writes.
	ErrBadReport = errors.New("malformed scanner report")
)

// Severity is how bad a finding is. Scanners' own words are mapped onto
// these five (see ParseSeverity); UNKNOWN means the scanner had no rating.
type Severity string

// Severities, from the most to the least severe.
const (
	Critical Severity = "CRITICAL"
	High     Severity = "HIGH"
	Medium   Severity = "MEDIUM"
	Low      Severity = "LOW"
	Unknown  Severity = "UNKNOWN"
)

// Severities lists every severity from the most to the least severe, the
// order in which counts are shown.
var Severities = []Severity{Critical, High, Medium, Low, Unknown}

// Rank orders severities: CRITICAL 4, HIGH 3, MEDIUM 2, LOW 1, UNKNOWN 0.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	}
	return 0
}

// ParseSeverity maps a scanner's or a database's severity word onto a
// Severity, ignoring case: CRITICAL; HIGH and IMPORTANT (Red Hat); MEDIUM and
// MODERATE (GitHub advisories, Red Hat); LOW, NEGLIGIBLE and UNIMPORTANT
// (Debian, Ubuntu). Anything else is UNKNOWN.
func ParseSeverity(s string) Severity {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return Critical
	case "HIGH", "IMPORTANT":
		return High
	case "MEDIUM", "MODERATE":
		return Medium
	case "LOW", "NEGLIGIBLE", "UNIMPORTANT":
		return Low
	}
	return Unknown
}

// SeverityFromScore rates a CVSS base score (v2, v3 or v4) with the CVSS
// v3 qualitative scale: 9.0–10.0 CRITICAL, 7.0–8.9 HIGH, 4.0–6.9 MEDIUM,
// 0.1–3.9 LOW. A score of 0 (no impact) or outside 0–10 is UNKNOWN.
func SeverityFromScore(score float64) Severity {
	switch {
	case score > 10 || score <= 0:
		return Unknown
	case score >= 9:
		return Critical
	case score >= 7:
		return High
	case score >= 4:
		return Medium
	}
	return Low
}

// Finding is one vulnerability in one installed package of an image.
type Finding struct {
	// ID is the vulnerability's identifier: the CVE when the scanner knows
	// one, otherwise the scanner's own (GHSA-…, GO-…, DSA-…).
	ID string `json:"id"`
	// Aliases are the other identifiers of the same vulnerability, sorted.
	// Ignore entries match the ID or any alias.
	Aliases []string `json:"aliases,omitempty"`
	// Package is the affected package's name (for OS packages, as the
	// scanner names it: Trivy the binary package, osv-scanner the source
	// package).
	Package string `json:"package"`
	// Ecosystem is the package's ecosystem or distribution, e.g. "Go",
	// "Debian:12", "debian", "gobinary".
	Ecosystem string `json:"ecosystem,omitempty"`
	// Installed is the installed version.
	Installed string `json:"installed"`
	// Fixed lists the versions that fix it ("1.2.5, 1.3.2"); empty when
	// no fix is known.
	Fixed string `json:"fixed,omitempty"`
	// Severity is the scanner's rating, or one derived from CVSS.
	Severity Severity `json:"severity"`
	// Source is where in the image the package was found, e.g.
	// "/var/lib/dpkg/status" or "usr/local/bin/app".
	Source string `json:"source,omitempty"`
	// Title is a one-line description, when the scanner gives one.
	Title string `json:"title,omitempty"`
}

// Fixable reports whether a fixed version is known.
func (f Finding) Fixable() bool { return f.Fixed != "" }

// HasID reports whether id (any case) is the finding's ID or one of its
// aliases.
func (f Finding) HasID(id string) bool {
	if strings.EqualFold(f.ID, id) {
		return true
	}
	for _, a := range f.Aliases {
		if strings.EqualFold(a, id) {
			return true
		}
	}
	return false
}

// String is "ID in package@installed (SEVERITY)".
func (f Finding) String() string {
	return fmt.Sprintf("%s in %s@%s (%s)", f.ID, f.Package, f.Installed, f.Severity)
}

func (f Finding) key() string {
	return f.ID + "\x00" + f.Package + "\x00" + f.Installed + "\x00" + f.Source + "\x00" + f.Ecosystem
}

// sortFindings orders findings by decreasing severity, then ID, package,
// version and source, and merges exact duplicates (same ID, package,
// version, source and ecosystem), uniting their aliases.
func sortFindings(fs []Finding) []Finding {
	byKey := make(map[string]int, len(fs))
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		if i, ok := byKey[f.key()]; ok {
			out[i].Aliases = unite(out[i].ID, out[i].Aliases, f.Aliases)
			if f.Severity.Rank() > out[i].Severity.Rank() {
				out[i].Severity = f.Severity
			}
			if out[i].Fixed == "" {
				out[i].Fixed = f.Fixed
			}
			continue
		}
		byKey[f.key()] = len(out)
		f.Aliases = unite(f.ID, f.Aliases)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.Installed != b.Installed {
			return a.Installed < b.Installed
		}
		return a.Source < b.Source
	})
	return out
}

// unite returns the sorted union of lists, without id and empty strings.
func unite(id string, lists ...[]string) []string {
	seen := map[string]bool{id: true, "": true}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Parse reads a report of the named scanner (ScannerTrivy or ScannerOSV).
func Parse(scanner string, data []byte) ([]Finding, error) {
	switch scanner {
	case ScannerTrivy:
		return ParseTrivy(data)
	case ScannerOSV:
		return ParseOSVScanner(data)
	}
	return nil, fmt.Errorf("%w %q (trivy or osv-scanner)", ErrUnknownScanner, scanner)
}

// notJSONReport explains a report that is some other JSON document.
func notJSONReport(scanner string, top map[string]any) error {
	if f, ok := top["bomFormat"]; ok {
		return fmt.Errorf("%w: this is a %v SBOM, not %s's JSON report (run it with --format json)", ErrBadReport, f, scanner)
	}
	if _, ok := top["SchemaVersion"]; ok && scanner == ScannerOSV {
		return fmt.Errorf("%w: this looks like a trivy report, not osv-scanner's (is scan.scanner right?)", ErrBadReport)
	}
	if _, ok := top["results"]; ok && scanner == ScannerTrivy {
		return fmt.Errorf("%w: this looks like an osv-scanner report, not trivy's (is scan.scanner right?)", ErrBadReport)
	}
	return nil
}
