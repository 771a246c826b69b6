package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/testout"
)

// testResult is the outcome of one service's tests.
type testResult struct {
	unit, integration string // passed, failed, skipped, not run
	err               error  // names the failed tests
	elapsed           time.Duration
	output            string // everything the test commands printed
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
	p, err := m.plan(ctx, &registryTarget{address: "registry.invalid"}, planOpts{services: service})
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
			fmt.Fprintf(&b, "%s\n", indent(r.output))
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
}

// Commands run before the tests when the service declares dependencies of
// its own (lock files), so that test commands stay about tests.
var languageSetup = map[string]string{
	"go":     "go mod download",
	"python": "if [ -f requirements.txt ]; then pip install --no-input -r requirements.txt; fi",
	"node":   "if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; fi",
}

// testBase is the container tests run in: the service's test image, its
// source, its caches and its test environment.
func (m *Slipway) testBase(p *plan.Plan, s plan.Service) *dagger.Container {
	c := dag.Container().From(s.Test.Image).
		WithDirectory("/src", m.serviceSource(p, s)).
		WithWorkdir("/src/" + s.Dir)
	for _, cache := range languageCaches[s.Language] {
		c = c.WithMountedCache(cache[0], dag.CacheVolume(cache[1]))
	}
	if s.Language == "go" {
		c = c.WithEnvVariable("GOMODCACHE", "/go/pkg/mod").WithEnvVariable("GOCACHE", "/root/.cache/go-build")
	}
	keys := make([]string, 0, len(s.Test.Env))
	for k := range s.Test.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c = c.WithEnvVariable(k, s.Test.Env[k])
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

// testService runs one service's unit and integration tests.
func (m *Slipway) testService(ctx context.Context, p *plan.Plan, s plan.Service) testResult {
	start := time.Now()
	res := testResult{unit: "skipped", integration: "skipped"}
	if s.Test.Skip {
		progress("%s: tests skipped (test.skip, or no test command for language %s)", s.Name, s.Language)
		return res
	}
	base := m.testBase(p, s)
	if setup := languageSetup[s.Language]; setup != "" {
		base = base.WithExec([]string{"sh", "-c", setup})
	}
	if s.Test.Unit != "" {
		progress("%s: unit tests: %s", s.Name, s.Test.Unit)
		r, err := exec(ctx, base, []string{"sh", "-c", s.Test.Unit})
		if r != nil {
			res.output += r.stdout + r.stderr
		}
		switch {
		case err != nil:
			res.unit, res.err = "failed", fmt.Errorf("running unit tests: %w", err)
		case r.exit != 0:
			res.unit, res.err = "failed", fmt.Errorf("%s", testout.Summary("unit", r.exit, r.stdout+"\n"+r.stderr, 15))
		default:
			res.unit = "passed"
		}
		progress("%s: unit tests %s", s.Name, res.unit)
		if res.err != nil {
			res.integration = "not run"
			res.elapsed = time.Since(start)
			return res
		}
	}
	if s.Test.Integration != "" {
		var deps []string
		for _, d := range s.Dependencies {
			deps = append(deps, d.Name+"="+d.Image)
		}
		progress("%s: integration tests with %s: %s", s.Name, strings.Join(deps, ", "), s.Test.Integration)
		r, err := exec(ctx, dependencies(base, s), []string{"sh", "-c", s.Test.Integration})
		if r != nil {
			res.output += r.stdout + r.stderr
		}
		switch {
		case err != nil:
			res.integration, res.err = "failed", fmt.Errorf("running integration tests: %w", err)
		case r.exit != 0:
			res.integration, res.err = "failed", fmt.Errorf("%s", testout.Summary("integration", r.exit, r.stdout+"\n"+r.stderr, 15))
		default:
			res.integration = "passed"
		}
		progress("%s: integration tests %s", s.Name, res.integration)
	}
	res.elapsed = time.Since(start)
	return res
}
