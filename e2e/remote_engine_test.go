package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/report"
)

// TestSharedRemoteEngine: a client that reaches the engine over TCP, as CI
// runners reach a shared engine (docs/scaling.md), runs ci like a local one.
// The harness exposes its engine on loopback TCP when SLIPWAY_ENGINE_TCP is
// set (make test sets it); the test skips otherwise.
func TestSharedRemoteEngine(t *testing.T) {
	daggerCLI(t)
	host := os.Getenv("SLIPWAY_ENGINE_TCP_HOST")
	if host == "" {
		t.Skip("the engine is not exposed on TCP (hack/engine.sh up with SLIPWAY_ENGINE_TCP=127.0.0.1:PORT)")
	}
	if !strings.HasPrefix(host, "tcp://127.") {
		t.Fatalf("SLIPWAY_ENGINE_TCP_HOST=%s: want a loopback tcp:// address", host)
	}
	r := newSlipwayRun(t)
	// Every call of this test goes through TCP only.
	t.Setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", host)
	out := r.mustCall("ci", "--service", "orders")
	rep := r.lastReport()
	orders := byName(rep)["orders"]
	if !rep.OK() || orders.Digest == "" || (orders.Status != report.Built && orders.Status != report.Reused) {
		t.Fatalf("ci over %s:\n%s\n%s", host, rep.Text(), tail(out, 30))
	}
	if commits, dev := r.gitopsState(); commits != 2 || !strings.Contains(dev, orders.Digest) {
		t.Errorf("GitOps after ci over TCP: %d commits, dev:\n%s", commits, dev)
	}
}
