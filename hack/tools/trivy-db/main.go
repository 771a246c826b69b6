// Command trivy-db writes a small Trivy vulnerability database from a JSON
// fixture, for slipway's tests: Trivy then scans offline against it
// (--skip-db-update --offline-scan) as it would against the published DB.
//
//	trivy-db -in fixture.json -out CACHE_DIR
//
// writes CACHE_DIR/db/trivy.db and CACHE_DIR/db/metadata.json, the layout of
// Trivy's --cache-dir and of slipway's --vuln-db when scan.scanner is trivy.
//
// The fixture:
//
//	{
//	  "updatedAt": "2099-01-01T00:00:00Z",
//	  "sources": [
//	    {"bucket": "debian 12", "id": "debian", "name": "Debian Security Tracker",
//	     "advisories": [{"package": "zlib", "id": "CVE-2099-0001", "fixedVersion": "1:1.3.dfsg-1"}]},
//	    {"bucket": "go::Slipway test advisories", "id": "slipway",
//	     "advisories": [{"package": "stdlib", "id": "CVE-2099-0101", "vulnerableVersions": ["<99.0.0"], "patchedVersions": ["99.0.0"]}]}
//	  ],
//	  "vulnerabilities": [
//	    {"id": "CVE-2099-0001", "severity": "HIGH", "title": "zlib: a test flaw"}
//	  ]
//	}
//
// A vulnerability without a severity is recorded as UNKNOWN. List every
// vulnerability an advisory names: Trivy warns about those without details.
// A bucket is what Trivy looks advisories up in: "<distribution> <major
// version>" for OS packages (keyed by source package name, compared with
// fixedVersion), "<ecosystem>::<any name>" for language packages ("go::",
// "npm::", "pip::"; compared with vulnerableVersions/patchedVersions).
// Every vulnerability's severity is recorded for every source that has an
// advisory for it, so Trivy reports it whatever the data source.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	bolt "go.etcd.io/bbolt"
)

// fixture is the input file.
type fixture struct {
	UpdatedAt       time.Time       `json:"updatedAt"`
	Sources         []source        `json:"sources"`
	Vulnerabilities []vulnerability `json:"vulnerabilities"`
}

type source struct {
	Bucket     string     `json:"bucket"`
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	URL        string     `json:"url"`
	Advisories []advisory `json:"advisories"`
}

type advisory struct {
	Package            string   `json:"package"`
	ID                 string   `json:"id"`
	VendorIDs          []string `json:"vendorIds"`
	FixedVersion       string   `json:"fixedVersion"`
	VulnerableVersions []string `json:"vulnerableVersions"`
	PatchedVersions    []string `json:"patchedVersions"`
}

type vulnerability struct {
	ID          string   `json:"id"`
	Severity    string   `json:"severity"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	References  []string `json:"references"`
}

func main() {
	in := flag.String("in", "", "JSON fixture (required)")
	out := flag.String("out", "", "Trivy cache directory to write db/ into (required)")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: trivy-db -in fixture.json -out CACHE_DIR")
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "trivy-db: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var f fixture
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return write(f, filepath.Join(out, "db"))
}

func (f *fixture) validate() error {
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if len(f.Sources) == 0 {
		return errors.New("sources: at least one is needed")
	}
	ids := map[string]bool{}
	for i, s := range f.Sources {
		if s.Bucket == "" || s.ID == "" {
			return fmt.Errorf("sources[%d]: bucket and id are required", i)
		}
		for j, a := range s.Advisories {
			if a.Package == "" || a.ID == "" {
				return fmt.Errorf("sources[%d].advisories[%d]: package and id are required", i, j)
			}
			ids[a.ID] = true
		}
	}
	for i, v := range f.Vulnerabilities {
		if v.ID == "" {
			return fmt.Errorf("vulnerabilities[%d]: id is required", i)
		}
		if v.Severity == "" {
			v.Severity = "UNKNOWN"
			f.Vulnerabilities[i] = v
		}
		if _, err := types.NewSeverity(strings.ToUpper(v.Severity)); err != nil {
			return fmt.Errorf("vulnerabilities[%d] (%s): severity %q is not UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL", i, v.ID, v.Severity)
		}
		if !ids[v.ID] {
			return fmt.Errorf("vulnerabilities[%d] (%s): no advisory names it", i, v.ID)
		}
	}
	return nil
}

// write creates dir/trivy.db and dir/metadata.json (schema version
// db.SchemaVersion) from scratch.
func write(f fixture, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Remove(db.Path(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := db.Init(dir); err != nil {
		return fmt.Errorf("creating %s: %w", db.Path(dir), err)
	}
	dbc := db.Config{}
	err := dbc.BatchUpdate(func(tx *bolt.Tx) error {
		sourcesOf := map[string][]types.SourceID{}
		for _, s := range f.Sources {
			ds := types.DataSource{ID: types.SourceID(s.ID), Name: s.Name, URL: s.URL}
			if err := dbc.PutDataSource(tx, s.Bucket, ds); err != nil {
				return fmt.Errorf("data source %s: %w", s.Bucket, err)
			}
			for _, a := range s.Advisories {
				adv := types.Advisory{
					VendorIDs: a.VendorIDs, FixedVersion: a.FixedVersion,
					VulnerableVersions: a.VulnerableVersions, PatchedVersions: a.PatchedVersions,
				}
				if err := dbc.PutAdvisory(tx, []string{s.Bucket, a.Package}, a.ID, adv); err != nil {
					return fmt.Errorf("advisory %s for %s in %s: %w", a.ID, a.Package, s.Bucket, err)
				}
				sourcesOf[a.ID] = append(sourcesOf[a.ID], ds.ID)
			}
		}
		for _, v := range f.Vulnerabilities {
			sev, _ := types.NewSeverity(strings.ToUpper(v.Severity))
			vendor := types.VendorSeverity{}
			for _, id := range sourcesOf[v.ID] {
				vendor[id] = sev
			}
			rec := types.Vulnerability{
				Title: v.Title, Description: v.Description, Severity: sev.String(),
				VendorSeverity: vendor, References: v.References,
			}
			if err := dbc.PutVulnerability(tx, v.ID, rec); err != nil {
				return fmt.Errorf("vulnerability %s: %w", v.ID, err)
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	meta := metadata.Metadata{
		Version:      db.SchemaVersion,
		UpdatedAt:    f.UpdatedAt,
		NextUpdate:   f.UpdatedAt.AddDate(100, 0, 0),
		DownloadedAt: f.UpdatedAt,
	}
	if err := metadata.NewClient(dir).Update(meta); err != nil {
		return fmt.Errorf("writing %s: %w", metadata.Path(dir), err)
	}
	return nil
}
