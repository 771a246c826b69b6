package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/vuln/vulntest"
)

// useTrivy selects Trivy as the fixture's scanner (scan.scanner in
// slipway.yaml) and commits it.
func (r *slipwayRun) useTrivy() {
	r.t.Helper()
	r.edit("slipway.yaml", func(s string) string {
		if strings.Contains(s, "\nscan:") {
			r.t.Fatal("the sample slipway.yaml has a scan section: set scan.scanner there")
		}
		return s + "\nscan:\n  scanner: trivy\n"
	})
	r.commit("scan with trivy")
}

// writeTrivyVulnDB writes an offline Trivy database (Trivy's cache
// directory: db/trivy.db, db/metadata.json) with hack/tools/trivy-db, in
// which every Go standard library has one vulnerability of the given
// severity, so that only the Go sample service (orders) is affected.
func writeTrivyVulnDB(t *testing.T, id, severity string) string {
	t.Helper()
	dir := t.TempDir()
	vulntest.WriteTrivyDB(t, dir, vulntest.TrivyDB{
		Sources: []vulntest.TrivySource{{
			Bucket: "go::slipway e2e advisories", ID: "slipway-e2e", Name: "slipway end-to-end test advisories",
			Advisories: []vulntest.TrivyAdvisory{{Package: "stdlib", ID: id, VulnerableVersions: []string{"<99.0.0"}, PatchedVersions: []string{"99.0.0"}}},
		}},
		Vulnerabilities: []vulntest.TrivyVuln{{ID: id, Severity: severity, Title: "net/http: a flaw every Go release has (test record)"}},
	})
	if _, err := os.Stat(filepath.Join(dir, "db", "trivy.db")); err != nil {
		t.Fatalf("trivy-db wrote no database: %v", err)
	}
	return dir
}

// TestModuleScanGateTrivy is TestModuleScanGate with scan.scanner: trivy:
// Trivy runs from the aquasec/trivy:0.70.0 image (the harness builds it from
// the pinned module) offline against a database written by the project's
// own writer. The seeded critical vulnerability fails the gate and nothing
// of that service is pushed; an unexpired ignore lets it through (the scan
// is attested) while a stale ignore entry is reported; an expired ignore
// fails it again.
func TestModuleScanGateTrivy(t *testing.T) {
	r := newSlipwayRun(t)
	r.useTrivy()
	db := writeTrivyVulnDB(t, "CVE-2099-0101", "CRITICAL")

	out, err := r.call("--vuln-db", db, "ci")
	if err == nil {
		t.Fatalf("ci passed with a critical vulnerability in orders:\n%s", tail(out, 30))
	}
	rep := r.lastReport()
	got := byName(rep)
	if o := got["orders"]; o.Status != report.Failed || o.Stage != "scan" || o.Digest != "" || strings.Join(o.Blocked, ",") != "CVE-2099-0101" {
		t.Fatalf("orders after a failed gate: %+v", o)
	}
	if o := got["orders"]; o.Vulnerabilities["CRITICAL"] != 1 {
		t.Errorf("orders' findings by severity: %v, want one CRITICAL", o.Vulnerabilities)
	}
	if got["catalog"].Status != report.Built || got["notify"].Status != report.Built {
		t.Fatalf("the other services did not pass:\n%s", rep.Text())
	}
	if tags := r.tagsOf("orders"); len(tags) != 0 {
		t.Errorf("orders has tags although its scan failed: %v", tags)
	}
	if tags := r.tagsOf("catalog"); len(tags) == 0 {
		t.Errorf("catalog passed its scan but has no tags")
	}

	ignore := func(expires string) {
		os.MkdirAll(filepath.Join(r.fixture, ".slipway"), 0o755)
		os.WriteFile(filepath.Join(r.fixture, ".slipway", "vuln-ignore.yaml"), []byte(
			"ignores:\n"+
				"  - id: CVE-2099-0101\n    reason: the test record; no real service is affected\n    expires: "+expires+"\n"+
				"  - id: CVE-2099-0999\n    reason: fixed long ago\n    expires: 2099-12-31\n"), 0o644)
		r.commit("vuln ignore until " + expires)
	}
	ignore("2099-12-31")
	out = r.mustCall("--vuln-db", db, "ci", "--service", "orders", "--force")
	rep = r.lastReport()
	o := byName(rep)["orders"]
	if o.Status != report.Built || o.Vulnerabilities["CRITICAL"] != 1 || o.Digest == "" {
		t.Fatalf("orders with an unexpired ignore: %+v", o)
	}
	if !strings.Contains(strings.Join(o.Attestations, ","), "vuln") {
		t.Errorf("the scan was not attested: %v", o.Attestations)
	}
	if tags := r.tagsOf("orders"); len(tags) == 0 {
		t.Errorf("orders passed with an ignore but has no tags")
	}
	stale := "stale ignore entry CVE-2099-0999 at .slipway/vuln-ignore.yaml:5 matches no finding"
	if !strings.Contains(strings.Join(rep.Notes, "\n"), stale) {
		t.Errorf("the report does not note the stale ignore entry (%q):\n%s", stale, strings.Join(rep.Notes, "\n"))
	}
	if !strings.Contains(out, stale) {
		t.Errorf("ci's output does not show the stale ignore entry:\n%s", tail(out, 30))
	}

	ignore("2001-01-01")
	out, err = r.call("--vuln-db", db, "ci", "--service", "orders", "--force")
	if err == nil || !strings.Contains(out, "2099-0101") {
		t.Fatalf("an expired ignore still let orders through (err=%v):\n%s", err, tail(out, 30))
	}
	if o := byName(r.lastReport())["orders"]; o.Status != report.Failed || o.Stage != "scan" {
		t.Fatalf("orders with an expired ignore: %+v", o)
	}
}

// TestModuleScanTrivyRefusesAnOSVDatabase: with scan.scanner: trivy, a
// --vuln-db in osv-scanner's layout is refused before anything is pushed,
// naming the layout Trivy needs.
func TestModuleScanTrivyRefusesAnOSVDatabase(t *testing.T) {
	r := newSlipwayRun(t)
	r.useTrivy()
	out, err := r.call("--vuln-db", writeVulnDB(t), "ci", "--service", "notify")
	if err == nil || !strings.Contains(out, "db/trivy.db") {
		t.Fatalf("ci with an osv-scanner database and scan.scanner: trivy (err=%v):\n%s", err, tail(out, 30))
	}
	if n := byName(r.lastReport())["notify"]; n.Status != report.Failed || n.Stage != "scan" {
		t.Fatalf("notify: %+v", n)
	}
	if tags := r.tagsOf("notify"); len(tags) != 0 {
		t.Errorf("notify has tags although its scan could not run: %v", tags)
	}
}

// TestModulePromotionRescanTrivy is TestModulePromotionRescan with Trivy:
// the image passes dev's gate (CRITICAL) but its high finding fails
// staging's (HIGH) when promote re-scans the exact digest with the trivy
// binary of the scanner image, so nothing reaches staging.
func TestModulePromotionRescanTrivy(t *testing.T) {
	r := newSlipwayRun(t)
	r.useTrivy()
	db := writeTrivyVulnDB(t, "CVE-2099-0202", "HIGH")
	r.mustCall("--vuln-db", db, "ci")
	if o := byName(r.lastReport())["orders"]; o.Status != report.Built || o.Vulnerabilities["HIGH"] != 1 {
		t.Fatalf("orders under dev's CRITICAL gate: %+v", o)
	}
	before, staging := r.overlay("staging")
	out, err := r.call("--vuln-db", db, "promote", "--from", "dev", "--to", "staging")
	if err == nil || !strings.Contains(out, "2099-0202") {
		t.Fatalf("promotion of an image with a HIGH finding into staging was not refused (err=%v):\n%s", err, tail(out, 30))
	}
	if after, now := r.overlay("staging"); after != before || now != staging {
		t.Fatal("a refused promotion changed the GitOps repository")
	}
	r.mustCall("--vuln-db", db, "promote", "--from", "dev", "--to", "staging", "--service", "catalog", "--service", "notify")
}
