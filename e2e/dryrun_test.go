package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestModuleDryRun: `ci --dry-run` with a real registry and GitOps
// repository configured runs the whole chain (tests, builds, smoke tests,
// signing) against the embedded registry and writes nothing anywhere that
// lasts: the company registry gets no request, the GitOps repository keeps
// its commits and branches. The diff it prints names the images as a real
// run would write them (the company registry, the digest to deploy), and
// the report says it was a dry run.
func TestModuleDryRun(t *testing.T) {
	ip := bridgeAddr(t)
	password := fmt.Sprintf("dry-run-pw-%x", time.Now().UnixNano())
	token := fmt.Sprintf("dry-run-token-%x", time.Now().UnixNano())
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
	r := newSlipwayRun(t)
	reg := newCompanyRegistry(t, ip, registryUser, password, 0)
	git := newGitServer(t, ip, token, r.fixture+"/deploy")
	r.useCompanyServers(reg, git)
	r.moduleArgs = append(secretArgs(), "--in-ci=true")
	commits := git.commits(t)
	refs := gitIn(t, git.bare, "for-each-ref")

	out := r.mustCall("ci", "--dry-run", "--service", "orders")
	rep := r.lastReport()
	orders := byName(rep)["orders"]
	if !rep.DryRun || orders.Digest == "" || len(rep.Deployments) != 1 {
		t.Fatalf("report: dry run %v, orders %+v, deployments %+v", rep.DryRun, orders, rep.Deployments)
	}
	want := reg.host + "/" + r.project + "/orders"
	if d := rep.Deployments[0].Diff; !strings.Contains(d, want) || !strings.Contains(d, orders.Digest) || strings.Contains(d, "registry:5000") {
		t.Errorf("the diff does not name %s at %s:\n%s", want, orders.Digest, d)
	}
	if !strings.Contains(out, want) || !strings.Contains(out, "dry run") {
		t.Errorf("the output does not show the diff or say dry run:\n%s", tail(out, 40))
	}
	if st := reg.counter.Stats(); st.Requests != 0 {
		t.Errorf("the company registry saw %d requests (%d upload bytes) during a dry run", st.Requests, st.UploadBytes)
	}
	if got := git.commits(t); !slices.Equal(got, commits) || gitIn(t, git.bare, "for-each-ref") != refs {
		t.Errorf("the GitOps repository changed during a dry run: %v", got)
	}
}
