package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
)

// scannerVersion is the osv-scanner release compiled by default.
const scannerVersion = "2.5.0"

// Scanner returns the vulnerability scanner container: osv-scanner compiled
// from its pinned module, or the image given with --scanner-image.
func (m *Slipway) Scanner() *dagger.Container {
	if m.ScannerImage != "" {
		return dag.Container().From(m.ScannerImage)
	}
	bin := m.goBuild(m.ScannerSource, "github.com/google/osv-scanner/v2/cmd/osv-scanner")
	return dag.Container().From(m.ToolImage).
		WithFile("/usr/local/bin/osv-scanner", bin).
		WithEntrypoint([]string{"/usr/local/bin/osv-scanner"})
}

// scanDecision is the part of the worker's scan-report decision ci uses.
type scanDecision struct {
	Pass       bool           `json:"pass"`
	Counts     map[string]int `json:"counts"`
	BlockedIDs []string       `json:"blockedIds"`
	Summary    string         `json:"summary"`
}

// scan runs the scanner over the built image, offline against the given
// database, and gates it on the policy of env. It returns the decision and
// the vulnerability-scan predicate to attest.
func (m *Slipway) scan(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container, env string) (*scanDecision, *dagger.File, error) {
	archive := m.Tool().
		WithMountedFile(workDir+"/image.tar", img.AsTarball()).
		WithExec([]string{toolBin, "scan-archive", "--in", workDir + "/image.tar", "--out", workDir + "/docker.tar"}).
		File(workDir + "/docker.tar")
	started := time.Now().UTC().Format(time.RFC3339)
	r, err := exec(ctx, m.Scanner().
		WithEnvVariable("HOME", "/tmp").
		WithMountedFile("/scan/image.tar", archive).
		WithMountedDirectory("/scan/db", m.VulnDB).
		WithWorkdir("/scan"),
		[]string{"/usr/local/bin/osv-scanner", "scan", "image", "--offline", "--local-db-path", "/scan/db",
			"--format", "json", "--output-file", "/scan/report.json", "--archive", "/scan/image.tar"})
	if err != nil {
		return nil, nil, fmt.Errorf("running osv-scanner: %w", err)
	}
	if r.exit != 0 && r.exit != 1 { // 1 means "vulnerabilities found"
		return nil, nil, fmt.Errorf("osv-scanner failed (exit %d): %s", r.exit, strings.TrimSpace(r.stderr))
	}
	report := r.ctr.File("/scan/report.json")
	d, err := exec(ctx, m.Tool().
		WithDirectory(srcMount, m.Source).
		WithMountedFile(workDir+"/scan.json", report),
		[]string{toolBin, "scan-report", "--scanner", "osv-scanner", "--report", workDir + "/scan.json",
			"--env", env, "--service", s.Name, "--source", srcMount, "--out", workDir + "/decision.json",
			"--predicate-out", workDir + "/vuln.json", "--scanner-version", scannerVersion, "--db-uri", "file:///vuln-db",
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
