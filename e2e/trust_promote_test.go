package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/vuln/vulntest"
)

// trustEnvironments replaces the sample's environments: staging requires
// every attestation kind under failOn HIGH, prod the scan at most a second
// old.
const trustEnvironments = `environments:
  - name: dev
    autoDeploy: true
    policy: {failOn: CRITICAL}
  - name: staging
    requireSignature: true
    requireAttestations: [slsa, sbom, test, vuln]
    policy: {failOn: HIGH}
  - name: prod
    requireSignature: true
    requireAttestations: [slsa, sbom, vuln]
    maxScanAge: 1s
    policy: {failOn: CRITICAL}
`

// TestPromotionReadsAttestations runs ci once through the real engine, on a
// fixture where catalog has no unit tests and the vulnerability database
// gives every Go standard library a HIGH finding, then drives promotions
// that verify signatures and attestations and read what they say:
//
//   - catalog's test attestation says its unit tests were not configured:
//     refused where test is required;
//   - orders' attested scan fails staging's failOn HIGH (no re-scan runs,
//     so the attested findings are re-judged under staging's policy);
//   - notify's attested scan is older than prod's maxScanAge;
//   - orders' signed digest placed in catalog's overlay is refused as
//     catalog;
//
// each refusal leaving the GitOps repository and the registry's tags as
// they were; notify, whose attestations say what staging needs, is
// promoted.
func TestPromotionReadsAttestations(t *testing.T) {
	r := newSlipwayRun(t)
	r.edit("slipway.yaml", func(s string) string {
		i := strings.Index(s, "environments:\n")
		j := strings.Index(s, "\nimages:")
		if i < 0 || j < i {
			t.Fatalf("slipway.yaml has no environments block to replace:\n%s", s)
		}
		return s[:i] + trustEnvironments + s[j:]
	})
	if err := os.Remove(filepath.Join(r.fixture, "services/catalog/tests/test_app.py")); err != nil {
		t.Fatal(err)
	}
	r.commit("catalog without unit tests; staging and prod read the attestations")

	db := t.TempDir()
	if err := vulntest.WriteOSVDB(db, map[string][]vulntest.Record{"Go": {{
		SchemaVersion: "1.6.0", ID: "GO-2099-0303", Modified: "2099-01-02T00:00:00Z", Aliases: []string{"CVE-2099-0303"},
		Summary:          "net/http: a high flaw every Go release has (test record)",
		DatabaseSpecific: map[string]any{"severity": "HIGH"},
		Affected:         []vulntest.Affected{vulntest.NewAffected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": "99.0.0"})},
	}}}); err != nil {
		t.Fatal(err)
	}
	r.mustCall("--vuln-db", db, "ci")
	built := byName(r.lastReport())
	for _, s := range []string{"catalog", "notify", "orders"} {
		if built[s].Status != report.Built || built[s].Digest == "" {
			t.Fatalf("ci did not publish %s: %+v", s, built[s])
		}
	}
	if c := built["catalog"]; c.UnitTests != "not configured" || c.IntegrationTests != "passed" {
		t.Errorf("catalog's tests in the ci report: unit %q, integration %q; want not configured, passed", c.UnitTests, c.IntegrationTests)
	}
	if o := built["orders"]; o.UnitTests != "passed" || o.Vulnerabilities["HIGH"] != 1 {
		t.Errorf("orders in the ci report: %+v", o)
	}

	// state is what a refusal must leave alone: the GitOps repository
	// (its history and every file) and every tag of the registry with the
	// digest it names.
	state := func() string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "gitops")
		r.mustCall("gitops", "export", "--path", dir)
		var b strings.Builder
		for _, args := range [][]string{{"log", "--format=%H %s"}, {"ls-files", "-s"}} {
			cmd := exec.Command("git", args...)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("git %v: %v", args, err)
			}
			b.Write(out)
		}
		r.mustCall("images", "--format", "json")
		var repos []struct {
			Repository string
			Tags       []struct{ Tag, Digest string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil {
			t.Fatalf("images JSON: %v\n%s", err, r.stdout)
		}
		for _, repo := range repos {
			for _, tg := range repo.Tags {
				fmt.Fprintf(&b, "%s:%s %s\n", repo.Repository, tg.Tag, tg.Digest)
			}
		}
		return b.String()
	}
	refused := func(what string, want *regexp.Regexp, args ...string) {
		t.Helper()
		before := state()
		out, err := r.call(args...)
		if err == nil || !want.MatchString(out) {
			t.Fatalf("%s was not refused as expected (err=%v, want %q):\n%s", what, err, want, tail(out, 40))
		}
		t.Logf("%s refused: %s", what, want.FindString(out))
		if after := state(); after != before {
			t.Fatalf("%s was refused but changed the GitOps repository or the registry's tags:\nbefore:\n%s\nafter:\n%s", what, before, after)
		}
	}

	// (i) No unit tests: the test attestation says so, and staging
	// requires passed unit tests.
	refused("catalog into staging", regexp.MustCompile(`catalog: test attestation says unit tests were not configured \(the command ran no tests \(unittest found none\)\); staging requires passed unit tests`),
		"promote", "--from", "dev", "--to", "staging", "--service", "catalog")
	// (ii) The attested scan's HIGH finding fails staging's policy.
	refused("orders into staging", regexp.MustCompile(`orders: vuln attestation's scan \(finished [^)]+\) fails staging's policy \(failOn HIGH\): 1 finding\(s\) at or above HIGH: [A-Z]+-2099-0303`),
		"promote", "--from", "dev", "--to", "staging", "--service", "orders")
	// (iii) notify's scan is older than prod's maxScanAge of one second.
	refused("notify into prod", regexp.MustCompile(`notify: vuln attestation's scan finished \S+, \S+ ago: older than prod's maxScanAge 1s`),
		"promote", "--from", "dev", "--to", "prod", "--service", "notify")

	// (iv) orders' signed image, copied with its signature and
	// attestations into catalog's repository and written into dev as
	// catalog (dev checks nothing), is refused as catalog.
	r.mustCall("rollback", "--env", "dev", "--service", "catalog", "--to", built["orders"].Repository+"@"+built["orders"].Digest, "--reason", "e2e: orders' image as catalog", "--by", "e2e")
	if _, dev := r.overlay("dev"); !strings.Contains(dev, built["orders"].Digest) {
		t.Fatalf("set-up: dev does not run orders' digest as catalog:\n%s", dev)
	}
	asCatalog := regexp.MustCompile(`catalog: image cannot be verified: staging requires a valid signature by an accepted signer \(the project's key, or signedBy / signing.identities\) for service catalog: .*dev.slipway.service is .?"?orders`)
	refused("orders' image as catalog into staging", asCatalog,
		"promote", "--from", "dev", "--to", "staging", "--service", "catalog")
	refused("rollback of staging's catalog to orders' image", asCatalog,
		"rollback", "--env", "staging", "--service", "catalog", "--to", built["catalog"].Repository+"@"+built["orders"].Digest, "--by", "e2e")

	// notify's attestations say what staging needs: promoted.
	r.mustCall("promote", "--from", "dev", "--to", "staging", "--service", "notify")
	if _, staging := r.overlay("staging"); !strings.Contains(staging, built["notify"].Digest) {
		t.Fatalf("staging does not run notify %s:\n%s", built["notify"].Digest, staging)
	}
	if n := byName(r.lastReportOf(report.Promote))["notify"]; n.Status != report.Promoted || strings.Join(n.Attestations, ",") != "slsa,sbom,test,vuln" {
		t.Errorf("notify's promotion: %+v", n)
	}
}
