package scancmd

import (
	"strings"
	"testing"
	"time"
)

func TestTrivyDownloadOnlyDownloads(t *testing.T) {
	got := strings.Join(TrivyDownloadArgs("trivy", "/cache"), " ")
	if got != "trivy image --download-db-only --cache-dir /cache --skip-check-update --disable-telemetry --no-progress --quiet" {
		t.Errorf("download command: %q", got)
	}
}

func TestDBAgeAndDescription(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		updated time.Time
		want    string
	}{
		{time.Time{}, "unknown age"},
		{now.Add(-10 * time.Minute), "less than an hour old"},
		{now.Add(-30 * time.Hour), "30 hours old"},
		{now.Add(-100 * time.Hour), "4 days old"},
	} {
		if got := (DB{UpdatedAt: c.updated}).Age(now); got != c.want {
			t.Errorf("Age(%s) = %q, want %q", c.updated, got, c.want)
		}
	}
	d := DB{Scanner: OSV, Available: true, Source: "downloaded", UpdatedAt: now.Add(-30 * time.Hour), Ecosystems: []string{"Go", "npm"}}
	if got := d.Describe(now); got != "vulnerability database: osv-scanner, downloaded by this run, updated 2026-12-05 06:00 UTC (30 hours old); ecosystems Go, npm" {
		t.Errorf("Describe = %q", got)
	}
}

func TestNoDatabaseSaysWhyAndHowToGetOne(t *testing.T) {
	d := DB{Scanner: OSV, Reason: "downloading the OSV database failed: Go: no such host"}
	err := NoDatabase(d, []string{"environment dev's policy blocks CRITICAL findings (policy.failOn: CRITICAL)"})
	for _, want := range []string{
		"cannot be scanned: no osv-scanner vulnerability database, and environment dev's policy blocks CRITICAL findings (policy.failOn: CRITICAL), so ci does not publish",
		"\nWhy there is none: downloading the OSV database failed: Go: no such host.\n",
		"--vuln-db DIR", "osv-scalibr/<Ecosystem>/all.zip", OSVDBURL,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NoDatabase lacks %q:\n%s", want, err)
		}
	}
	trivy := NoDatabase(DB{Scanner: Trivy, Reason: "x"}, []string{"r"}).Error()
	if !strings.Contains(trivy, "trivy image --download-db-only --cache-dir DIR") {
		t.Errorf("Trivy's NoDatabase does not say how to get a database:\n%s", trivy)
	}
	if got := NotScanned(d); !strings.HasPrefix(got, "not scanned: no osv-scanner vulnerability database: ") {
		t.Errorf("NotScanned = %q", got)
	}
}

func TestBinIsWhereTheRescanFindsTheScanner(t *testing.T) {
	if Bin(Trivy) != "/usr/local/bin/trivy" || Bin(OSV) != "/usr/local/bin/osv-scanner" {
		t.Errorf("Bin: trivy %q, osv-scanner %q", Bin(Trivy), Bin(OSV))
	}
}
