package e2e

import (
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/report"
)

// TestModuleCIWithoutADatabaseFailsTheGate: no --vuln-db, and the engine's
// containers cannot download a database. dev (auto-deployed) asks for a
// scan, as the sample's explicit failOn does: ci fails the gate before
// building, with a message saying how to supply a database, and nothing is
// published or deployed. (TestModuleRebuildsWhatAMovedBaseImageBuilds is
// the other half: dev asks for no scan, ci passes, the report says "not
// scanned".)
func TestModuleCIWithoutADatabaseFailsTheGate(t *testing.T) {
	r := newSlipwayRun(t)
	r.edit("slipway.yaml", func(s string) string {
		out := strings.Replace(s, "    autoDeploy: true          # `ci` deploys every green build here\n",
			"    autoDeploy: true          # `ci` deploys every green build here\n    policy: {failOn: CRITICAL}\n", 1)
		if out == s {
			t.Fatalf("no dev environment to give a policy:\n%s", s)
		}
		return out
	})
	r.commit("dev blocks critical findings")

	out, err := r.call("ci", "--service", "notify")
	if err == nil {
		t.Fatalf("ci passed without a vulnerability database although dev asks for a scan:\n%s", tail(out, 30))
	}
	for _, want := range []string{
		"the image cannot be scanned: no osv-scanner vulnerability database",
		"environment dev's policy blocks CRITICAL findings (policy.failOn: CRITICAL)",
		"--vuln-db DIR",
		"osv-scalibr/<Ecosystem>/all.zip",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, tail(out, 40))
		}
	}
	rep := r.lastReport()
	n := byName(rep)["notify"]
	if n.Status != report.Failed || n.Stage != "scan" || n.Digest != "" || n.UnitTests != "" {
		t.Errorf("notify: %+v (want failed at scan, before its tests ran)", n)
	}
	if len(rep.Deployments) != 0 {
		t.Errorf("deployments after a failed gate: %+v", rep.Deployments)
	}
	if tags := r.tagsOf("notify"); len(tags) != 0 {
		t.Errorf("notify has tags although it could not be scanned: %v", tags)
	}
}
