package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
)

// TestModuleShards: the sample split across two "runners" (ci --shard K/2
// --skip-deploy), then the fan-in (one plain ci on the same commit): every
// service is built exactly once, by the shard that owns it, and the fan-in
// rebuilds nothing and makes one GitOps commit for dev.
func TestModuleShards(t *testing.T) {
	r := newSlipwayRun(t)
	r.mustCall("services", "--format", "json", "--shards", "2")
	var list []plan.ServiceInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 3 {
		t.Fatalf("services --format json: %v\n%s", err, r.stdout)
	}
	owner := map[string]int{}
	for _, s := range list {
		if !s.Affected || s.InputDigest == "" || s.Shard < 1 || s.Shard > 2 {
			t.Errorf("services --format json: %+v", s)
		}
		owner[s.Name] = s.Shard
	}

	builtBy := map[string][]int{}
	for k := 1; k <= 2; k++ {
		shard := []string{"1/2", "2/2"}[k-1]
		r.mustCall("ci", "--shard", shard, "--skip-deploy")
		rep := r.lastReport()
		if !rep.OK() || len(rep.Deployments) != 0 {
			t.Fatalf("shard %s: ok=%v, deployments %+v\n%s", shard, rep.OK(), rep.Deployments, rep.Text())
		}
		for _, s := range rep.Services {
			if s.Status == report.Built {
				builtBy[s.Name] = append(builtBy[s.Name], k)
			}
			if owner[s.Name] != k {
				t.Errorf("shard %s ran %s, which shard %d owns", shard, s.Name, owner[s.Name])
			}
		}
	}
	for name, k := range owner {
		if len(builtBy[name]) != 1 || builtBy[name][0] != k {
			t.Errorf("%s was built by shards %v, want exactly once by %d", name, builtBy[name], k)
		}
	}
	if commits, _ := r.gitopsState(); commits > 1 {
		t.Errorf("the shards wrote to the GitOps repository (%d commits)", commits)
	}

	// The fan-in: nothing rebuilt, one commit for dev with every digest.
	r.mustCall("ci")
	rep := r.lastReport()
	if rep.Count(report.Built) != 0 || rep.Count(report.Reused) != 3 || !rep.OK() {
		t.Fatalf("fan-in: %d built, %d reused:\n%s", rep.Count(report.Built), rep.Count(report.Reused), rep.Text())
	}
	commits, dev := r.gitopsState()
	if commits != 2 {
		t.Errorf("GitOps repository has %d commits after the fan-in, want 2 (seed + dev)", commits)
	}
	for _, s := range rep.Services {
		if !strings.Contains(dev, s.Digest) {
			t.Errorf("dev does not pin %s at %s:\n%s", s.Name, s.Digest, dev)
		}
	}
}
