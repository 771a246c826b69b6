package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil"
)

// BenchmarkFreshEngine measures what an ephemeral CI runner pays: `ci` on
// an engine whose state is gone (no module, worker, layer or cache volume
// left; the base images still in the mirror) against images that already
// sit in an external registry, next to the same runs on a warm engine:
//
//   - nothing changed since the images were published;
//   - one service changed;
//
// each with the prebuilt worker (--worker-image, as released workers are
// pulled) and compiled from source (--worker-from-source). Module load is
// timed on its own (`dagger functions`). Figures are printed, never
// asserted. It restarts the harness engine: run it alone (hack/bench.sh).
//
//	SLIPWAY_E2E=1 go test -run '^$' -bench BenchmarkFreshEngine -benchtime 1x -timeout 90m ./e2e/
func BenchmarkFreshEngine(b *testing.B) {
	if os.Getenv("SLIPWAY_ENGINE") != "harness" || os.Getuid() != 0 {
		b.Skip("restarts the harness engine: needs SLIPWAY_ENGINE=harness (hack/engine.sh env) and root")
	}
	worker := os.Getenv("SLIPWAY_WORKER_IMAGE")
	if worker == "" {
		b.Skip("no prebuilt worker (hack/worker.sh publishes one; hack/bench.sh sets SLIPWAY_WORKER_IMAGE)")
	}
	for i := 0; i < b.N; i++ {
		r := newSlipwayRun(b)
		stamp := time.Now().UnixNano()
		password, token := fmt.Sprintf("regpw-%x", stamp), fmt.Sprintf("gitops-token-%x", stamp)
		b.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
		b.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
		ip := bridgeAddr(b)
		reg := newCompanyRegistry(b, ip, registryUser, password, 0)
		git := newGitServer(b, ip, token, filepath.Join(r.fixture, "deploy"))
		r.useCompanyServers(reg, git)
		cli := r.cli

		timed := func(what string, args ...string) time.Duration {
			b.Helper()
			t0 := time.Now()
			out, err := r.call(args...)
			d := time.Since(t0)
			if err != nil {
				b.Fatalf("%s: %v\n%s", what, err, tail(out, 40))
			}
			b.Logf("%-62s %6.1f s", what, d.Seconds())
			return d
		}
		moduleLoad := func(what string) {
			b.Helper()
			t0 := time.Now()
			cmd := exec.Command(cli, "functions", "-m", r.module)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("dagger functions: %v\n%s", err, tail(string(out), 20))
			}
			b.Logf("%-62s %6.1f s", what, time.Since(t0).Seconds())
		}
		change := func(n int) {
			r.edit("services/catalog/catalog/app.py", func(s string) string { return s + fmt.Sprintf("# bench change %d\n", n) })
			r.commit(fmt.Sprintf("bench: catalog changes (%d)", n))
		}
		ci := func(what string, extra ...string) {
			timed(what, append(append(secretArgs(), extra...), "ci")...)
		}

		// Publish everything once, then the warm figures.
		ci("setup: first ci (publishes every image)")
		moduleLoad("warm engine: module load (dagger functions)")
		ci("warm engine: ci, nothing changed")
		change(1)
		ci("warm engine: ci, one service changed")

		// On a fresh engine each run is split into its parts: listing the
		// module's functions (the SDK type-checks the module), the first
		// function call (the SDK compiles the module to run it, then the
		// worker is pulled prebuilt or compiled: `worker sync`), and the rest
		// of ci (plan, registry state, reuse checks, builds, tests,
		// publishing, GitOps).
		fresh := func(what string, mode []string, changed int) {
			freshEngine(b)
			t0 := time.Now()
			moduleLoad("fresh engine: module load (dagger functions)")
			timed("fresh engine, "+what+": first call (module compiled, worker prepared)", append(append([]string{}, mode...), "worker", "sync")...)
			if changed > 0 {
				change(changed)
			}
			ci("fresh engine, "+what+": ci after that", mode...)
			b.Logf("%-62s %6.1f s", "fresh engine, "+what+": total", time.Since(t0).Seconds())
		}
		n := 2
		for _, mode := range []struct {
			name string
			args []string
		}{{"prebuilt worker", []string{"--worker-image", worker}}, {"worker compiled from source", []string{"--worker-from-source"}}} {
			fresh(mode.name+", nothing changed", mode.args, 0)
			fresh(mode.name+", one service changed", mode.args, n)
			n++
		}

		// A remote engine cache (docs/scaling.md): one run exports every
		// cache record of its session into a registry (mode=max), as the
		// CI workflow does on main; fresh engines import it.
		if local := os.Getenv("SLIPWAY_LOCAL_REGISTRY"); local != "" {
			ref := fmt.Sprintf("%s/slipway-bench-cache:%x", local, stamp)
			prebuilt := []string{"--worker-image", worker}
			b.Setenv("_EXPERIMENTAL_DAGGER_CACHE_EXPORT_CONFIG", "type=registry,ref="+ref+",mode=max")
			ci("engine cache: ci exporting it (mode=max)", prebuilt...)
			os.Unsetenv("_EXPERIMENTAL_DAGGER_CACHE_EXPORT_CONFIG")
			b.Setenv("_EXPERIMENTAL_DAGGER_CACHE_IMPORT_CONFIG", "type=registry,ref="+ref)
			fresh("prebuilt worker, engine cache imported, nothing changed", prebuilt, 0)
			fresh("prebuilt worker, engine cache imported, one service changed", prebuilt, n)
			os.Unsetenv("_EXPERIMENTAL_DAGGER_CACHE_IMPORT_CONFIG")
		}
	}
}

// freshEngine stops the harness engine, removes its state (every cache,
// volume and layer) and starts it again; the local registry and its base
// images stay, as a registry outside the runner would.
func freshEngine(b *testing.B) {
	b.Helper()
	root := testutil.RepoRoot(b)
	state := os.Getenv("SLIPWAY_ENGINE_STATE")
	if state == "" {
		state = "/var/lib/slipway-engine"
	}
	run := func(args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "SLIPWAY_ENGINE_LOCKED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 30))
		}
	}
	t0 := time.Now()
	run("./hack/engine.sh", "down")
	if err := os.RemoveAll(filepath.Join(state, "engine")); err != nil {
		b.Fatal(err)
	}
	run("./hack/engine.sh", "up")
	b.Logf("%-62s %6.1f s", "(engine state removed, engine restarted)", time.Since(t0).Seconds())
}
