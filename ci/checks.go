package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/wire"
)

// CheckConfig is the preflight: it validates slipway.yaml and every
// service.yaml (file, field and line for each problem), resolves every base
// image the services build from, and checks that the GitOps repository
// (the throwaway one when none is configured) has a directory for every
// environment and an entry each service's editor can write, with no two
// services on the same entry. It builds and writes nothing. Run by
// `dagger check`; ci runs the GitOps part for the environments it deploys
// to before building anything.
// +check
func (m *Slipway) CheckConfig(ctx context.Context) error {
	p, err := m.configPlan(ctx)
	if err != nil {
		return err
	}
	if len(p.Services) == 0 {
		var skipped []string
		for _, s := range p.Skipped {
			skipped = append(skipped, s.Dir+": "+s.Reason)
		}
		msg := fmt.Sprintf("no service found in %s (a service is a directory with a Dockerfile or a service.yaml)", strings.Join(p.Project.Services, ", "))
		if len(skipped) > 0 {
			msg += "; not services: " + strings.Join(skipped, "; ")
		}
		return errors.New(msg)
	}
	if _, err := resolveBaseImages(ctx, p); err != nil {
		return err
	}
	return m.preflight(ctx, &registryTarget{address: p.Registry}, p, nil)
}

// preflight checks that the GitOps repository can take the deployments of
// every service to envs (every environment when none is given), writing
// nothing: the worker's preflight.
func (m *Slipway) preflight(ctx context.Context, reg *registryTarget, p *plan.Plan, envs []string) error {
	c, gargs := m.gitopsWorker(reg, p)
	args := append([]string{wire.WorkerBin, "preflight", "--registry", reg.address}, gargs...)
	for _, e := range envs {
		args = append(args, "--env", e)
	}
	_, err := execChecked(ctx, fresh(c), args)
	return err
}
