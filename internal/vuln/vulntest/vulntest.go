// Package vulntest writes small offline vulnerability databases for tests:
// OSV records laid out as osv-scanner's offline database, so that a real
// scanner run finds exactly the vulnerabilities a test declares.
package vulntest

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
)

// Record is one OSV record (the fields osv-scanner reads).
type Record struct {
	SchemaVersion    string          `json:"schema_version"`
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Severity         []SeverityEntry `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected"`
	DatabaseSpecific map[string]any  `json:"database_specific,omitempty"`
}

// SeverityEntry is a scored severity, e.g. {"CVSS_V3", "CVSS:3.1/..."}.
type SeverityEntry struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected names an affected package and its version ranges.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []Range `json:"ranges"`
}

// Range is one OSV version range.
type Range struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

// NewAffected builds an Affected entry with one range of the given type
// ("SEMVER", "ECOSYSTEM") and events ({"introduced": "0"}, {"fixed": "1.2"}).
func NewAffected(ecosystem, name, rangeType string, events ...map[string]string) Affected {
	var a Affected
	a.Package.Ecosystem, a.Package.Name = ecosystem, name
	a.Ranges = []Range{{Type: rangeType, Events: events}}
	return a
}

// WriteOSVDB lays records out as osv-scanner's offline database:
// DIR/osv-scalibr/<Ecosystem>/all.zip holding one <ID>.json per record.
func WriteOSVDB(dir string, db map[string][]Record) error {
	for eco, recs := range db {
		d := filepath.Join(dir, "osv-scalibr", eco)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, r := range recs {
			w, err := zw.Create(r.ID + ".json")
			if err != nil {
				return err
			}
			if err := json.NewEncoder(w).Encode(r); err != nil {
				return err
			}
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "all.zip"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
