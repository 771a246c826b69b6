package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixtures: testdata/osv-scanner-image.json is the real osv-scanner
// v2.5.0's report on the seeded image (see scanner_test.go);
// testdata/trivy-image.json was written by hand after Trivy's documented
// JSON report (schema version 2) for the same image, because building Trivy
// takes minutes and gigabytes.
func TestParseFixturesGolden(t *testing.T) {
	for _, tc := range []struct{ scanner, file string }{
		{ScannerTrivy, "trivy-image.json"},
		{ScannerOSV, "osv-scanner-image.json"},
	} {
		t.Run(tc.scanner, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Parse(tc.scanner, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(fs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", strings.TrimSuffix(tc.file, ".json")+".findings.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("findings differ from %s (run with -update if intended):\n%s", golden, got)
			}
		})
	}
}

func findingByID(t *testing.T, fs []Finding, id string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding %s in %s", id, dump(fs))
	return Finding{}
}

func TestParseTrivyFields(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "trivy-image.json"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ParseTrivy(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 5 {
		t.Fatalf("%d findings, want 5 (the secret result has none): %s", len(fs), dump(fs))
	}
	z := findingByID(t, fs, "CVE-2099-1001")
	want := Finding{ID: "CVE-2099-1001", Aliases: []string{"DSA-9901-1"}, Package: "zlib1g", Ecosystem: "debian",
		Installed: "1:1.2.13.dfsg-1", Fixed: "1:1.2.13.dfsg-1+deb12u1", Severity: Critical,
		Source: "image.tar (debian 12.5)", Title: "zlib: heap overflow in inflate (test record)"}
	if !reflect.DeepEqual(z, want) {
		t.Errorf("got %+v\nwant %+v", z, want)
	}
	// UNKNOWN with a CVSS score is rated from the score.
	if f := findingByID(t, fs, "CVE-2099-1004"); f.Severity != Medium || f.Fixable() {
		t.Errorf("CVE-2099-1004: %+v", f)
	}
	// UNKNOWN without any score stays UNKNOWN.
	if f := findingByID(t, fs, "CVE-2099-1002"); f.Severity != Unknown {
		t.Errorf("CVE-2099-1002: %+v", f)
	}
	if f := findingByID(t, fs, "CVE-2099-2001"); f.Fixed != "1.25.12, 1.26.9" || f.Source != "usr/local/bin/demo" || !f.HasID("go-2099-0001") {
		t.Errorf("CVE-2099-2001: %+v", f)
	}
	// Most severe first.
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Severity.Rank() < fs[i].Severity.Rank() {
			t.Errorf("not sorted by severity: %s before %s", fs[i-1], fs[i])
		}
	}
}

func TestParseTrivyPkgPathAndDuplicates(t *testing.T) {
	in := []byte(`{"SchemaVersion": 2, "Results": [{"Target": "Java", "Class": "lang-pkgs", "Type": "jar", "Vulnerabilities": [
	  {"VulnerabilityID": "CVE-2099-3001", "PkgName": "org.example:lib", "PkgPath": "app/lib/lib-1.0.jar", "InstalledVersion": "1.0", "Severity": "LOW"},
	  {"VulnerabilityID": "CVE-2099-3001", "VendorIDs": ["GHSA-2099-aaaa-bbbb"], "PkgName": "org.example:lib", "PkgPath": "app/lib/lib-1.0.jar", "InstalledVersion": "1.0", "FixedVersion": "1.1", "Severity": "HIGH"},
	  {"VulnerabilityID": "CVE-2099-3001", "PkgName": "org.example:lib", "PkgPath": "app/other/lib-1.0.jar", "InstalledVersion": "1.0", "Severity": "LOW"}
	]}]}`)
	fs, err := ParseTrivy(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("want the two paths as two findings, got %s", dump(fs))
	}
	merged := fs[0]
	if merged.Source != "app/lib/lib-1.0.jar" || merged.Severity != High || merged.Fixed != "1.1" || !reflect.DeepEqual(merged.Aliases, []string{"GHSA-2099-aaaa-bbbb"}) {
		t.Errorf("duplicates not merged to the worst: %+v", merged)
	}
}

func TestParseOSVScannerSeverityFallbacks(t *testing.T) {
	pkg := func(groups, vulns string) []byte {
		return []byte(`{"results": [{"source": {"path": "/lockfile", "type": "lockfile"}, "packages": [{"package": {"name": "example.com/m", "version": "1.2.0", "ecosystem": "Go"}, "groups": ` + groups + `, "vulnerabilities": ` + vulns + `}]}]}`)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want Severity
	}{
		"max_severity": {pkg(`[{"ids": ["GO-1"], "aliases": ["GO-1"], "max_severity": "4.3"}]`, `[{"id": "GO-1"}]`), Medium},
		"CVSS 3.1 vector when max_severity is empty": {pkg(`[{"ids": ["GO-1"], "max_severity": ""}]`,
			`[{"id": "GO-1", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]`), Critical},
		"CVSS 3.0 vector": {pkg(`[]`, `[{"id": "GO-1", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}]`), High},
		"CVSS 2 vector":   {pkg(`[]`, `[{"id": "GO-1", "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"}]}]`), Medium},
		"CVSS 4 vector":   {pkg(`[]`, `[{"id": "GO-1", "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}]`), Critical},
		"highest of several vectors, a bad one skipped": {pkg(`[]`, `[{"id": "GO-1", "severity": [
			{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"},
			{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"},
			{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}]`), High},
		"database_specific word":  {pkg(`[]`, `[{"id": "GHSA-1", "database_specific": {"severity": "MODERATE"}}]`), Medium},
		"ecosystem_specific word": {pkg(`[]`, `[{"id": "ALPINE-1", "affected": [{"package": {"name": "example.com/m", "ecosystem": "Go"}, "ecosystem_specific": {"severity": "low"}}]}]`), Low},
		"Ubuntu priority":         {pkg(`[]`, `[{"id": "UBUNTU-CVE-1", "severity": [{"type": "Ubuntu", "score": "high"}]}]`), High},
		"nothing":                 {pkg(`[]`, `[{"id": "GO-1"}]`), Unknown},
	} {
		t.Run(name, func(t *testing.T) {
			fs, err := ParseOSVScanner(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].Severity != tc.want {
				t.Errorf("got %s, want one finding of severity %s", dump(fs), tc.want)
			}
		})
	}
}

func TestParseOSVScannerGroupsAndFixes(t *testing.T) {
	in := []byte(`{"results": [{"source": {"path": "/app/go.mod", "type": "lockfile"}, "packages": [{
	  "package": {"name": "golang.org/x/net", "version": "0.20.0", "ecosystem": "Go"},
	  "groups": [{"ids": ["GO-2099-0100", "GHSA-2099-net0-0001"], "aliases": ["CVE-2099-0100", "CVE-2099-0101", "GHSA-2099-net0-0001", "GO-2099-0100"], "max_severity": "7.5"}],
	  "vulnerabilities": [
	    {"id": "GO-2099-0100", "aliases": ["CVE-2099-0101", "CVE-2099-0100"], "summary": "first line\nsecond line",
	     "affected": [{"package": {"name": "golang.org/x/net", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.19.0"}, {"introduced": "0.20.0"}, {"fixed": "0.23.0"}]}]},
	                  {"package": {"name": "golang.org/x/other", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "9.9.9"}]}]}]},
	    {"id": "GHSA-2099-net0-0001", "affected": [{"package": {"name": "golang.org/x/net", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.22.0"}, {"fixed": "0.22.1"}]}]}]},
	    {"id": "GO-2099-0200", "affected": [{"package": {"name": "golang.org/x/net", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}
	  ]}]}]}`)
	fs, err := ParseOSVScanner(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{ID: "CVE-2099-0100", Aliases: []string{"CVE-2099-0101", "GHSA-2099-net0-0001", "GO-2099-0100"}, Package: "golang.org/x/net", Ecosystem: "Go",
			Installed: "0.20.0", Fixed: "0.22.1, 0.23.0", Severity: High, Source: "/app/go.mod", Title: "first line"},
		// A record outside every group is a finding of its own.
		{ID: "GO-2099-0200", Package: "golang.org/x/net", Ecosystem: "Go", Installed: "0.20.0", Severity: Unknown, Source: "/app/go.mod"},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("got %s\nwant %s", dump(fs), dump(want))
	}
}

func TestParseRejectsOtherDocuments(t *testing.T) {
	trivy, err := os.ReadFile(filepath.Join("testdata", "trivy-image.json"))
	if err != nil {
		t.Fatal(err)
	}
	osv, err := os.ReadFile(filepath.Join("testdata", "osv-scanner-image.json"))
	if err != nil {
		t.Fatal(err)
	}
	bom := []byte(`{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}`)
	for name, tc := range map[string]struct {
		scanner string
		in      []byte
		want    string
	}{
		"not JSON":                  {ScannerTrivy, []byte("Total: 3 (HIGH: 1)"), "not a JSON object"},
		"JSON array":                {ScannerOSV, []byte(`[]`), "not a JSON object"},
		"SBOM to trivy":             {ScannerTrivy, bom, "CycloneDX SBOM, not trivy's JSON report"},
		"SBOM to osv-scanner":       {ScannerOSV, bom, "CycloneDX SBOM, not osv-scanner's JSON report"},
		"trivy report as osv":       {ScannerOSV, trivy, "looks like a trivy report"},
		"osv report as trivy":       {ScannerTrivy, osv, "looks like an osv-scanner report"},
		"trivy without schema":      {ScannerTrivy, []byte(`{"Results": []}`), "no SchemaVersion"},
		"trivy schema 1":            {ScannerTrivy, []byte(`{"SchemaVersion": 1, "Results": []}`), "SchemaVersion is 1"},
		"trivy without ID":          {ScannerTrivy, []byte(`{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "a"}]}]}`), "Results[0].Vulnerabilities[0]: no VulnerabilityID"},
		"trivy without package":     {ScannerTrivy, []byte(`{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}]}`), "(CVE-1): no PkgName"},
		"trivy wrong types":         {ScannerTrivy, []byte(`{"SchemaVersion": 2, "Results": {"a": 1}}`), "trivy report"},
		"osv without results":       {ScannerOSV, []byte(`{"experimental_config": {}}`), `no "results"`},
		"osv vulnerability sans id": {ScannerOSV, []byte(`{"results": [{"packages": [{"package": {"name": "a"}, "vulnerabilities": [{"summary": "x"}]}]}]}`), "results[0].packages[0].vulnerabilities[0]: no id"},
		"osv package sans name":     {ScannerOSV, []byte(`{"results": [{"packages": [{"package": {}, "vulnerabilities": [{"id": "X"}]}]}]}`), "results[0].packages[0]: package has no name"},
	} {
		t.Run(name, func(t *testing.T) {
			fs, err := Parse(tc.scanner, tc.in)
			if err == nil {
				t.Fatalf("parsed: %s", dump(fs))
			}
			if !errors.Is(err, ErrBadReport) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want ErrBadReport saying %q", err, tc.want)
			}
		})
	}
	if _, err := Parse("grype", trivy); !errors.Is(err, ErrUnknownScanner) {
		t.Errorf("Parse(grype): %v", err)
	}
}

func TestEmptyReports(t *testing.T) {
	for scanner, in := range map[string]string{
		ScannerTrivy: `{"SchemaVersion": 2, "ArtifactName": "image.tar", "Results": [{"Target": "image.tar (debian 12.5)", "Class": "os-pkgs", "Type": "debian"}]}`,
		ScannerOSV:   `{"results": [], "experimental_config": {"licenses": {"summary": false, "allowlist": null}}}`,
	} {
		fs, err := Parse(scanner, []byte(in))
		if err != nil || len(fs) != 0 {
			t.Errorf("%s: %v %s", scanner, err, dump(fs))
		}
	}
}

func TestSeverityWords(t *testing.T) {
	for in, want := range map[string]Severity{
		"critical": Critical, "HIGH": High, "Important": High, "moderate": Medium, "MEDIUM": Medium,
		"low": Low, "negligible": Low, "unimportant": Low, "": Unknown, "UNKNOWN": Unknown, "severe": Unknown,
	} {
		if got := ParseSeverity(in); got != want {
			t.Errorf("ParseSeverity(%q) = %s, want %s", in, got, want)
		}
	}
	for score, want := range map[float64]Severity{
		10: Critical, 9.0: Critical, 8.9: High, 7.0: High, 6.9: Medium, 4.0: Medium, 3.9: Low, 0.1: Low, 0: Unknown, -1: Unknown, 11: Unknown,
	} {
		if got := SeverityFromScore(score); got != want {
			t.Errorf("SeverityFromScore(%v) = %s, want %s", score, got, want)
		}
	}
}
