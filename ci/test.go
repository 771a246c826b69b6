package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/testout"
)

// testResult is the outcome of one service's tests.
type testResult struct {
	unit, integration string // passed, failed, not configured, skipped
	err               error  // names the failed tests
	// stage is where the tests stopped: "dependencies" when the
	// dependency step failed, else "test".
	stage   string
	elapsed time.Duration
	output  string // everything the test commands printed
	// suites are what the test-result attestation records per kind.
	suites map[string]provenance.TestSuite
}

// set records the outcome of one kind of test.
func (r *testResult) set(kind string, s provenance.TestSuite) {
	if r.suites == nil {
		r.suites = map[string]provenance.TestSuite{}
	}
	r.suites[kind] = s
	switch kind {
	case "unit":
		r.unit = s.Status
	case "integration":
		r.integration = s.Status
	}
}

// Test runs the unit tests, then the integration tests with their declared
// dependencies (e.g. Postgres) bound as services, of every service or of
// the given ones. Unlike ci, it always runs them, changed or not.
func (m *Slipway) Test(
	ctx context.Context,
	// Only these services (default: all).
	// +optional
	service []string,
	// Print the test commands' whole output, not just the summary.
	// +optional
	showOutput bool,
) (string, error) {
	p, err := m.configPlan(ctx, service...)
	if err != nil {
		return "", err
	}
	results := map[string]testResult{}
	var names []string
	for _, s := range p.Services {
		if s.Selected {
			names = append(names, s.Name)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.Project.Parallelism)
	var mu sync.Mutex
	for _, s := range p.Services {
		if !s.Selected {
			continue
		}
		g.Go(func() error {
			r := m.testService(gctx, p, s)
			mu.Lock()
			results[s.Name] = r
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	sort.Strings(names)
	var b strings.Builder
	var failed []string
	for _, n := range names {
		r := results[n]
		fmt.Fprintf(&b, "%-12s unit %-8s integration %-8s %s\n", n, r.unit, r.integration, r.elapsed.Round(100*time.Millisecond))
		if showOutput && r.output != "" {
			fmt.Fprintf(&b, "%s\n", report.Indent(r.output))
		}
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("service %s: %v", n, r.err))
		}
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("%s\n%s", b.String(), strings.Join(failed, "\n\n"))
	}
	return b.String(), nil
}

// Default cache locations per language, mounted as namespaced cache volumes.
var languageCaches = map[string][][2]string{
	"go":     {{"/go/pkg/mod", "slipway-go-mod"}, {"/root/.cache/go-build", "slipway-go-build"}},
	"python": {{"/root/.cache/pip", "slipway-pip"}},
	"node":   {{"/root/.npm", "slipway-npm"}},
	"rust":   {{"/usr/local/cargo/registry", "slipway-cargo-registry"}, {"/usr/local/cargo/git", "slipway-cargo-git"}},
	"java":   {{"/root/.m2", "slipway-maven"}, {"/root/.gradle/caches", "slipway-gradle"}},
	"dotnet": {{"/root/.nuget/packages", "slipway-nuget"}},
}

// Commands run before the tests when the service declares dependencies of
// its own (lock files), so that test commands stay about tests.
var languageSetup = map[string]string{
	"go":     "go mod download",
	"python": "if [ -f requirements.txt ]; then pip install --no-input -r requirements.txt; fi",
	"node":   "if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; fi",
	"rust":   "if [ -f Cargo.lock ]; then cargo fetch --locked; else cargo fetch; fi",
	"dotnet": "dotnet restore",
}

// testBase is the container tests run in: the service's test image, its
// source, its caches, its test environment and slipway.yaml's
// caCertificates.
func (m *Slipway) testBase(ctx context.Context, p *plan.Plan, s plan.Service) *dagger.Container {
	c := withCACertificates(ctx, dag.Container().From(s.Test.Image), p, s.Test.Image).
		WithDirectory("/src", m.serviceSource(p, s)).
		WithWorkdir("/src/" + s.Workdir)
	for _, cache := range languageCaches[s.Language] {
		c = c.WithMountedCache(cache[0], dag.CacheVolume(cache[1]))
	}
	if s.Language == "go" {
		c = c.WithEnvVariable("GOMODCACHE", "/go/pkg/mod").WithEnvVariable("GOCACHE", "/root/.cache/go-build")
	}
	env := p.Project.TestEnv(s.Service)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c = c.WithEnvVariable(k, env[k])
	}
	return c
}

// dependencies binds the service's declared dependencies into c.
func dependencies(c *dagger.Container, s plan.Service) *dagger.Container {
	for _, d := range s.Dependencies {
		dep := dag.Container().From(d.Image)
		keys := make([]string, 0, len(d.Env))
		for k := range d.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dep = dep.WithEnvVariable(k, d.Env[k])
		}
		c = c.WithServiceBinding(d.Name, dep.WithExposedPort(d.Port).AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true}))
	}
	return c
}

// testService runs one service's unit and integration tests. Each kind
// ends passed, failed, not configured (no command, or a command that ran
// no test) or skipped (test.skip, or an earlier kind failed); never passed
// when no test ran.
func (m *Slipway) testService(ctx context.Context, p *plan.Plan, s plan.Service) testResult {
	start := time.Now()
	var res testResult
	notConfigured := func(kind string) provenance.TestSuite {
		return provenance.TestSuite{Status: testout.NotConfigured, Reason: fmt.Sprintf("no test.%s in %s/service.yaml, and no tests slipway recognises in %s (language %s)", kind, s.Dir, s.Workdir, s.Language)}
	}
	if s.Test.Skip {
		for _, kind := range []string{"unit", "integration"} {
			cmd := s.Test.Unit + s.Test.Target
			if kind == "integration" {
				cmd = s.Test.Integration
			}
			if cmd == "" {
				res.set(kind, notConfigured(kind))
			} else {
				res.set(kind, provenance.TestSuite{Status: testout.Skipped, Reason: "test.skip in " + s.Dir + "/service.yaml"})
			}
		}
		progress("%s: tests %s (unit), %s (integration)", s.Name, res.unit, res.integration)
		return res
	}
	res.stage = "test"
	if s.Test.Target != "" {
		// The tests are a stage of the Dockerfile: building it runs them.
		cmd := fmt.Sprintf("build the Dockerfile stage %q of %s", s.Test.Target, path.Join(s.Dir, s.Dockerfile))
		progress("%s: unit tests: %s", s.Name, cmd)
		suite := provenance.TestSuite{Command: cmd, Status: testout.Passed}
		if err := m.checkBuildSecrets(ctx, p, s); err != nil {
			suite.Status, suite.Reason = testout.Failed, "the stage could not be built"
			res.err = err
		} else if _, err := m.buildStage(p, s, s.Test.Target).Sync(ctx); err != nil {
			suite.Status, suite.Reason = testout.Failed, "the stage failed"
			res.err = fmt.Errorf("unit tests failed: the Dockerfile stage %q of %s: %w", s.Test.Target, path.Join(s.Dir, s.Dockerfile), m.failedStep(ctx, p, s, "", err))
		}
		res.set("unit", suite)
		progress("%s: unit tests %s", s.Name, suite.Status)
		switch {
		case s.Test.Integration == "":
			res.set("integration", notConfigured("integration"))
		case res.err != nil:
			res.set("integration", provenance.TestSuite{Status: testout.Skipped, Reason: "not run: the unit tests failed"})
		}
		if s.Test.Integration == "" || res.err != nil {
			res.elapsed = time.Since(start)
			return res
		}
	}
	base := m.testBase(ctx, p, s)
	// slipway.yaml's setup, then the service's, then the dependency step:
	// each runs on its own, so that a failure is named for what it is,
	// with what it printed.
	type step struct{ stage, what, cmd string }
	var steps []step
	for _, cmd := range p.Project.SetupCommands(s.Service) {
		steps = append(steps, step{"setup", "setup step", cmd})
	}
	if setup := languageSetup[s.Language]; setup != "" {
		steps = append(steps, step{"dependencies", "dependency step", setup})
	}
	for _, st := range steps {
		progress("%s: %s: %s", s.Name, st.stage, st.cmd)
		r, err := exec(ctx, base, []string{"sh", "-c", st.cmd})
		switch {
		case err != nil:
			res.err = fmt.Errorf("the %s could not run (%s): %w", st.what, st.cmd, explain(err))
		case r.exit != 0:
			res.output += r.stdout + r.stderr
			res.err = fmt.Errorf("the %s failed (exit %d): %s\n%s", st.what, r.exit, st.cmd, lastLines(strings.TrimSpace(r.stdout+"\n"+r.stderr), outputLines))
		default:
			base = r.ctr
		}
		if res.err != nil {
			res.stage = st.stage
			for _, kind := range []string{"unit", "integration"} {
				res.set(kind, provenance.TestSuite{Status: testout.Skipped, Reason: "not run: the " + st.what + " failed"})
			}
			progress("%s: %s FAILED", s.Name, st.what)
			res.elapsed = time.Since(start)
			return res
		}
	}
	run := func(kind, cmd string, c *dagger.Container) {
		r, err := exec(ctx, c, []string{"sh", "-c", cmd})
		suite := provenance.TestSuite{Command: cmd}
		if r != nil {
			res.output += r.stdout + r.stderr
		}
		switch {
		case err != nil:
			suite.Status, suite.Reason = testout.Failed, "the command could not run"
			res.err = fmt.Errorf("running %s tests: %w", kind, explain(err))
		default:
			o := testout.Judge(r.exit, r.stdout+"\n"+r.stderr)
			suite.Status, suite.Counts, suite.Reason = o.Status, o.Counts, o.Reason
			if o.Status == testout.Failed {
				res.err = fmt.Errorf("%s", testout.Summary(kind, r.exit, r.stdout+"\n"+r.stderr, outputLines))
			}
		}
		res.set(kind, suite)
		progress("%s: %s tests %s%s", s.Name, kind, suite.Status, countsNote(suite.Counts))
	}
	switch {
	case s.Test.Target != "": // ran above
	case s.Test.Unit != "":
		progress("%s: unit tests: %s", s.Name, s.Test.Unit)
		run("unit", s.Test.Unit, base)
	default:
		res.set("unit", notConfigured("unit"))
	}
	switch {
	case s.Test.Integration == "":
		res.set("integration", notConfigured("integration"))
	case res.err != nil:
		res.set("integration", provenance.TestSuite{Status: testout.Skipped, Reason: "not run: the unit tests failed"})
	default:
		var deps []string
		for _, d := range s.Dependencies {
			deps = append(deps, d.Name+"="+d.Image)
		}
		progress("%s: integration tests with %s: %s", s.Name, strings.Join(deps, ", "), s.Test.Integration)
		run("integration", s.Test.Integration, dependencies(base, s))
	}
	res.elapsed = time.Since(start)
	return res
}

// countsNote renders a runner's counts for progress lines.
func countsNote(c *testout.Counts) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf(" (%s: %d passed, %d failed, %d skipped)", c.Runner, c.Passed, c.Failed, c.Skipped)
}
