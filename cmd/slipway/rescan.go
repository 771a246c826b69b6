package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/vuln"
)

// rescan re-scans an image, by digest, with the project's scanner
// (scan.scanner: osv-scanner or trivy) against an offline database and judges
// the findings with the same policy and ignore files as ci: the scanner of
// promotion and rollback.
type rescan struct {
	scanner string // scancmd.OSV or scancmd.Trivy
	bin     string // the scanner's binary
	db      string // offline database directory
	source  string // repository root, for the ignore files
	cfg     *config.Config
	reg     *registry.Client
}

var _ promote.Scanner = (*rescan)(nil)

// scanFlags adds --scanner and --vuln-db; both set enable the re-scan.
func scanFlags(fs interface {
	String(name, value, usage string) *string
}) (bin, db *string) {
	return fs.String("scanner", "", "binary of slipway.yaml's scan.scanner (osv-scanner or trivy) for the re-scan under the target's policy (with --vuln-db)"),
		fs.String("vuln-db", "", "offline vulnerability database directory (osv-scanner: osv-scalibr/<Ecosystem>/all.zip; trivy: db/trivy.db and db/metadata.json)")
}

// newRescan returns the re-scanner, or nil when neither flag is given.
func newRescan(bin, db, source string, cfg *config.Config, reg *registry.Client) (promote.Scanner, error) {
	switch {
	case bin == "" && db == "":
		return nil, nil
	case bin == "" || db == "":
		return nil, fmt.Errorf("%w: --scanner and --vuln-db go together", errUsage)
	}
	for _, p := range []string{bin, db} {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	scanner := cfg.Project.Scan.Scanner
	if scanner == scancmd.Trivy {
		if _, err := os.Stat(filepath.Join(db, "db", "trivy.db")); err != nil {
			return nil, fmt.Errorf("--vuln-db %s: scan.scanner is trivy, so it must be Trivy's cache directory (db/trivy.db, db/metadata.json): %w", db, err)
		}
	}
	return &rescan{scanner: scanner, bin: bin, db: db, source: source, cfg: cfg, reg: reg}, nil
}

// service finds the service whose repository holds digestRef.
func (s *rescan) service(digestRef string) (config.Service, bool) {
	repo := digestRef
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	for _, svc := range s.cfg.Services {
		if strings.HasSuffix(repo, "/"+svc.Image) {
			return svc, true
		}
	}
	return config.Service{}, false
}

// Scan pulls the image, scans it offline and evaluates the findings.
func (s *rescan) Scan(ctx context.Context, digestRef string, policy config.Policy) (promote.ScanResult, error) {
	d, err := s.reg.ParseDigest(digestRef)
	if err != nil {
		return promote.ScanResult{}, err
	}
	img, err := remote.Image(d, s.reg.RemoteOptions(ctx)...)
	if err != nil {
		return promote.ScanResult{}, registry.Classify("pulling for the re-scan", d.String(), err)
	}
	dir, err := os.MkdirTemp("", "slipway-rescan-")
	if err != nil {
		return promote.ScanResult{}, err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(archive, d, registry.AutoCloseLayers(img)); err != nil {
		return promote.ScanResult{}, fmt.Errorf("writing %s for the scanner: %w", d, err)
	}
	out := filepath.Join(dir, "report.json")
	args, err := scancmd.Image{Bin: s.bin, Archive: archive, Report: out, DB: s.db}.Args(s.scanner)
	if err != nil {
		return promote.ScanResult{}, fmt.Errorf("slipway.yaml: scan.scanner: %w", err)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "TMPDIR="+dir)
	msg, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && scancmd.Completed(s.scanner, exit.ExitCode())) {
		return promote.ScanResult{}, fmt.Errorf("%s on %s: %v: %s", s.scanner, d, err, strings.TrimSpace(string(msg)))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return promote.ScanResult{}, fmt.Errorf("%s on %s wrote no report: %w", s.scanner, d, err)
	}
	findings, err := vuln.Parse(s.scanner, b)
	if err != nil {
		return promote.ScanResult{}, err
	}
	var files []string
	if svc, ok := s.service(digestRef); ok {
		files = vuln.IgnoreFiles(s.cfg.Project, svc)
	} else {
		files = []string{s.cfg.Project.Scan.IgnoreFile}
	}
	ignores, err := vuln.LoadIgnores(os.DirFS(s.source), files...)
	if err != nil {
		return promote.ScanResult{}, err
	}
	dec := vuln.Evaluate(findings, policy, ignores, time.Now())
	return promote.ScanResult{Passed: dec.Pass, Vulnerabilities: dec.CountsByName(), Blocked: dec.BlockingIDs(), Summary: dec.Summary(d.String(), "")}, nil
}
