package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/smoke"
	"github.com/slipwayci/slipway/internal/wire"
)

// Smoke starts a service's freshly built image with its declared
// environment and dependencies, waits for its port and asks its readiness
// endpoint (and any declared requests) whether it is healthy. It also checks
// that the image runs as a non-root user and exposes the declared port.
func (m *Slipway) Smoke(
	ctx context.Context,
	// The service to smoke-test.
	service string,
) (string, error) {
	p, s, err := m.oneService(ctx, service)
	if err != nil {
		return "", err
	}
	return m.smoke(ctx, p, s, m.build(p, s))
}

// imagePolicy checks what an image promises before it runs (see
// smoke.CheckImage): a non-root user, the declared port, the required labels.
func imagePolicy(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container) error {
	var facts smoke.Image
	var err error
	if facts.User, err = img.User(ctx); err != nil {
		return err
	}
	ports, err := img.ExposedPorts(ctx)
	if err != nil {
		return err
	}
	for _, ep := range ports {
		n, err := ep.Port(ctx)
		if err != nil {
			return err
		}
		facts.ExposedPorts = append(facts.ExposedPorts, n)
	}
	labels, err := img.Labels(ctx)
	if err != nil {
		return err
	}
	facts.Labels = map[string]string{}
	for _, l := range labels {
		k, err := l.Name(ctx)
		if err != nil {
			return err
		}
		if facts.Labels[k], err = l.Value(ctx); err != nil {
			return err
		}
	}
	return smoke.CheckImage(facts, s.Port, p.RequiredLabels(s), s.Dir+"/"+s.Dockerfile)
}

// smoke runs the smoke test against img and returns what it observed.
func (m *Slipway) smoke(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container) (string, error) {
	if err := imagePolicy(ctx, p, s, img); err != nil {
		return "", err
	}
	if s.Smoke.Skip {
		return "skipped (smoke.skip)", nil
	}
	app := img
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		app = app.WithEnvVariable(k, s.Env[k])
	}
	app = dependencies(app, s)
	svc := app.WithExposedPort(s.Port).AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	args := []string{wire.WorkerBin, "probe", "--protocol", s.Smoke.Protocol, "--timeout", s.Smoke.Timeout.D().String()}
	switch s.Smoke.Protocol {
	case "grpc":
		args = append(args, "--addr", fmt.Sprintf("app:%d", s.Port), "--grpc-service", s.Smoke.GRPCService)
	case "tcp":
		args = append(args, "--addr", fmt.Sprintf("app:%d", s.Port))
	default:
		args = append(args, "--url", fmt.Sprintf("http://app:%d%s", s.Port, s.Smoke.Path))
	}
	if s.Smoke.ExpectStatus != 0 {
		args = append(args, "--status", fmt.Sprint(s.Smoke.ExpectStatus))
	}
	for _, r := range s.Smoke.Requests {
		args = append(args, "--request", fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
	}
	r, err := exec(ctx, fresh(m.Worker().WithServiceBinding("app", svc)), args)
	if err != nil {
		return "", fmt.Errorf("starting the image as a service: %w", err)
	}
	if r.exit != 0 {
		return "", fmt.Errorf("%s", strings.TrimSpace(r.stderr+"\n"+r.stdout))
	}
	return strings.TrimSpace(r.stdout), nil
}
