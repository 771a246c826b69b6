package promote

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/testout"
	"github.com/slipwayci/slipway/internal/vuln"
)

// env returns the fixture's configured environment, to change what it
// requires.
func (f *fixture) env(name string) *config.Environment {
	f.t.Helper()
	for i := range f.cfg.Project.Environments {
		if f.cfg.Project.Environments[i].Name == name {
			return &f.cfg.Project.Environments[i]
		}
	}
	f.t.Fatalf("no environment %s", name)
	return nil
}

var highFinding = vuln.Finding{ID: "CVE-2099-0001", Package: "stdlib", Installed: "1.22.0", Fixed: "1.22.9", Severity: vuln.High}

// withClaim is a fully signed and attested image whose attestations say
// what cl says.
func (f *fixture) withClaim(seed int64, commit string, cl claim) image {
	im := f.good(seed, commit)
	im.claim = cl
	return im
}

// TestAttestationContentRefusals: signatures and attestations that verify
// but say the image may not enter the environment. Each refusal names the
// service and the reason, and nothing is copied, tagged or committed.
func TestAttestationContentRefusals(t *testing.T) {
	type tcase struct {
		// setup publishes orders (catalog and notify are good) and
		// adjusts the fixture; it returns the target environment.
		setup func(f *fixture) (orders image, to string)
		want  string
	}
	vulnProd := func(f *fixture, maxAge time.Duration) {
		e := f.env("prod")
		e.RequireAttestations = append(e.RequireAttestations, "vuln")
		e.MaxScanAge = config.Duration(maxAge)
	}
	cases := map[string]tcase{
		"no unit tests": {func(f *fixture) (image, string) {
			s := passedSuites()
			s["unit"] = provenance.TestSuite{Status: testout.NotConfigured, Command: "go test ./...", Counts: &testout.Counts{Runner: "go test"}, Reason: "the command ran no tests (go test found none)"}
			return f.withClaim(3, c1, claim{tests: s}), "prod"
		}, "orders: test attestation says unit tests were not configured (the command ran no tests (go test found none)); prod requires passed unit tests"},
		"unit tests failed": {func(f *fixture) (image, string) {
			s := passedSuites()
			s["unit"] = provenance.TestSuite{Status: testout.Failed, Command: "go test ./...", Reason: "the command exited 1"}
			s["integration"] = provenance.TestSuite{Status: testout.Skipped, Reason: "not run: the unit tests failed"}
			return f.withClaim(3, c1, claim{tests: s}), "prod"
		}, "orders: test attestation says unit tests failed (the command exited 1); prod requires passed unit tests"},
		"declared integration tests skipped": {func(f *fixture) (image, string) {
			s := passedSuites()
			s["integration"] = provenance.TestSuite{Status: testout.Skipped, Reason: "test.skip in services/orders/service.yaml"}
			return f.withClaim(3, c1, claim{tests: s}), "prod"
		}, "test attestation says integration tests were skipped (test.skip in services/orders/service.yaml); prod requires passed integration tests (orders declares them: services/orders/service.yaml test.integration)"},
		"test results of another service": {func(f *fixture) (image, string) {
			f.env("prod").RequireAttestations = []string{"test"}
			return f.withClaim(3, c1, claim{service: "catalog"}), "prod"
		}, "orders: test attestation is about service catalog, not orders"},
		"provenance from another repository": {func(f *fixture) (image, string) {
			return f.withClaim(3, c1, claim{repository: "https://git.example.com/mallory/shop"}), "prod"
		}, "slsa attestation says the image was built from https://git.example.com/mallory/shop, not the configured source " + sourceURL},
		"provenance of another commit": {func(f *fixture) (image, string) {
			return f.withClaim(3, c1, claim{commit: c2}), "prod"
		}, "slsa attestation says the image was built from commit " + c2 + ", but its signature records " + c1},
		"provenance of a dirty tree": {func(f *fixture) (image, string) {
			return f.withClaim(3, c1, claim{dirty: true}), "prod"
		}, "orders: slsa attestation says the image was built from a tree with uncommitted changes (commit " + c1 + ", dirty); prod requires provenance of committed source"},
		"sbom of another image": {func(f *fixture) (image, string) {
			return f.withClaim(3, c1, claim{sbomDigest: "sha256:" + strings.Repeat("ab", 32)}), "prod"
		}, "sbom attestation describes sha256:abab"},
		"findings fail the target's policy": {func(f *fixture) (image, string) {
			vulnProd(f, 0)
			return f.withClaim(3, c1, claim{findings: []vuln.Finding{highFinding}}), "prod"
		}, "fails prod's policy (failOn HIGH): 1 finding(s) at or above HIGH: CVE-2099-0001"},
		"stale scan": {func(f *fixture) (image, string) {
			vulnProd(f, time.Hour)
			return f.withClaim(3, c1, claim{scanned: time.Now().Add(-3 * time.Hour)}), "prod"
		}, "older than prod's maxScanAge 1h0m0s"},
		"old test predicate without suites": {func(f *fixture) (image, string) {
			im := f.good(3, c1)
			im.attest = []string{"slsa", "sbom", "vuln"}
			return im, "prod"
		}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			im, to := tc.setup(f)
			d := map[string]string{"catalog": f.publish("catalog", f.good(1, c1)), "notify": f.publish("notify", f.good(2, c1)), "orders": f.publish("orders", im)}
			if tc.want == "" {
				// A test predicate as in-toto defines it, without
				// slipway's per-kind suites.
				old, err := provenance.TestResult(provenance.TestRun{Configuration: []provenance.ResourceDescriptor{{Name: "unit"}}, Passed: []string{"unit", "integration"}, Service: "orders"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.signer.Attest(context.Background(), f.repoOf("orders")+"@"+d["orders"], AttestationPredicates["test"][0], old); err != nil {
					t.Fatal(err)
				}
				tc.want = "orders: test attestation records no per-kind results"
			}
			f.deploy("dev", c1, d)
			o := f.options("dev", to)
			other := registrytest.Count(registrytest.Handler())
			otherHost := registrytest.Serve(t, other)
			if len(name)%2 == 0 {
				o.TargetRegistry = otherHost
			}
			snap, commits := f.snapshot(otherHost), f.commits()
			f.counter.Reset()
			rep, err := Run(context.Background(), o)
			if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrAttestation) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %v saying %q", err, ErrAttestation, tc.want)
			}
			if s := status(rep, "orders"); s.Status != report.Refused || s.Stage != "attest" {
				t.Errorf("orders = %+v", s)
			}
			if w := writes(f.counter) + writes(other); w != 0 {
				t.Errorf("%d write requests reached a registry", w)
			}
			if f.snapshot(otherHost) != snap || f.commits() != commits {
				t.Error("a refused promotion changed the registry or the GitOps repository")
			}
		})
	}
}

// TestVulnAttestationJudged: the attested scan passes when its findings
// pass the target's policy and it is recent enough; a re-scan, when one
// runs, decides instead of the attested findings and their age.
func TestVulnAttestationJudged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e := f.env("staging")
	e.RequireAttestations = []string{"vuln"}
	e.MaxScanAge = config.Duration(time.Hour)
	medium := vuln.Finding{ID: "CVE-2099-0002", Package: "libfoo", Installed: "1.0", Severity: vuln.Medium}
	d := map[string]string{
		"catalog": f.publish("catalog", f.withClaim(1, c1, claim{findings: []vuln.Finding{medium}})),
		"notify":  f.publish("notify", f.good(2, c1)),
		"orders":  f.publish("orders", f.withClaim(3, c1, claim{findings: []vuln.Finding{highFinding}, scanned: time.Now().Add(-2 * time.Hour)})),
	}
	f.deploy("dev", c1, d)
	rep, err := Run(ctx, f.options("dev", "staging", "catalog", "notify"))
	if err != nil || rep.Count(report.Promoted) != 2 {
		t.Fatalf("catalog (a MEDIUM finding under failOn HIGH) and notify: %+v, %v", rep, err)
	}
	if c := status(rep, "catalog"); c.Vulnerabilities["MEDIUM"] != 1 || strings.Join(c.Attestations, ",") != "vuln" {
		t.Errorf("catalog's entry does not show the re-judged findings: %+v", c)
	}
	// orders' scan is 2h old and has a HIGH finding: refused without a
	// re-scan, promoted when a fresh re-scan passes.
	if _, err := Run(ctx, f.options("dev", "staging", "orders")); !errors.Is(err, ErrAttestation) || !strings.Contains(err.Error(), "maxScanAge") {
		t.Fatalf("stale orders scan: %v", err)
	}
	o := f.options("dev", "staging", "orders")
	o.Scanner = &scanner{}
	if rep, err := Run(ctx, o); err != nil || rep.Count(report.Promoted) != 1 {
		t.Fatalf("orders with a passing re-scan: %+v, %v", rep, err)
	}
}

// TestAnotherServicesImageRefused: orders' image, validly signed and
// attested as orders, placed in catalog's overlay. The signature check
// refuses it; and where only attestations are required, each kind's signed
// content names orders, so each refuses it too.
func TestAnotherServicesImageRefused(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"signature", "slsa", "sbom", "vuln", "test"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			orders := f.publish("orders", f.good(3, c1))
			e := f.env("prod")
			want := map[string]string{
				"signature": `dev.slipway.service is "orders", want "catalog"`,
				"slsa":      "slsa attestation says the image was built for service orders, not catalog",
				"sbom":      "sbom attestation describes image orders, not catalog's image catalog",
				"vuln":      "vuln attestation is a scan of service orders, not catalog",
				"test":      "test attestation is about service orders, not catalog",
			}[kind]
			if kind != "signature" {
				e.RequireSignature, e.RequireAttestations = false, []string{kind}
			}
			// deploy as ci would, but with orders' image for catalog.
			ro := f.rollbackOptions("dev", "catalog", f.repoOf("orders")+"@"+orders)
			ro.TargetRegistry = f.host
			if _, err := Rollback(ctx, ro); err != nil {
				t.Fatal(err)
			}
			if cur := f.imageIn("dev", "catalog"); cur.Image.Digest != orders {
				t.Fatalf("set-up: dev runs catalog at %+v", cur.Image)
			}
			if _, err := Unpin(ctx, f.stateOptions(""), "dev", "catalog"); err != nil {
				t.Fatal(err)
			}
			snap, commits := f.snapshot(), f.commits()
			_, err := Run(ctx, f.options("dev", "prod", "catalog"))
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "catalog: ") || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if f.snapshot() != snap || f.commits() != commits {
				t.Error("a refused promotion wrote")
			}
			// A rollback of prod's catalog to that digest is refused the
			// same way.
			_, err = Rollback(ctx, f.rollbackOptions("prod", "catalog", f.repoOf("catalog")+"@"+orders))
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
				t.Fatalf("rollback: err = %v, want %q", err, want)
			}
			if f.snapshot() != snap || f.commits() != commits {
				t.Error("a refused rollback wrote")
			}
		})
	}
}
