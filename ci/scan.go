package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/scancmd"
)

// scannerVersion is the osv-scanner release compiled by default.
const scannerVersion = "2.5.0"

// Scanner returns the vulnerability scanner container: osv-scanner compiled
// from its pinned module (or the image given with --scanner-image), or, with
// --scanner trivy, Trivy's image (aquasec/trivy:0.70.0 unless
// --scanner-image names another).
func (m *Slipway) Scanner(
	// osv-scanner (default) or trivy; ci uses scan.scanner of slipway.yaml.
	// +optional
	// +default="osv-scanner"
	scanner string,
) (*dagger.Container, error) {
	switch scanner {
	case scancmd.OSV:
		return m.osvScanner(), nil
	case scancmd.Trivy:
		return m.trivyScanner(), nil
	}
	return nil, fmt.Errorf("--scanner %q: want %s or %s", scanner, scancmd.OSV, scancmd.Trivy)
}

func (m *Slipway) osvScanner() *dagger.Container {
	if m.ScannerImage != "" {
		return dag.Container().From(m.ScannerImage)
	}
	bin := m.goBuild(m.ScannerSource, "github.com/google/osv-scanner/v2/cmd/osv-scanner")
	return dag.Container().From(m.ToolImage).
		WithFile("/usr/local/bin/osv-scanner", bin).
		WithEntrypoint([]string{"/usr/local/bin/osv-scanner"})
}

// trivyScanner is Trivy's image; its binary is scancmd.TrivyBin.
func (m *Slipway) trivyScanner() *dagger.Container {
	ref := scancmd.DefaultTrivyImage
	if m.ScannerImage != "" {
		ref = m.ScannerImage
	}
	return dag.Container().From(ref)
}

// scans reports whether ci scans with scanner: osv-scanner needs --vuln-db;
// Trivy downloads its own database without one.
func (m *Slipway) scans(scanner string) bool {
	return m.VulnDB != nil || scanner == scancmd.Trivy
}

// scanDecision is the part of the worker's scan-report decision ci uses.
type scanDecision struct {
	Pass       bool           `json:"pass"`
	Counts     map[string]int `json:"counts"`
	BlockedIDs []string       `json:"blockedIds"`
	Summary    string         `json:"summary"`
	// Stale are the unexpired ignore entries that matched no finding.
	Stale []struct {
		ID   string `json:"id"`
		File string `json:"file"`
		Line int    `json:"line"`
	} `json:"stale"`
}

// scanPaths are where the scanner container sees its inputs.
const (
	scanArchive = "/scan/image.tar"
	scanReport  = "/scan/report.json"
	scanDB      = "/scan/db"
)

// runScanner runs the project's scanner over the image archive and returns
// its JSON report, the scanner's version and the database's URI (for the
// scan predicate).
func (m *Slipway) runScanner(ctx context.Context, scanner string, archive *dagger.File) (*dagger.File, string, string, error) {
	var (
		c       *dagger.Container
		version = scannerVersion
		dbURI   = "file:///vuln-db"
		scan    = scancmd.Image{Archive: scanArchive, Report: scanReport, DB: scanDB}
	)
	switch scanner {
	case scancmd.Trivy:
		c, version, scan.Bin = m.trivyScanner(), scancmd.TrivyVersion, "trivy"
		if m.VulnDB != nil {
			ok, err := m.VulnDB.Exists(ctx, "db/trivy.db")
			if err != nil {
				return nil, "", "", fmt.Errorf("reading --vuln-db: %w", err)
			}
			if !ok {
				return nil, "", "", fmt.Errorf("--vuln-db has no db/trivy.db: with scan.scanner: trivy it is Trivy's cache directory (db/trivy.db and db/metadata.json; docs/scanning.md)")
			}
			c = c.WithMountedDirectory(scanDB, m.VulnDB)
		} else {
			// Trivy's own download, kept in a cache volume; one scanner at
			// a time updates it. A fresh run ID keeps the engine from
			// answering with a scan made against an older download.
			scan.Download, dbURI = true, "oci://mirror.gcr.io/aquasec/trivy-db:2"
			c = c.WithMountedCache(scanDB, dag.CacheVolume("slipway-trivy-cache"),
				dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
				WithEnvVariable("SLIPWAY_RUN", runID())
		}
	case scancmd.OSV:
		if m.VulnDB == nil {
			return nil, "", "", fmt.Errorf("osv-scanner needs --vuln-db (docs/scanning.md)")
		}
		c, scan.Bin = m.osvScanner().WithMountedDirectory(scanDB, m.VulnDB), "/usr/local/bin/osv-scanner"
	}
	args, err := scan.Args(scanner)
	if err != nil {
		return nil, "", "", fmt.Errorf("slipway.yaml: scan.scanner: %w", err)
	}
	r, err := exec(ctx, c.WithEnvVariable("HOME", "/tmp").
		WithMountedFile(scanArchive, archive).
		WithWorkdir("/scan"), args)
	if err != nil {
		return nil, "", "", fmt.Errorf("running %s: %w", scanner, err)
	}
	if !scancmd.Completed(scanner, r.exit) {
		return nil, "", "", fmt.Errorf("%s failed (exit %d): %s", scanner, r.exit, strings.TrimSpace(r.stderr))
	}
	return r.ctr.File(scanReport), version, dbURI, nil
}

// scan runs the project's scanner over the built image (offline against
// --vuln-db, or Trivy with its own download) and gates it on the policy of
// env. It returns the decision and the vulnerability-scan predicate to
// attest.
func (m *Slipway) scan(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container, env string) (*scanDecision, *dagger.File, error) {
	scanner := p.Project.Scan.Scanner
	archive := m.Tool().
		WithMountedFile(workDir+"/image.tar", img.AsTarball()).
		WithExec([]string{toolBin, "scan-archive", "--in", workDir + "/image.tar", "--out", workDir + "/docker.tar"}).
		File(workDir + "/docker.tar")
	started := time.Now().UTC().Format(time.RFC3339)
	report, version, dbURI, err := m.runScanner(ctx, scanner, archive)
	if err != nil {
		return nil, nil, err
	}
	d, err := exec(ctx, m.Tool().
		WithDirectory(srcMount, m.Source).
		WithMountedFile(workDir+"/scan.json", report),
		[]string{toolBin, "scan-report", "--scanner", scanner, "--report", workDir + "/scan.json",
			"--env", env, "--service", s.Name, "--source", srcMount, "--out", workDir + "/decision.json",
			"--predicate-out", workDir + "/vuln.json", "--scanner-version", version, "--db-uri", dbURI,
			"--started", started, "--finished", time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, nil, err
	}
	b, ferr := d.ctr.File(workDir + "/decision.json").Contents(ctx)
	if ferr != nil {
		return nil, nil, fmt.Errorf("evaluating the scan: %s", strings.TrimSpace(d.stderr))
	}
	var dec scanDecision
	if err := json.Unmarshal([]byte(b), &dec); err != nil {
		return nil, nil, fmt.Errorf("reading the scan decision: %w", err)
	}
	if dec.Summary == "" {
		dec.Summary = strings.TrimSpace(d.stderr)
	}
	var pred *dagger.File
	if dec.Pass {
		pred = d.ctr.File(workDir + "/vuln.json")
	}
	return &dec, pred, nil
}
