package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/vuln"
)

func init() {
	register("scan-report", "apply an environment's vulnerability policy to a scanner report (JSON decision; exit 1 when it blocks)", runScanReport)
	register("scan-archive", "rewrite an image tarball in docker-save format for the scanner (JSON result)", runScanArchive)
}

// errGate marks a vulnerability gate that failed (as opposed to a report or
// configuration that could not be read).
var errGate = errors.New("vulnerability gate failed")

// scanDecision is what scan-report writes: who was scanned, under which
// rules, the decision, every finding, and the summary printed to stderr.
type scanDecision struct {
	Service     string    `json:"service"`
	Environment string    `json:"environment"`
	Scanner     string    `json:"scanner"`
	EvaluatedAt time.Time `json:"evaluatedAt"`
	// IgnoreFiles are the ignore files that apply (present or not).
	IgnoreFiles []string `json:"ignoreFiles"`
	vuln.Decision
	// BlockedIDs are the IDs of the blocking findings (the run report's
	// "blocked").
	BlockedIDs []string `json:"blockedIds"`
	// Findings are all findings of the report.
	Findings []vuln.Finding `json:"findings"`
	// Summary is the human-readable decision.
	Summary string `json:"summary,omitempty"`
}

// scannerURIs are the package URLs of the scanners' pinned modules, for the
// scan predicate.
var scannerURIs = map[string]string{
	vuln.ScannerTrivy: "pkg:golang/github.com/aquasecurity/trivy@",
	vuln.ScannerOSV:   "pkg:golang/github.com/google/osv-scanner/v2@",
}

func parseTime(flagName, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: -%s %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", errUsage, flagName, v)
	}
	return t, nil
}

func runScanReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan-report", stderr)
	scanner := fs.String("scanner", "", "trivy or osv-scanner (default: scan.scanner in slipway.yaml)")
	reportFile := fs.String("report", "", "the scanner's JSON report (required)")
	env := fs.String("env", "", "environment whose policy applies (required)")
	service := fs.String("service", "", "service the image belongs to (required)")
	source := fs.String("source", ".", "repository root (slipway.yaml, ignore files, services/)")
	out := fs.String("out", "", "write the JSON decision here instead of stdout")
	nowFlag := fs.String("now", "", "evaluate ignore expiry at this time (RFC 3339; default: now)")
	predOut := fs.String("predicate-out", "", "also write cosign's vulnerability scan predicate here")
	scannerVersion := fs.String("scanner-version", "", "scanner version, for the predicate (e.g. 2.5.0)")
	dbURI := fs.String("db-uri", "", "vulnerability database location, for the predicate")
	dbVersion := fs.String("db-version", "", "vulnerability database version or date, for the predicate")
	started := fs.String("started", "", "when the scan started (RFC 3339), for the predicate")
	finished := fs.String("finished", "", "when the scan finished (RFC 3339), for the predicate")
	builderID := fs.String("builder-id", "", "what ran the scan (URI), for the predicate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reportFile == "" || *env == "" || *service == "" {
		return fmt.Errorf("%w: -report, -env and -service are required", errUsage)
	}
	if *predOut != "" && (*scannerVersion == "" || *started == "" || *finished == "") {
		return fmt.Errorf("%w: -predicate-out needs -scanner-version, -started and -finished", errUsage)
	}
	now := time.Now().UTC()
	if *nowFlag != "" {
		t, err := parseTime("now", *nowFlag)
		if err != nil {
			return err
		}
		now = t
	}
	// A decision file left by an earlier run must not be mistaken for this
	// run's: it exists only when this run evaluated the gate.
	for _, f := range []string{*out, *predOut} {
		if f != "" && f != "-" {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}

	cfg, err := config.Load(*source)
	if err != nil {
		return err
	}
	envCfg, err := cfg.Environment(*env)
	if err != nil {
		return err
	}
	svc, err := cfg.Service(*service)
	if err != nil {
		return err
	}
	if *scanner == "" {
		*scanner = cfg.Project.Scan.Scanner
	}
	data, err := os.ReadFile(*reportFile)
	if err != nil {
		return fmt.Errorf("reading the %s report: %w", *scanner, err)
	}
	findings, err := vuln.Parse(*scanner, data)
	if err != nil {
		return fmt.Errorf("%s: %w", *reportFile, err)
	}
	files := vuln.IgnoreFiles(cfg.Project, svc)
	ignores, err := vuln.LoadIgnores(os.DirFS(*source), files...)
	if err != nil {
		return err
	}

	d := vuln.Evaluate(findings, envCfg.Policy, ignores, now)
	if findings == nil {
		findings = []vuln.Finding{}
	}
	res := scanDecision{
		Service: svc.Name, Environment: envCfg.Name, Scanner: *scanner, EvaluatedAt: now,
		IgnoreFiles: files, Decision: d, BlockedIDs: d.BlockingIDs(), Findings: findings,
		Summary: d.Summary(svc.Name, envCfg.Name),
	}
	if res.BlockedIDs == nil {
		res.BlockedIDs = []string{}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeOut(*out, stdout, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprint(stderr, res.Summary)

	if *predOut != "" {
		st, err := parseTime("started", *started)
		if err != nil {
			return err
		}
		fin, err := parseTime("finished", *finished)
		if err != nil {
			return err
		}
		result := res
		result.Summary = ""
		pred, err := provenance.VulnPredicate(provenance.VulnScan{
			ScannerURI:     scannerURIs[*scanner] + "v" + strings.TrimPrefix(*scannerVersion, "v"),
			ScannerVersion: strings.TrimPrefix(*scannerVersion, "v"),
			DBURI:          *dbURI, DBVersion: *dbVersion,
			Result:    result,
			StartedOn: st, FinishedOn: fin,
			BuilderID:  *builderID,
			Parameters: map[string]any{"environment": envCfg.Name, "policy": d.Policy, "ignoreFiles": files},
		})
		if err != nil {
			return err
		}
		if err := writeOut(*predOut, stdout, append(pred, '\n')); err != nil {
			return err
		}
	}
	if !d.Pass {
		return fmt.Errorf("%w for service %s in environment %s: %s", errGate, svc.Name, envCfg.Name, strings.Join(d.Reasons, "; "))
	}
	return nil
}

func runScanArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan-archive", stderr)
	in := fs.String("in", "", "image tarball: OCI layout (Dagger's asTarball) or docker save (required)")
	out := fs.String("out", "", "docker-save tarball to write (required)")
	platform := fs.String("platform", "", "platform to pick from a multi-platform archive, e.g. linux/amd64")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("%w: -in and -out are required", errUsage)
	}
	d, err := vuln.WriteDockerArchive(*in, *out, *platform)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]string{"digest": d.String(), "archive": *out}, "", "  ")
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(b, '\n'))
	return err
}
