package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/wire"
)

// scanRepo writes a repository with one service and three environments:
// dev fails at CRITICAL, staging at HIGH for fixable findings, prod at HIGH
// and strictly.
func scanRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{
		"slipway.yaml": `version: 1
name: shop
scan: {scanner: osv-scanner}
environments:
  - {name: dev, autoDeploy: true, policy: {failOn: CRITICAL}}
  - {name: staging, policy: {failOn: HIGH, fixableOnly: true}}
  - {name: prod, policy: {failOn: HIGH, strict: true}}
`,
		"services/api/Dockerfile": "FROM scratch\n",
		"services/api/go.mod":     "module api\n",
	}
	for k, v := range files {
		all[k] = v
	}
	for name, body := range all {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixture is a scanner report from internal/vuln's testdata (the real
// osv-scanner's output on the seeded image, or the hand-written Trivy one).
func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "internal", "vuln", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

type decisionJSON struct {
	Service     string         `json:"service"`
	Environment string         `json:"environment"`
	Scanner     string         `json:"scanner"`
	Pass        bool           `json:"pass"`
	Counts      map[string]int `json:"counts"`
	Total       int            `json:"total"`
	BlockedIDs  []string       `json:"blockedIds"`
	Blocked     []struct {
		ID string `json:"id"`
	} `json:"blocked"`
	Ignored []struct {
		Finding struct{ ID string }   `json:"finding"`
		Entry   struct{ File string } `json:"entry"`
	} `json:"ignored"`
	Expired  []struct{ ID string }       `json:"expired"`
	Stale    []struct{ ID, File string } `json:"stale"`
	Reasons  []string                    `json:"reasons"`
	Findings []struct{ ID string }       `json:"findings"`
	Summary  string                      `json:"summary"`
}

func scanReport(t *testing.T, dir, env string, extra ...string) (code int, d *decisionJSON, stderr string) {
	t.Helper()
	out := filepath.Join(dir, "decision.json")
	args := append([]string{"scan-report", "--report", fixture(t, "osv-scanner-image.json"), "--env", env, "--service", "api",
		"--source", dir, "--out", out, "--now", "2099-01-10T12:00:00Z"}, extra...)
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	b, err := os.ReadFile(out)
	if err == nil {
		d = &decisionJSON{}
		if err := json.Unmarshal(b, d); err != nil {
			t.Fatalf("decision is not JSON: %v\n%s", err, b)
		}
	}
	return code, d, e.String()
}

func TestScanReportGate(t *testing.T) {
	dir := scanRepo(t, nil)

	code, d, stderr := scanReport(t, dir, "prod")
	if code != 1 || d == nil || d.Pass {
		t.Fatalf("prod: exit %d, decision %+v\n%s", code, d, stderr)
	}
	if strings.Join(d.BlockedIDs, ",") != "CVE-2099-1001,CVE-2099-2001" || d.Total != 4 || len(d.Findings) != 4 ||
		d.Counts["CRITICAL"] != 1 || d.Counts["HIGH"] != 1 || d.Counts["MEDIUM"] != 1 || d.Counts["UNKNOWN"] != 1 ||
		d.Service != "api" || d.Environment != "prod" || d.Scanner != "osv-scanner" {
		t.Errorf("prod decision %+v", d)
	}
	for _, want := range []string{
		"vulnerability gate FAIL: api in prod (failOn HIGH, strict): 1 CRITICAL, 1 HIGH, 1 MEDIUM, 1 UNKNOWN",
		"blocked: CRITICAL CVE-2099-1001 in zlib 1:1.2.13.dfsg-1 (fixed in 1:1.2.13.dfsg-1+deb12u1) at /var/lib/dpkg/status",
		"slipway scan-report: vulnerability gate failed for service api in environment prod: 2 finding(s) at or above HIGH: CVE-2099-1001, CVE-2099-2001",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}

	// dev blocks only the CRITICAL one.
	if code, d, _ := scanReport(t, dir, "dev"); code != 1 || strings.Join(d.BlockedIDs, ",") != "CVE-2099-1001" {
		t.Errorf("dev: exit %d, blocked %v", code, d.BlockedIDs)
	}
	// The Trivy report of the same image, chosen on the command line.
	code, d, stderr = scanReport(t, dir, "dev", "--scanner", "trivy", "--report", fixture(t, "trivy-image.json"))
	if code != 1 || d.Scanner != "trivy" || strings.Join(d.BlockedIDs, ",") != "CVE-2099-1001" {
		t.Errorf("dev with trivy: exit %d, %+v\n%s", code, d, stderr)
	}
}

func TestScanReportIgnores(t *testing.T) {
	repoWide := `ignores:
  - id: CVE-2099-1001
    reason: inflate only sees our own archives
    expires: 2099-01-31
`
	apiOwn := `ignores:
  - id: GO-2099-0001
    reason: behind the normalising proxy
    expires: 2099-01-15
    package: stdlib
`
	dir := scanRepo(t, map[string]string{".slipway/vuln-ignore.yaml": repoWide, "services/api/vuln-ignore.yaml": apiOwn})

	// Unexpired entries (one repository-wide, one the service's own) let
	// prod pass.
	code, d, stderr := scanReport(t, dir, "prod")
	if code != 0 || !d.Pass || len(d.Ignored) != 2 || len(d.BlockedIDs) != 0 {
		t.Fatalf("prod with ignores: exit %d %+v\n%s", code, d, stderr)
	}
	if d.Ignored[0].Entry.File != ".slipway/vuln-ignore.yaml" || d.Ignored[1].Entry.File != "services/api/vuln-ignore.yaml" {
		t.Errorf("ignored %+v", d.Ignored)
	}
	if !strings.Contains(stderr, "vulnerability gate PASS: api in prod") || !strings.Contains(stderr, "ignored: HIGH CVE-2099-2001 in stdlib until 2099-01-15 (services/api/vuln-ignore.yaml:2: behind the normalising proxy)") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// After the service's entry expires, prod fails again and says so.
	code, d, stderr = scanReport(t, dir, "prod", "--now", "2099-01-16T00:00:00Z")
	if code != 1 || strings.Join(d.BlockedIDs, ",") != "CVE-2099-2001" || len(d.Expired) != 1 || d.Expired[0].ID != "GO-2099-0001" {
		t.Fatalf("after expiry: exit %d %+v", code, d)
	}
	if !strings.Contains(stderr, "expired ignore: GO-2099-0001 at services/api/vuln-ignore.yaml:2 expired after 2099-01-15") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestScanReportStaleIgnores(t *testing.T) {
	stale := `ignores:
  - {id: CVE-2099-1001, reason: accepted, expires: 2099-01-31}
  - {id: CVE-2099-2001, reason: accepted, expires: 2099-01-31}
  - {id: CVE-2020-0001, reason: fixed long ago, expires: 2099-01-31}
`
	dir := scanRepo(t, map[string]string{".slipway/vuln-ignore.yaml": stale})
	// staging is not strict: reported, passes.
	code, d, stderr := scanReport(t, dir, "staging")
	if code != 0 || !d.Pass || len(d.Stale) != 1 || d.Stale[0].ID != "CVE-2020-0001" {
		t.Fatalf("staging: exit %d %+v\n%s", code, d, stderr)
	}
	if !strings.Contains(stderr, "stale ignore: CVE-2020-0001 at .slipway/vuln-ignore.yaml:4 matches no finding") {
		t.Errorf("stderr:\n%s", stderr)
	}
	// prod is strict: the stale entry fails the gate, naming it.
	code, d, stderr = scanReport(t, dir, "prod")
	if code != 1 || d.Pass || len(d.BlockedIDs) != 0 {
		t.Fatalf("prod: exit %d %+v", code, d)
	}
	if !strings.Contains(stderr, "vulnerability gate failed for service api in environment prod: stale ignore entry CVE-2020-0001 at .slipway/vuln-ignore.yaml:4 matches no finding") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestScanReportErrors(t *testing.T) {
	bad := "ignores:\n  - id: CVE-2099-1001\n    reason: r\n    expires: soon\n"
	dir := scanRepo(t, map[string]string{"services/api/vuln-ignore.yaml": bad})
	out := filepath.Join(dir, "decision.json")
	if err := os.WriteFile(out, []byte(`{"pass": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, d, stderr := scanReport(t, dir, "prod")
	if code != 1 || d != nil {
		t.Fatalf("bad ignore file: exit %d, decision %+v (a stale decision file must not survive)", code, d)
	}
	if !strings.Contains(stderr, `services/api/vuln-ignore.yaml:4: ignores[0].expires: "soon" is not a date written YYYY-MM-DD`) {
		t.Errorf("stderr:\n%s", stderr)
	}

	dir = scanRepo(t, nil)
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"unknown env":            {[]string{"--env", "qa"}, 1, `unknown environment "qa" (declared: dev, staging, prod)`},
		"wrong scanner":          {[]string{"--scanner", "trivy"}, 1, "looks like an osv-scanner report, not trivy's"},
		"unknown scanner":        {[]string{"--scanner", "grype"}, 1, `unknown scanner "grype"`},
		"absent report":          {[]string{"--report", filepath.Join(dir, "none.json")}, 1, "reading the osv-scanner report"},
		"bad now":                {[]string{"--now", "tomorrow"}, 2, `-now "tomorrow" is not an RFC 3339 time`},
		"predicate sans version": {[]string{"--predicate-out", filepath.Join(dir, "p.json")}, 2, "-predicate-out needs -scanner-version"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := scanReport(t, dir, "prod", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant %q", code, tc.code, stderr, tc.want)
			}
		})
	}
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"scan-report", "--env", "prod"}, &o, &e); code != 2 {
		t.Errorf("missing flags: exit %d", code)
	}
}

func TestScanReportWritesTheVulnPredicate(t *testing.T) {
	dir := scanRepo(t, nil)
	pred := filepath.Join(dir, "vuln.json")
	code, _, stderr := scanReport(t, dir, "dev", "--predicate-out", pred, "--scanner-version", "2.5.0",
		"--started", "2099-01-10T11:59:00Z", "--finished", "2099-01-10T11:59:02Z", "--db-uri", "file:///cache/osv", "--db-version", "2099-01-09")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(pred)
	if err != nil {
		t.Fatal(err)
	}
	if err := provenance.Check("vuln", b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var p struct {
		Scanner struct {
			URI, Version string
			Result       decisionJSON `json:"result"`
		} `json:"scanner"`
		Metadata struct{ ScanStartedOn string } `json:"metadata"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Scanner.URI != "pkg:golang/github.com/google/osv-scanner/v2@v2.5.0" || p.Scanner.Version != "2.5.0" ||
		p.Scanner.Result.Pass || strings.Join(p.Scanner.Result.BlockedIDs, ",") != "CVE-2099-1001" || len(p.Scanner.Result.Findings) != 4 ||
		p.Scanner.Result.Summary != "" || p.Metadata.ScanStartedOn != "2099-01-10T11:59:00Z" {
		t.Errorf("predicate %s", b)
	}
}

func TestScanArchive(t *testing.T) {
	dir := t.TempDir()
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 3})
	in := filepath.Join(dir, "image.tar")
	registrytest.WriteOCITarball(t, in, img)
	out := filepath.Join(dir, "docker.tar")
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"scan-archive", "--in", in, "--out", out}, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	var res struct{ Digest, Archive string }
	if err := json.Unmarshal(o.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, o.String())
	}
	want, _ := img.Digest()
	if res.Digest != want.String() || res.Archive != out {
		t.Errorf("result %+v, want digest %s", res, want)
	}
	if _, err := tarball.ImageFromPath(out, nil); err != nil {
		t.Errorf("not a docker archive: %v", err)
	}
	o.Reset()
	e.Reset()
	if code := run(context.Background(), []string{"scan-archive", "--in", filepath.Join(dir, "none.tar"), "--out", out + "2"}, &o, &e); code != 1 || !strings.Contains(e.String(), "opening the image archive") {
		t.Errorf("absent input: exit %d: %s", code, e.String())
	}
	if code := run(context.Background(), []string{"scan-archive", "--in", in}, &o, &e); code != 2 {
		t.Errorf("missing -out: exit %d", code)
	}
}

// The module reads scan-report's decision as wire.ScanVerdict: every field
// it acts on must come through from what the worker really writes.
func TestScanDecisionCarriesTheModulesVerdict(t *testing.T) {
	stale := `ignores:
  - {id: CVE-2020-0001, reason: fixed long ago, expires: 2099-01-31}
`
	dir := scanRepo(t, map[string]string{".slipway/vuln-ignore.yaml": stale})
	code, full, _ := scanReport(t, dir, "prod")
	if code != 1 || full == nil {
		t.Fatalf("prod: exit %d, decision %+v", code, full)
	}
	b, err := os.ReadFile(filepath.Join(dir, "decision.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v wire.ScanVerdict
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Pass || v.Summary == "" || v.Summary != full.Summary ||
		strings.Join(v.BlockedIDs, ",") != strings.Join(full.BlockedIDs, ",") || len(v.BlockedIDs) == 0 ||
		len(v.Counts) == 0 || v.Counts["CRITICAL"] != full.Counts["CRITICAL"] || v.Counts["UNKNOWN"] != full.Counts["UNKNOWN"] {
		t.Errorf("verdict %+v does not match the decision %+v", v, full)
	}
	if len(v.Stale) != 1 || v.Stale[0].ID != "CVE-2020-0001" || v.Stale[0].File != ".slipway/vuln-ignore.yaml" || v.Stale[0].Line != 2 {
		t.Errorf("stale entries %+v: want CVE-2020-0001 at .slipway/vuln-ignore.yaml:2", v.Stale)
	}
}
