package vuln

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	cvss20 "github.com/pandatix/go-cvss/20"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
	"golang.org/x/mod/semver"
)

// osvReport is the part of `osv-scanner scan image --format json` that
// findings come from.
type osvReport struct {
	Results *[]osvSource `json:"results"`
}

type osvSource struct {
	Source struct {
		Path string `json:"path"`
		Type string `json:"type"`
	} `json:"source"`
	Packages []osvPackage `json:"packages"`
}

type osvPackage struct {
	Package struct {
		Name          string `json:"name"`
		OSPackageName string `json:"os_package_name"`
		Version       string `json:"version"`
		Ecosystem     string `json:"ecosystem"`
		Commit        string `json:"commit"`
	} `json:"package"`
	Vulnerabilities []osvVuln  `json:"vulnerabilities"`
	Groups          []osvGroup `json:"groups"`
}

type osvGroup struct {
	IDs     []string `json:"ids"`
	Aliases []string `json:"aliases"`
	// MaxSeverity is the highest CVSS base score of the group's records,
	// as osv-scanner computed it ("9.8"), or "" when none has a vector.
	MaxSeverity string `json:"max_severity"`
}

type osvVuln struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Severity []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Fixed string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
		EcosystemSpecific map[string]any `json:"ecosystem_specific"`
		DatabaseSpecific  map[string]any `json:"database_specific"`
	} `json:"affected"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

// ParseOSVScanner reads the JSON report of `osv-scanner scan image --format
// json` (or `scan source`). osv-scanner groups the records of one
// vulnerability (a Go advisory, its GitHub advisory and its CVE) per
// package; each group becomes one Finding whose ID is the group's CVE when
// it has one, and whose aliases are all the group's other identifiers.
//
// Severity comes from the group's max_severity (the highest CVSS base score
// osv-scanner computed); failing that from the records' CVSS vectors (v2,
// v3.0, v3.1, v4.0) computed here; failing that from the highest textual
// rating of the records (database_specific.severity as GitHub advisories
// write it, ecosystem_specific.severity, Ubuntu's priority); else UNKNOWN.
// Fixed versions are the "fixed" events of the records' ranges for this
// package (for Go, only those above the installed version).
func ParseOSVScanner(data []byte) ([]Finding, error) {
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: osv-scanner report is not a JSON object: %v", ErrBadReport, err)
	}
	if err := notJSONReport(ScannerOSV, top); err != nil {
		return nil, err
	}
	var r osvReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: osv-scanner report: %v", ErrBadReport, err)
	}
	if r.Results == nil {
		return nil, fmt.Errorf("%w: osv-scanner report has no \"results\" (is it `osv-scanner --format json` output?)", ErrBadReport)
	}
	var out []Finding
	for i, src := range *r.Results {
		for j, p := range src.Packages {
			at := fmt.Sprintf("results[%d].packages[%d]", i, j)
			if len(p.Vulnerabilities) == 0 {
				continue
			}
			name := p.Package.Name
			if name == "" {
				return nil, fmt.Errorf("%w: osv-scanner report: %s: package has no name", ErrBadReport, at)
			}
			byID := make(map[string]*osvVuln, len(p.Vulnerabilities))
			for k := range p.Vulnerabilities {
				v := &p.Vulnerabilities[k]
				if v.ID == "" {
					return nil, fmt.Errorf("%w: osv-scanner report: %s.vulnerabilities[%d]: no id", ErrBadReport, at, k)
				}
				byID[v.ID] = v
			}
			groups := p.Groups
			// Reports without groups (older versions, hand-made files):
			// one group per record.
			covered := map[string]bool{}
			for _, g := range groups {
				for _, id := range g.IDs {
					covered[id] = true
				}
			}
			for _, v := range p.Vulnerabilities {
				if !covered[v.ID] {
					groups = append(groups, osvGroup{IDs: []string{v.ID}, Aliases: v.Aliases})
				}
			}
			for _, g := range groups {
				var recs []*osvVuln
				for _, id := range g.IDs {
					if v := byID[id]; v != nil {
						recs = append(recs, v)
					}
				}
				if len(recs) == 0 {
					continue
				}
				out = append(out, osvFinding(src.Source.Path, p, g, recs))
			}
		}
	}
	return sortFindings(out), nil
}

func osvFinding(source string, p osvPackage, g osvGroup, recs []*osvVuln) Finding {
	all := unite("", g.IDs, g.Aliases)
	for _, v := range recs {
		all = unite("", all, []string{v.ID}, v.Aliases)
	}
	id := recs[0].ID
	for _, a := range all {
		if strings.HasPrefix(a, "CVE-") {
			id = a
			break
		}
	}
	title := ""
	for _, v := range recs {
		if title = oneLine(v.Summary); title != "" {
			break
		}
	}
	return Finding{
		ID:        id,
		Aliases:   unite(id, all),
		Package:   p.Package.Name,
		Ecosystem: p.Package.Ecosystem,
		Installed: p.Package.Version,
		Fixed:     osvFixed(p, recs),
		Severity:  osvSeverity(g, recs),
		Source:    source,
		Title:     title,
	}
}

// osvSeverity rates a group: max_severity, else CVSS vectors, else the
// records' textual ratings.
func osvSeverity(g osvGroup, recs []*osvVuln) Severity {
	if s, err := strconv.ParseFloat(strings.TrimSpace(g.MaxSeverity), 64); err == nil && s > 0 {
		return SeverityFromScore(s)
	}
	best := -1.0
	for _, v := range recs {
		for _, s := range v.Severity {
			if score, ok := cvssScore(s.Type, s.Score); ok {
				best = max(best, score)
			}
		}
	}
	if best > 0 {
		return SeverityFromScore(best)
	}
	sev := Unknown
	bump := func(word any) {
		if w, ok := word.(string); ok {
			if s := ParseSeverity(w); s.Rank() > sev.Rank() {
				sev = s
			}
		}
	}
	for _, v := range recs {
		bump(v.DatabaseSpecific["severity"])
		for _, s := range v.Severity {
			if strings.EqualFold(s.Type, "Ubuntu") {
				bump(s.Score)
			}
		}
		for _, a := range v.Affected {
			bump(a.EcosystemSpecific["severity"])
			bump(a.DatabaseSpecific["severity"])
		}
	}
	return sev
}

// cvssScore computes the base score of an OSV severity entry holding a
// CVSS vector.
func cvssScore(typ, vector string) (float64, bool) {
	vector = strings.TrimSpace(vector)
	switch strings.ToUpper(typ) {
	case "CVSS_V2":
		if v, err := cvss20.ParseVector(vector); err == nil {
			return v.BaseScore(), true
		}
	case "CVSS_V3":
		switch {
		case strings.HasPrefix(vector, "CVSS:3.0/"):
			if v, err := cvss30.ParseVector(vector); err == nil {
				return v.BaseScore(), true
			}
		case strings.HasPrefix(vector, "CVSS:3.1/"):
			if v, err := cvss31.ParseVector(vector); err == nil {
				return v.BaseScore(), true
			}
		}
	case "CVSS_V4":
		if v, err := cvss40.ParseVector(vector); err == nil {
			return v.Score(), true
		}
	}
	return 0, false
}

// osvFixed lists the fixed versions the group's records give for this
// package, sorted and without duplicates. For Go (semantic versions), fixes
// at or below the installed version (another branch's) are left out.
func osvFixed(p osvPackage, recs []*osvVuln) string {
	eco := strings.SplitN(p.Package.Ecosystem, ":", 2)[0]
	seen := map[string]bool{}
	var fixed []string
	for _, v := range recs {
		for _, a := range v.Affected {
			if a.Package.Name != p.Package.Name {
				continue
			}
			if ae := strings.SplitN(a.Package.Ecosystem, ":", 2)[0]; ae != "" && eco != "" && ae != eco {
				continue
			}
			for _, r := range a.Ranges {
				for _, e := range r.Events {
					f := strings.TrimSpace(e.Fixed)
					if f == "" || seen[f] {
						continue
					}
					if eco == "Go" && !semverAbove(f, p.Package.Version) {
						continue
					}
					seen[f] = true
					fixed = append(fixed, f)
				}
			}
		}
	}
	if eco == "Go" {
		sort.Slice(fixed, func(i, j int) bool { return semver.Compare(goSemver(fixed[i]), goSemver(fixed[j])) < 0 })
	} else {
		sort.Strings(fixed)
	}
	return strings.Join(fixed, ", ")
}

// semverAbove reports whether fixed is a higher version than installed;
// true when either is not a semantic version (nothing is left out then).
func semverAbove(fixed, installed string) bool {
	f, i := goSemver(fixed), goSemver(installed)
	if !semver.IsValid(f) || !semver.IsValid(i) {
		return true
	}
	return semver.Compare(f, i) > 0
}

func goSemver(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "go")
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}
