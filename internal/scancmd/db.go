package scancmd

import (
	"fmt"
	"strings"
	"time"
)

// OSVDBURL is where osv.dev publishes one zip of OSV records per ecosystem
// (<OSVDBURL>/<Ecosystem>/all.zip), the files osv-scanner's offline mode reads.
const OSVDBURL = "https://osv-vulnerabilities.storage.googleapis.com"

// OSVEcosystems are the ecosystems ci downloads when it keeps osv-scanner's
// database itself: the package kinds slipway's SBOM finds in images.
var OSVEcosystems = []string{"Alpine", "Debian", "Go", "PyPI", "npm"}

// TrivyDBURI is the database Trivy downloads by default.
const TrivyDBURI = "oci://mirror.gcr.io/aquasec/trivy-db:2"

// DB describes the vulnerability database a scan runs against, as the
// worker's `vuln-db` command reports it.
type DB struct {
	// Scanner is OSV or Trivy.
	Scanner string `json:"scanner"`
	// Available is false when there is no usable database.
	Available bool `json:"available"`
	// Reason says why it is not available (or what went wrong refreshing
	// one that is).
	Reason string `json:"reason,omitempty"`
	// Source is where it came from: "--vuln-db", "downloaded" (this run),
	// "cache" (an earlier run's download, not refreshed by this one).
	Source string `json:"source,omitempty"`
	// URI is the database's origin, for the scan attestation.
	URI string `json:"uri,omitempty"`
	// UpdatedAt is when the database's content was last updated (Trivy's
	// metadata; for osv-scanner the oldest ecosystem file's date).
	UpdatedAt time.Time `json:"updatedAt,omitempty"`
	// Ecosystems held (osv-scanner).
	Ecosystems []string `json:"ecosystems,omitempty"`
	// Fingerprint changes whenever the database's content does.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Age is how old the database is at now, in words ("unknown age" when
// there is no date).
func (d DB) Age(now time.Time) string {
	if d.UpdatedAt.IsZero() {
		return "unknown age"
	}
	a := now.Sub(d.UpdatedAt)
	switch {
	case a < time.Hour:
		return "less than an hour old"
	case a < 48*time.Hour:
		return fmt.Sprintf("%d hours old", int(a.Hours()))
	default:
		return fmt.Sprintf("%d days old", int(a.Hours()/24))
	}
}

// Describe is one line for the run report: the scanner, where the
// database came from, its date and age.
func (d DB) Describe(now time.Time) string {
	if !d.Available {
		return fmt.Sprintf("no %s vulnerability database: %s", d.Scanner, d.Reason)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vulnerability database: %s", d.Scanner)
	switch d.Source {
	case "--vuln-db":
		b.WriteString(", from --vuln-db")
	case "downloaded":
		b.WriteString(", downloaded by this run")
	case "cache":
		b.WriteString(", an earlier run's download (not refreshed by this one)")
	}
	if !d.UpdatedAt.IsZero() {
		fmt.Fprintf(&b, ", updated %s (%s)", d.UpdatedAt.UTC().Format("2006-01-02 15:04 MST"), d.Age(now))
	} else {
		b.WriteString(", of unknown age")
	}
	if len(d.Ecosystems) > 0 {
		fmt.Fprintf(&b, "; ecosystems %s", strings.Join(d.Ecosystems, ", "))
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, "; %s", d.Reason)
	}
	return b.String()
}

// NoDatabase is the error of a run that must scan but has no database:
// required lists why (config.Project.ScanRequirements).
func NoDatabase(d DB, required []string) error {
	return fmt.Errorf("vulnerability gate: the image cannot be scanned: no %s vulnerability database, and %s, so ci does not publish or deploy unscanned images.\n"+
		"Why there is none: %s.\n"+
		"Supply a database with --vuln-db DIR (%s), or run the engine where its containers can reach the database's servers (%s); "+
		"or, to deploy unscanned images there, remove the requirement (see docs/scanning.md#when-no-database-can-be-had)",
		d.Scanner, strings.Join(required, "; "), d.Reason, HowToGetDB(d.Scanner), serverOf(d.Scanner))
}

// NotScanned is the per-service report line of an image that was not
// scanned because no database could be had.
func NotScanned(d DB) string {
	return "not scanned: " + d.Describe(time.Now()) + " (no auto-deployed environment asks for a scan)"
}

// HowToGetDB says how to get an offline database for scanner.
func HowToGetDB(scanner string) string {
	if scanner == Trivy {
		return "a Trivy cache directory: `trivy image --download-db-only --cache-dir DIR` on a connected machine leaves DIR/db/trivy.db and DIR/db/metadata.json"
	}
	return "a directory DIR/osv-scalibr/<Ecosystem>/all.zip: download " + OSVDBURL + "/<Ecosystem>/all.zip for " + strings.Join(OSVEcosystems, ", ")
}

func serverOf(scanner string) string {
	if scanner == Trivy {
		return "mirror.gcr.io or ghcr.io"
	}
	return OSVDBURL
}
