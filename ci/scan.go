package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/wire"
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
	scannerOnce.Do(func() {
		scannerCtr = m.prebuilt(context.Background(), "scanner", m.ScannerSource, "", m.osvScannerFromSource)
	})
	return scannerCtr
}

// The scanner is resolved once per function call, like the worker.
var (
	scannerOnce sync.Once
	scannerCtr  *dagger.Container
)

// osvScannerFromSource compiles osv-scanner from its pinned module.
func (m *Slipway) osvScannerFromSource() *dagger.Container {
	bin := m.goBuild(m.ScannerSource, "github.com/google/osv-scanner/v2/cmd/osv-scanner")
	return dag.Container().From(m.WorkerBaseImage).
		WithFile(scancmd.OSVBin, bin).
		WithEntrypoint([]string{scancmd.OSVBin})
}

// ScannerPrebuilt is osv-scanner compiled from its pinned module, labelled
// with its source digest: what the release workflow publishes and records
// in ci/worker.lock, so that fresh CI runners pull it instead of compiling
// it: `dagger call scanner-prebuilt publish --address …`.
func (m *Slipway) ScannerPrebuilt(ctx context.Context) (*dagger.Container, error) {
	src, err := m.sourceDigest(ctx, m.ScannerSource)
	if err != nil {
		return nil, err
	}
	return m.osvScannerFromSource().
		WithLabel(workerSourceLabel, src).
		WithLabel("org.opencontainers.image.title", "osv-scanner").
		WithLabel("org.opencontainers.image.version", scannerVersion), nil
}

// trivyScanner is Trivy's image; its binary is scancmd.TrivyBin.
func (m *Slipway) trivyScanner() *dagger.Container {
	ref := scancmd.DefaultTrivyImage
	if m.ScannerImage != "" {
		ref = m.ScannerImage
	}
	return dag.Container().From(ref)
}

// scanDecision is the worker's verdict on a scan (scan-report), with what
// the module adds: why an image was not scanned, and against which
// database it was.
type scanDecision struct {
	wire.ScanVerdict
	// NotScanned says why the image was not scanned ("" when it was).
	NotScanned string
	// Database describes the database it was scanned against.
	Database string
}

// vulnDatabase is the vulnerability database the scans of one call use:
// --vuln-db, or the scanner's own database kept in a cache volume.
type vulnDatabase struct {
	info scancmd.DB
	// mount puts the database at a path of c (nil when not available).
	mount func(c *dagger.Container, at string) *dagger.Container
}

// vulnDBs holds the database of this call per scanner: it is prepared
// (downloaded or refreshed) once, however many services are scanned.
var (
	vulnDBMu sync.Mutex
	vulnDBs  = map[string]*vulnDatabase{}
)

// vulnCacheDir is where the database is mounted while it is prepared.
const vulnCacheDir = "/var/cache/slipway-vuln-db"

// vulnDatabase returns the database scans use with scanner, preparing it on
// first use. A --vuln-db that does not hold the scanner's database is an
// error; a database that cannot be downloaded is not (the result says it
// is unavailable, and why).
func (m *Slipway) vulnDatabase(ctx context.Context, scanner string) (*vulnDatabase, error) {
	vulnDBMu.Lock()
	defer vulnDBMu.Unlock()
	if d, ok := vulnDBs[scanner]; ok {
		return d, nil
	}
	d, err := m.prepareVulnDB(ctx, scanner)
	if err != nil {
		return nil, err
	}
	vulnDBs[scanner] = d
	if d.info.Available {
		progress("%s", d.info.Describe(time.Now()))
	} else {
		progress("vulnerability database unavailable: %s", d.info.Reason)
	}
	return d, nil
}

func (m *Slipway) prepareVulnDB(ctx context.Context, scanner string) (*vulnDatabase, error) {
	if scanner != scancmd.OSV && scanner != scancmd.Trivy {
		return nil, fmt.Errorf("slipway.yaml: scan.scanner: %q is not a supported scanner (%s or %s)", scanner, scancmd.OSV, scancmd.Trivy)
	}
	describe := func(c *dagger.Container, args ...string) (scancmd.DB, error) {
		full := append([]string{wire.WorkerBin, "vuln-db", "--scanner", scanner, "--dir", vulnCacheDir, "--out", wire.ResultFile}, args...)
		db, _, err := runWorker(ctx, fresh(c), full, exitFails, decodeJSON[scancmd.DB])
		if err != nil {
			return scancmd.DB{}, err
		}
		return *db, nil
	}
	locked := dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}
	if m.VulnDB != nil {
		info, err := describe(m.Worker().WithMountedDirectory(vulnCacheDir, m.VulnDB), "--given")
		if err != nil {
			return nil, err
		}
		if !info.Available {
			return nil, fmt.Errorf("%s", info.Reason)
		}
		return &vulnDatabase{info: info, mount: func(c *dagger.Container, at string) *dagger.Container {
			return c.WithMountedDirectory(at, m.VulnDB)
		}}, nil
	}
	var (
		vol  *dagger.CacheVolume
		info scancmd.DB
		err  error
	)
	switch scanner {
	case scancmd.Trivy:
		// Trivy downloads (or refreshes) its own database into the cache
		// volume; the worker then reads what is there.
		vol = dag.CacheVolume("slipway-trivy-cache")
		r, xerr := exec(ctx, fresh(m.trivyScanner().WithEnvVariable("HOME", "/tmp").
			WithMountedCache(vulnCacheDir, vol, locked)), scancmd.TrivyDownloadArgs("trivy", vulnCacheDir))
		refreshErr := ""
		switch {
		case xerr != nil:
			refreshErr = xerr.Error()
		case r.exit != 0:
			refreshErr = lastLine(r.stderr)
			if refreshErr == "" {
				refreshErr = fmt.Sprintf("trivy exited %d", r.exit)
			}
		}
		info, err = describe(m.Worker().WithMountedCache(vulnCacheDir, vol, locked), "--refresh-error", refreshErr)
	default:
		// osv-scanner's offline database, downloaded (when it changed)
		// by the worker into the cache volume.
		vol = dag.CacheVolume("slipway-osv-db")
		info, err = describe(m.Worker().WithMountedCache(vulnCacheDir, vol, locked), "--fetch")
	}
	if err != nil {
		return nil, err
	}
	d := &vulnDatabase{info: info}
	if info.Available {
		// The fingerprint changes with the database: a scan is reused
		// from the engine's cache only against the same database.
		d.mount = func(c *dagger.Container, at string) *dagger.Container {
			return c.WithMountedCache(at, vol, locked).WithEnvVariable(wire.EnvVulnDB, info.Fingerprint)
		}
	}
	return d, nil
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// scanGateOpen returns the error that fails a service before it is built
// when its scan cannot run: no database could be had and an auto-deployed
// environment asks for a scan.
func (m *Slipway) scanGateOpen(ctx context.Context, p *plan.Plan) error {
	_, err := m.scanning(ctx, p)
	return err
}

// scanning reports whether this run's images can be scanned (a database is
// at hand). Without one, an auto-deployed environment that asks for a scan
// closes the gate: the error says so and how to supply a database.
func (m *Slipway) scanning(ctx context.Context, p *plan.Plan) (bool, error) {
	db, err := m.vulnDatabase(ctx, p.Project.Scan.Scanner)
	if err != nil {
		return false, err
	}
	if !db.info.Available {
		if req := p.Project.ScanRequirements(); len(req) > 0 {
			return false, scancmd.NoDatabase(db.info, req)
		}
		return false, nil
	}
	return true, nil
}

// scanPaths are where the scanner container sees its inputs.
const (
	scanArchive = "/scan/image.tar"
	scanReport  = "/scan/report.json"
	scanDB      = "/scan/db"
)

// runScanner runs the project's scanner over the image archive, offline
// against db, and returns its JSON report and the scanner's version.
func (m *Slipway) runScanner(ctx context.Context, scanner string, archive *dagger.File, db *vulnDatabase) (*dagger.File, string, error) {
	var (
		c       *dagger.Container
		version = scannerVersion
		scan    = scancmd.Image{Archive: scanArchive, Report: scanReport, DB: scanDB}
	)
	switch scanner {
	case scancmd.Trivy:
		c, version, scan.Bin = m.trivyScanner(), scancmd.TrivyVersion, "trivy"
	default:
		c, scan.Bin = m.osvScanner(), scancmd.OSVBin
	}
	args, err := scan.Args(scanner)
	if err != nil {
		return nil, "", fmt.Errorf("slipway.yaml: scan.scanner: %w", err)
	}
	r, err := exec(ctx, db.mount(c, scanDB).WithEnvVariable("HOME", "/tmp").
		WithMountedFile(scanArchive, archive).
		WithWorkdir("/scan"), args)
	if err != nil {
		return nil, "", fmt.Errorf("running %s: %w", scanner, err)
	}
	if !scancmd.Completed(scanner, r.exit) {
		return nil, "", fmt.Errorf("%s failed (exit %d): %s", scanner, r.exit, strings.TrimSpace(r.stderr))
	}
	return r.ctr.File(scanReport), version, nil
}

// scan runs the project's scanner over the built image (offline against
// --vuln-db, or against the scanner's own database, downloaded into a cache
// volume) and gates it on the policy of env. It returns the decision and
// the vulnerability-scan predicate to attest. Without a database, it fails
// when an auto-deployed environment asks for a scan
// (config.Project.ScanRequirements), and otherwise passes with a decision
// that says the image was not scanned, and why.
func (m *Slipway) scan(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container, env string) (*scanDecision, *dagger.File, error) {
	scanner := p.Project.Scan.Scanner
	db, err := m.vulnDatabase(ctx, scanner)
	if err != nil {
		return nil, nil, err
	}
	if !db.info.Available {
		if req := p.Project.ScanRequirements(); len(req) > 0 {
			return nil, nil, scancmd.NoDatabase(db.info, req)
		}
		return &scanDecision{ScanVerdict: wire.ScanVerdict{Pass: true}, NotScanned: scancmd.NotScanned(db.info)}, nil, nil
	}
	archive := m.Worker().
		WithMountedFile(wire.ImageTarball, img.AsTarball()).
		WithExec([]string{wire.WorkerBin, "scan-archive", "--in", wire.ImageTarball, "--out", dockerArchive}).
		File(dockerArchive)
	started := time.Now().UTC().Format(time.RFC3339)
	report, version, err := m.runScanner(ctx, scanner, archive, db)
	if err != nil {
		return nil, nil, err
	}
	dbVersion := ""
	if !db.info.UpdatedAt.IsZero() {
		dbVersion = db.info.UpdatedAt.UTC().Format(time.RFC3339)
	}
	// The decision is written also when the gate fails (exit 1).
	v, d, err := runWorker(ctx, m.Worker().
		WithDirectory(wire.SourceDir, m.Source).
		WithMountedFile(scannerReport, report),
		[]string{wire.WorkerBin, "scan-report", "--scanner", scanner, "--report", scannerReport,
			"--env", env, "--service", s.Name, "--source", wire.SourceDir, "--out", wire.ResultFile,
			"--predicate-out", vulnPredicate, "--scanner-version", version, "--db-uri", db.info.URI, "--db-version", dbVersion,
			"--started", started, "--finished", time.Now().UTC().Format(time.RFC3339)}, exitIsVerdict, decodeJSON[wire.ScanVerdict])
	if err != nil {
		return nil, nil, fmt.Errorf("evaluating the scan: %w", err)
	}
	dec := &scanDecision{ScanVerdict: *v}
	if dec.Summary == "" {
		dec.Summary = strings.TrimSpace(d.stderr)
	}
	dec.Database = db.info.Describe(time.Now())
	var pred *dagger.File
	if dec.Pass {
		pred = d.ctr.File(vulnPredicate)
	}
	return dec, pred, nil
}

// Files of a scan in the worker: the image as a docker-save archive for
// the scanner, the scanner's report, and the vulnerability predicate made
// from the decision.
const (
	dockerArchive = wire.WorkDir + "/docker.tar"
	scannerReport = wire.WorkDir + "/scan.json"
	vulnPredicate = wire.WorkDir + "/vuln.json"
)
