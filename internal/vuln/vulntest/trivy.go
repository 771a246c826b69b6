package vulntest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slipwayci/slipway/internal/testutil"
)

// TrivyDB is the input of the project's Trivy database writer
// (hack/tools/trivy-db): advisories per bucket and the vulnerabilities they
// name.
type TrivyDB struct {
	// UpdatedAt is the database's time (RFC 3339); empty means 2099-01-01.
	UpdatedAt       string        `json:"updatedAt,omitempty"`
	Sources         []TrivySource `json:"sources"`
	Vulnerabilities []TrivyVuln   `json:"vulnerabilities"`
}

// TrivySource is one bucket of advisories and its data source. Buckets are
// "<distribution> <major>" for OS packages ("debian 12", keyed by source
// package) and "<ecosystem>::<name>" for language packages ("go::...").
type TrivySource struct {
	Bucket     string          `json:"bucket"`
	ID         string          `json:"id"`
	Name       string          `json:"name,omitempty"`
	Advisories []TrivyAdvisory `json:"advisories"`
}

// TrivyAdvisory says that a package is vulnerable: OS packages below
// FixedVersion (always, when it is empty), language packages in
// VulnerableVersions ("<1.2.3").
type TrivyAdvisory struct {
	Package            string   `json:"package"`
	ID                 string   `json:"id"`
	FixedVersion       string   `json:"fixedVersion,omitempty"`
	VulnerableVersions []string `json:"vulnerableVersions,omitempty"`
	PatchedVersions    []string `json:"patchedVersions,omitempty"`
}

// TrivyVuln is a vulnerability's details; Severity is LOW, MEDIUM, HIGH,
// CRITICAL, or empty for none.
type TrivyVuln struct {
	ID       string `json:"id"`
	Severity string `json:"severity,omitempty"`
	Title    string `json:"title,omitempty"`
}

// WriteTrivyDB writes db as Trivy's cache directory dir (dir/db/trivy.db and
// dir/db/metadata.json) with hack/tools/trivy-db, built by testutil.Tool.
func WriteTrivyDB(tb testing.TB, dir string, db TrivyDB) {
	tb.Helper()
	b, err := json.MarshalIndent(db, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	in := filepath.Join(tb.TempDir(), "trivy-db.json")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(testutil.Tool(tb, "trivy-db"), "-in", in, "-out", dir).CombinedOutput()
	if err != nil {
		tb.Fatalf("trivy-db: %v\n%s", err, out)
	}
}
