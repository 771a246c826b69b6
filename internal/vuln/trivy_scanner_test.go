package vuln

// The real Trivy (built from the pinned module in hack/tools/trivy by
// testutil.Tool) run offline, with the flags the pipeline uses
// (internal/scancmd), against the seeded image of scanner_test.go and a tiny
// Trivy database written by the project's own writer (hack/tools/trivy-db).

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/vuln/vulntest"
)

// trivyTestDB mirrors testDB for Trivy: the same vulnerabilities, as
// advisories in a Debian 12 bucket and a Go bucket.
func trivyTestDB(tb testing.TB) vulntest.TrivyDB {
	tb.Helper()
	_, fixedGo := goStdlibVersions(tb)
	return vulntest.TrivyDB{
		Sources: []vulntest.TrivySource{
			{Bucket: "debian 12", ID: "debian", Name: "Debian Security Tracker", Advisories: []vulntest.TrivyAdvisory{
				{Package: "zlib", ID: "CVE-2099-1001", FixedVersion: "1:1.2.13.dfsg-1+deb12u1"},
				{Package: "libslipdemo1", ID: "CVE-2099-1002"},
				{Package: "zlib", ID: "CVE-2099-1003", FixedVersion: "1:1.2.11.dfsg-1"},
			}},
			{Bucket: "go::Slipway test advisories", ID: "slipway-test", Name: "slipway test advisories", Advisories: []vulntest.TrivyAdvisory{
				{Package: "stdlib", ID: "CVE-2099-2001", VulnerableVersions: []string{"<" + fixedGo}, PatchedVersions: []string{fixedGo}},
				{Package: "stdlib", ID: "CVE-2099-2002", VulnerableVersions: []string{"<" + fixedGo}, PatchedVersions: []string{fixedGo}},
			}},
		},
		Vulnerabilities: []vulntest.TrivyVuln{
			{ID: "CVE-2099-1001", Severity: "CRITICAL", Title: "zlib: heap overflow in inflate (test record)"},
			{ID: "CVE-2099-1002", Title: "libslipdemo: unfixed flaw without a severity (test record)"},
			{ID: "CVE-2099-1003", Severity: "CRITICAL", Title: "zlib: flaw fixed before the installed version (must not be reported)"},
			{ID: "CVE-2099-2001", Severity: "HIGH", Title: "net/http: request smuggling (test record)"},
			{ID: "CVE-2099-2002", Severity: "MEDIUM", Title: "fmt: moderate flaw (test record)"},
		},
	}
}

// runTrivy scans archive offline against the cache directory db, as the
// pipeline does, and returns the report, stderr and the exit code.
func runTrivy(tb testing.TB, db, archive string) (report, stderr []byte, code int) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "report.json")
	args, err := scancmd.Image{Bin: testutil.Tool(tb, "trivy"), Archive: archive, Report: out, DB: db}.Args(scancmd.Trivy)
	if err != nil {
		tb.Fatal(err)
	}
	home := tb.TempDir()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(osvEnv(home), "TMPDIR="+home)
	var e bytes.Buffer
	cmd.Stderr = &e
	start := time.Now()
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			tb.Fatalf("running trivy: %v", err)
		}
		code = ee.ExitCode()
	}
	tb.Logf("trivy: exit %d in %s", code, time.Since(start).Round(time.Millisecond))
	b, _ := readFileIfAny(out)
	return b, e.Bytes(), code
}

// TestTrivyOfflineFindsTheSeededVulnerabilities runs the real Trivy and
// checks what slipway makes of its report.
func TestTrivyOfflineFindsTheSeededVulnerabilities(t *testing.T) {
	archive := scannableImage(t, seededImage(t))
	db := t.TempDir()
	vulntest.WriteTrivyDB(t, db, trivyTestDB(t))

	out, errOut, code := runTrivy(t, db, archive)
	if code != 0 || len(out) == 0 {
		t.Fatalf("trivy exit code %d, report %d bytes\n%s", code, len(out), errOut)
	}
	findings, err := Parse(ScannerTrivy, out)
	if err != nil {
		t.Fatalf("parsing trivy's report: %v\n%s", err, out)
	}
	installedGo, fixedGo := goStdlibVersions(t)
	type key struct{ ID, Package, Ecosystem, Installed, Fixed, Title string }
	var got []key
	sev := map[string]Severity{}
	for _, f := range findings {
		got = append(got, key{f.ID, f.Package, f.Ecosystem, f.Installed, f.Fixed, f.Title})
		sev[f.ID] = f.Severity
		if f.ID == "CVE-2099-2001" && f.Source != "usr/local/bin/demo" {
			t.Errorf("the Go finding's source is %q, want the binary usr/local/bin/demo", f.Source)
		}
	}
	want := []key{
		{"CVE-2099-1001", "zlib1g", "debian", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1", "zlib: heap overflow in inflate (test record)"},
		{"CVE-2099-2001", "stdlib", "gobinary", "v" + installedGo, fixedGo, "net/http: request smuggling (test record)"},
		{"CVE-2099-2002", "stdlib", "gobinary", "v" + installedGo, fixedGo, "fmt: moderate flaw (test record)"},
		{"CVE-2099-1002", "libslipdemo1", "debian", "2.0.1-3", "", "libslipdemo: unfixed flaw without a severity (test record)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	wantSev := map[string]Severity{"CVE-2099-1001": Critical, "CVE-2099-2001": High, "CVE-2099-2002": Medium, "CVE-2099-1002": Unknown}
	if !reflect.DeepEqual(sev, wantSev) {
		t.Errorf("severities %v, want %v", sev, wantSev)
	}

	prod := Evaluate(findings, config.Policy{FailOn: "HIGH", Strict: true}, nil, testNow)
	if prod.Pass || !reflect.DeepEqual(prod.BlockingIDs(), []string{"CVE-2099-1001", "CVE-2099-2001"}) {
		t.Errorf("prod decision: pass=%t blocked=%v", prod.Pass, prod.BlockingIDs())
	}
	dev := Evaluate(findings, config.Policy{FailOn: "CRITICAL"}, nil, testNow)
	if dev.Pass || !reflect.DeepEqual(dev.BlockingIDs(), []string{"CVE-2099-1001"}) {
		t.Errorf("dev decision: pass=%t blocked=%v", dev.Pass, dev.BlockingIDs())
	}
}

// TestTrivyOfflineCleanImage: with nothing vulnerable, Trivy's report parses
// to no findings; and without a database it fails instead of downloading.
func TestTrivyOfflineCleanImage(t *testing.T) {
	archive := scannableImage(t, seededImage(t))
	clean := trivyTestDB(t)
	for i := range clean.Sources {
		for j := range clean.Sources[i].Advisories {
			clean.Sources[i].Advisories[j].Package += "-not-installed"
		}
	}
	db := t.TempDir()
	vulntest.WriteTrivyDB(t, db, clean)
	out, errOut, code := runTrivy(t, db, archive)
	if code != 0 {
		t.Fatalf("trivy exit code %d\n%s", code, errOut)
	}
	findings, err := Parse(ScannerTrivy, out)
	if err != nil {
		t.Fatalf("parsing: %v\n%s", err, out)
	}
	if len(findings) != 0 {
		t.Fatalf("findings on a clean image: %s", dump(findings))
	}

	_, errOut, code = runTrivy(t, t.TempDir(), archive)
	if code == 0 {
		t.Fatalf("trivy scanned offline without a database:\n%s", errOut)
	}
	if !strings.Contains(strings.ToLower(string(errOut)), "db") {
		t.Errorf("trivy's error without a database does not mention it:\n%s", errOut)
	}
}

func readFileIfAny(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
