// Package scancmd builds the command lines slipway runs its vulnerability
// scanners with, so that the Dagger module (ci's scan before publish) and
// the worker (the re-scan of promote and rollback) run them identically. It
// imports nothing but the standard library: the module links it.
package scancmd

import "fmt"

// Scanner names, as in slipway.yaml's scan.scanner.
const (
	Trivy = "trivy"
	OSV   = "osv-scanner"
)

// TrivyVersion is the Trivy release of the default scanner image
// (DefaultTrivyImage) and of hack/tools/trivy.
const TrivyVersion = "0.70.0"

// DefaultTrivyImage is the image ci runs Trivy from unless --scanner-image
// names another: Docker Hub's name, so that a laptop pulls Aqua's image and
// the offline harness serves its own build of the same release.
const DefaultTrivyImage = "aquasec/trivy:" + TrivyVersion

// TrivyBin is where Trivy's images keep the binary.
const TrivyBin = "/usr/local/bin/trivy"

// OSVBin is where slipway's osv-scanner container (and an image given with
// --scanner-image) keeps the binary.
const OSVBin = "/usr/local/bin/osv-scanner"

// Bin is the path of scanner's binary in its container: the file promote
// and rollback copy into the worker for the re-scan, whichever image
// (the default or --scanner-image) the container runs.
func Bin(scanner string) string {
	if scanner == Trivy {
		return TrivyBin
	}
	return OSVBin
}

// Image is one scan of a docker-save image archive that writes a JSON report.
type Image struct {
	// Bin is the scanner binary ("trivy", "/usr/local/bin/osv-scanner").
	Bin string
	// Archive is the image tarball (docker save format).
	Archive string
	// Report is the JSON report file to write.
	Report string
	// DB is the offline database: for Trivy its cache directory (DB/db/trivy.db,
	// DB/db/metadata.json), for osv-scanner its local DB directory
	// (DB/osv-scalibr/<Ecosystem>/all.zip).
	DB string
	// Download lets Trivy download its database into DB (a cache it keeps)
	// instead of scanning offline against DB. osv-scanner always scans
	// offline.
	Download bool
}

// Args returns the command line of scanner for the scan i.
func (i Image) Args(scanner string) ([]string, error) {
	if i.Bin == "" || i.Archive == "" || i.Report == "" || i.DB == "" {
		return nil, fmt.Errorf("scanning %s: the binary, archive, report and database paths are all required", i.Archive)
	}
	switch scanner {
	case Trivy:
		args := []string{i.Bin, "image",
			"--input", i.Archive,
			"--format", "json", "--output", i.Report,
			"--scanners", "vuln",
			"--cache-dir", i.DB,
			// Layer analyses are not kept: DB may be a read-only mount,
			// and every image is scanned once.
			"--cache-backend", "memory",
			"--skip-check-update",
			"--disable-telemetry",
			"--quiet",
		}
		if !i.Download {
			// Java archives need DB/java-db as well: offline, Trivy
			// refuses to scan them without it.
			args = append(args, "--skip-db-update", "--skip-java-db-update", "--offline-scan")
		}
		return args, nil
	case OSV:
		if i.Download {
			return nil, fmt.Errorf("osv-scanner scans offline only: a database directory is required")
		}
		return []string{i.Bin, "scan", "image", "--offline", "--local-db-path", i.DB,
			"--format", "json", "--output-file", i.Report, "--archive", i.Archive}, nil
	default:
		return nil, fmt.Errorf("%q is not a supported scanner (%s or %s)", scanner, Trivy, OSV)
	}
}

// Completed reports whether scanner's exit code means that it scanned and
// wrote its report: 0 for both, and 1 for osv-scanner, which exits 1 when it
// found vulnerabilities (slipway never asks Trivy for a non-zero exit code).
func Completed(scanner string, exit int) bool {
	return exit == 0 || (scanner == OSV && exit == 1)
}

// TrivyDownloadArgs is the command line that downloads (or refreshes)
// Trivy's vulnerability database into its cache directory dir, and nothing
// else: ci runs it once per run, then scans offline against dir.
func TrivyDownloadArgs(bin, dir string) []string {
	return []string{bin, "image", "--download-db-only", "--cache-dir", dir,
		"--skip-check-update", "--disable-telemetry", "--no-progress", "--quiet"}
}
