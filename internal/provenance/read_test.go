package provenance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testout"
)

// The readers return what the builders wrote.
func TestReadersRoundTrip(t *testing.T) {
	slsa, err := SLSA(sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadSLSA(slsa)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleBuild(t)
	if b.BuildType != BuildType || b.Service != want.Service || b.Commit != want.Commit || b.Repository != RepositoryURL(want.Repository) {
		t.Errorf("ReadSLSA = %+v", b)
	}

	scan := sampleScan()
	scan.Result = map[string]any{"service": "orders", "environment": "dev", "findings": []map[string]string{{"id": "CVE-2099-1001"}}}
	v, err := VulnPredicate(scan)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadVulnScan(v)
	if err != nil {
		t.Fatal(err)
	}
	if s.Service != "orders" || s.Environment != "dev" || !s.FinishedOn.Equal(scan.FinishedOn.UTC().Truncate(time.Second)) || !strings.Contains(string(s.Findings), "CVE-2099-1001") {
		t.Errorf("ReadVulnScan = %+v", s)
	}

	suites := map[string]TestSuite{
		"unit":        {Status: testout.Passed, Command: "node --test", Counts: &testout.Counts{Runner: "node --test", Passed: 3, Skipped: 1}},
		"integration": {Status: testout.NotConfigured, Reason: "no test.integration command"},
	}
	tr, err := TestResult(TestRun{Service: "notify", Suites: suites, Configuration: []ResourceDescriptor{{Name: "unit: node --test"}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadTestResult(tr)
	if err != nil {
		t.Fatal(err)
	}
	// An integration suite that did not run makes the result WARNED, not
	// PASSED.
	if r.Result != TestWarned || r.Service != "notify" || r.Suites["unit"].Counts.Passed != 3 || r.Suites["integration"].Status != testout.NotConfigured {
		t.Errorf("ReadTestResult = %+v", r)
	}
	if !strings.Contains(string(tr), `"passedTests":["unit"]`) || !strings.Contains(string(tr), `"warnedTests":["integration"]`) {
		t.Errorf("in-toto lists not derived from the suites: %s", tr)
	}
	// Suites and hand-written lists do not mix.
	if _, err := TestResult(TestRun{Suites: suites, Passed: []string{"smoke"}, Configuration: []ResourceDescriptor{{Name: "x"}}}); err == nil {
		t.Error("suites with a passed list accepted")
	}
}

func TestReadCycloneDXSubject(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "trivy-image.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCycloneDXSubject(doc); err != nil && !strings.Contains(err.Error(), "metadata.component") {
		t.Errorf("trivy's SBOM: %v", err)
	}
	d := "sha256:" + strings.Repeat("a", 64)
	s, err := ReadCycloneDXSubject([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"container","name":"reg.local/shop/orders","version":"` + d + `","purl":"pkg:oci/orders@sha256%3A` + strings.Repeat("a", 64) + `?repository_url=reg.local/shop/orders"}},"components":[]}`))
	if err != nil || s.Version != d || PURLName(s.PURL) != "orders" {
		t.Errorf("subject = %+v, %v", s, err)
	}
	if _, err := ReadCycloneDXSubject([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`)); err == nil || !strings.Contains(err.Error(), "no metadata.component") {
		t.Errorf("an SBOM about nothing: %v", err)
	}
	for purl, want := range map[string]string{"pkg:oci/catalog@sha256%3Aab?arch=amd64": "catalog", "pkg:docker/library/redis@7": "redis", "oci/x": "", "pkg:oci": ""} {
		if got := PURLName(purl); got != want {
			t.Errorf("PURLName(%q) = %q, want %q", purl, got, want)
		}
	}
}
