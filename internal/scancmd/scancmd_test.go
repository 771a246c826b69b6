package scancmd

import (
	"slices"
	"strings"
	"testing"
)

func TestTrivyOfflineNeverDownloads(t *testing.T) {
	args, err := Image{Bin: "trivy", Archive: "/scan/image.tar", Report: "/scan/report.json", DB: "/scan/cache"}.Args(Trivy)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"trivy image ", "--input /scan/image.tar", "--output /scan/report.json", "--format json",
		"--cache-dir /scan/cache", "--skip-db-update", "--offline-scan", "--skip-java-db-update", "--scanners vuln"} {
		if !strings.Contains(line, want) {
			t.Errorf("offline trivy command %q lacks %q", line, want)
		}
	}
	if slices.Contains(args, "--exit-code") {
		t.Errorf("trivy asked for an exit code: %q", line)
	}
}

func TestTrivyDownloadKeepsTheCache(t *testing.T) {
	args, err := Image{Bin: "trivy", Archive: "a.tar", Report: "r.json", DB: "/cache/trivy", Download: true}.Args(Trivy)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if strings.Contains(line, "--skip-db-update") || strings.Contains(line, "--offline-scan") || strings.Contains(line, "--skip-java-db-update") {
		t.Errorf("a downloading trivy command is offline: %q", line)
	}
	if !strings.Contains(line, "--cache-dir /cache/trivy") {
		t.Errorf("the database cache is not used: %q", line)
	}
}

func TestOSVScannerOffline(t *testing.T) {
	args, err := Image{Bin: "/usr/local/bin/osv-scanner", Archive: "a.tar", Report: "r.json", DB: "/db"}.Args(OSV)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); got != "/usr/local/bin/osv-scanner scan image --offline --local-db-path /db --format json --output-file r.json --archive a.tar" {
		t.Errorf("osv-scanner command: %q", got)
	}
	if _, err := (Image{Bin: "osv-scanner", Archive: "a", Report: "r", DB: "d", Download: true}).Args(OSV); err == nil {
		t.Error("osv-scanner accepted a download")
	}
}

func TestArgsRefusesUnknownScannersAndMissingPaths(t *testing.T) {
	if _, err := (Image{Bin: "grype", Archive: "a", Report: "r", DB: "d"}).Args("grype"); err == nil || !strings.Contains(err.Error(), `"grype"`) {
		t.Errorf("unknown scanner: err = %v", err)
	}
	if _, err := (Image{Bin: "trivy", Archive: "a", Report: "r"}).Args(Trivy); err == nil {
		t.Error("a scan without a database path was accepted")
	}
}

func TestCompleted(t *testing.T) {
	for _, c := range []struct {
		scanner string
		exit    int
		want    bool
	}{{Trivy, 0, true}, {Trivy, 1, false}, {OSV, 0, true}, {OSV, 1, true}, {OSV, 127, false}} {
		if got := Completed(c.scanner, c.exit); got != c.want {
			t.Errorf("Completed(%s, %d) = %v, want %v", c.scanner, c.exit, got, c.want)
		}
	}
}
