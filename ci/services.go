package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
)

// planOpts steer planning.
type planOpts struct {
	services []string
	force    bool
	lookup   bool
	// embedded forces the embedded registry, whatever is configured (dry runs).
	embedded bool
	// checkDirty looks for uncommitted changes in the selected services'
	// inputs; allowDirty then plans a dirty run (tags end in -dirty).
	checkDirty, allowDirty bool
	// shard restricts the run to one shard of the services ("K/N").
	shard string
}

// plan runs the worker's planner over the source: configuration, input
// digests and, with lookup, which services already have an image built from
// the same inputs.
func (m *Slipway) plan(ctx context.Context, reg *registryTarget, o planOpts) (*plan.Plan, error) {
	args := []string{toolBin, "plan", "--source", srcMount, "--registry", reg.address, "--out", workDir + "/plan.json",
		fmt.Sprintf("--lookup=%t", o.lookup)}
	args = append(args, reg.insecureArgs()...)
	if m.Commit != "" {
		args = append(args, "--commit", m.Commit)
	}
	if m.Branch != "" {
		args = append(args, "--branch", m.Branch)
	}
	for _, s := range o.services {
		args = append(args, "--service", s)
	}
	if o.force {
		args = append(args, "--force")
	}
	if o.checkDirty {
		args = append(args, "--check-dirty")
	}
	if o.shard != "" {
		args = append(args, "--shard", o.shard)
	}
	if o.allowDirty {
		args = append(args, "--allow-dirty")
	}
	c := m.worker(reg).WithDirectory(srcMount, m.Source)
	if o.lookup {
		c = c.WithEnvVariable("SLIPWAY_RUN", runID())
	}
	r, err := mustExec(ctx, c, args)
	if err != nil {
		return nil, err
	}
	b, err := r.ctr.File(workDir + "/plan.json").Contents(ctx)
	if err != nil {
		return nil, err
	}
	return plan.Parse([]byte(b))
}

// configuredRegistry reads registry.address and registry.insecure from the
// configuration without contacting any registry.
func (m *Slipway) configuredRegistry(ctx context.Context) (string, []string, error) {
	p, err := m.plan(ctx, &registryTarget{address: "registry.invalid"}, planOpts{})
	if err != nil {
		return "", nil, err
	}
	return p.Project.Registry.Address, p.Project.Registry.Insecure, nil
}

// resolve returns this run's registry and its plan.
func (m *Slipway) resolve(ctx context.Context, o planOpts) (*registryTarget, *plan.Plan, error) {
	addr, insecure, err := m.configuredRegistry(ctx)
	if err != nil {
		return nil, nil, err
	}
	if o.embedded {
		addr, insecure = "", nil
	}
	reg := m.target(addr, insecure)
	p, err := m.plan(ctx, reg, o)
	if err != nil {
		return nil, nil, err
	}
	return reg, p, nil
}

// Services lists the services of the repository, whether each is affected
// (must be rebuilt) and the input digest that decides it. With --format json
// it prints a list a CI matrix can fan out over: name, language, affected,
// inputDigest, image (and shard, with --shards N).
// +cache="never"
func (m *Slipway) Services(
	ctx context.Context,
	// Only these services.
	// +optional
	service []string,
	// Output format: text or json.
	// +optional
	// +default="text"
	format string,
	// With json: also name, for each service, its shard K of --shard K/N.
	// +optional
	shards int,
) (string, error) {
	if format != "text" && format != "json" {
		return "", fmt.Errorf("--format %q: want text or json", format)
	}
	_, p, err := m.resolve(ctx, planOpts{services: service, lookup: true})
	if err != nil {
		return "", err
	}
	if format == "json" {
		b, err := p.ServiceList(shards)
		if err != nil {
			return "", err
		}
		return string(b) + "\n", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-8s %-14s %-10s %s\n", "SERVICE", "LANG", "INPUTS", "STATE", "IMAGE")
	for _, s := range p.Services {
		state := "affected"
		img := s.Repository
		switch {
		case !s.Selected:
			state = "-"
		case s.Existing != "":
			state = "unchanged"
			img = s.Existing
		}
		fmt.Fprintf(&b, "%-12s %-8s %-14s %-10s %s\n", s.Name, s.Language, s.Inputs.Short(), state, img)
	}
	fmt.Fprintf(&b, "\ncommit %s", p.Commit)
	if p.Branch != "" {
		fmt.Fprintf(&b, " on %s", p.Branch)
	}
	fmt.Fprintf(&b, ", registry %s\n", p.Registry)
	return b.String(), nil
}

// serviceSource is the service directory plus its shared paths, laid out as
// in the repository so that relative references keep working.
func (m *Slipway) serviceSource(p *plan.Plan, s plan.Service) *dagger.Directory {
	d := dag.Directory().WithDirectory(s.Dir, m.Source.Directory(s.Dir))
	for _, sh := range append(append([]string{}, p.Project.Shared...), s.Shared...) {
		d = d.WithDirectory(sh, m.Source.Directory(sh))
	}
	return d
}
