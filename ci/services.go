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
	"github.com/slipwayci/slipway/internal/wire"
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
	// platforms replaces every selected service's platforms (--platforms).
	platforms []string
	// bases are the base images resolved by the engine (reference →
	// digest), folded into the input digests of a lookup plan.
	bases map[string]string
}

// plan runs the worker's planner over the source: configuration, input
// digests and, with lookup, which services already have an image built from
// the same inputs in reg. Without reg the registry is only named, never
// contacted: --registry, else slipway.yaml's registry.address, else the
// embedded registry (or the embedded registry, whatever is configured, for
// o.embedded).
func (m *Slipway) plan(ctx context.Context, reg *registryTarget, o planOpts) (*plan.Plan, error) {
	args := []string{wire.WorkerBin, "plan", "--source", wire.SourceDir, "--out", wire.ResultFile,
		fmt.Sprintf("--lookup=%t", o.lookup), "--default-registry", embeddedAddress}
	c := m.Worker()
	switch {
	case reg != nil:
		args = append(args, "--registry", reg.address)
		args = append(args, reg.insecureArgs()...)
		c = m.workerFor(reg)
	case o.embedded:
		args = append(args, "--registry", embeddedAddress)
	case m.Registry != "":
		args = append(args, "--registry", m.Registry)
	}
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
	if len(o.platforms) > 0 {
		args = append(args, "--platforms", strings.Join(o.platforms, ","))
	}
	refs := make([]string, 0, len(o.bases))
	for ref := range o.bases {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		args = append(args, "--base-digest", ref+"="+o.bases[ref])
	}
	c = c.WithDirectory(wire.SourceDir, m.Source)
	if o.lookup {
		c = fresh(c)
	}
	p, _, err := runWorker(ctx, c, args, exitFails, plan.Parse)
	return p, err
}

// configPlan is the plan that only reads the configuration (of the given
// services): no registry is contacted and base images are not resolved.
func (m *Slipway) configPlan(ctx context.Context, services ...string) (*plan.Plan, error) {
	return m.plan(ctx, nil, planOpts{services: services})
}

// oneService is the configuration plan of one service, and that service,
// with the build secrets it needs at hand.
func (m *Slipway) oneService(ctx context.Context, name string) (*plan.Plan, plan.Service, error) {
	p, err := m.configPlan(ctx, name)
	if err != nil {
		return nil, plan.Service{}, err
	}
	s, ok := p.Service(name)
	if !ok {
		return nil, plan.Service{}, fmt.Errorf("unknown service %q", name)
	}
	if err := m.checkBuildSecrets(ctx, p, s); err != nil {
		return nil, plan.Service{}, err
	}
	return p, s, nil
}

// resolveBaseImages resolves every distinct base image of the plan's
// services through the engine (which holds the registry mirrors and
// credentials), in parallel, once each. References pinned by digest need no
// lookup and are left to the planner. A reference that cannot be resolved
// is an error naming the service, its Dockerfile and the FROM line.
func resolveBaseImages(ctx context.Context, p *plan.Plan) (map[string]string, error) {
	type use struct {
		service, dockerfile string
		line                int
	}
	first := map[string]use{}
	var refs []string
	// A multi-platform service needs each target-platform base image for
	// each of its platforms ("ref@linux/arm64"): one that lacks a platform
	// is refused here, before anything is built.
	forPlatform := map[string][2]string{}
	for _, s := range p.Services {
		for _, f := range s.From {
			if plan.Pinned(f.Ref) != "" {
				continue
			}
			if _, seen := first[f.Ref]; !seen {
				first[f.Ref] = use{s.Name, path.Join(s.Dir, s.Dockerfile), f.Line}
				refs = append(refs, f.Ref)
			}
			if !f.Target || !s.Selected {
				continue
			}
			for _, pl := range s.Platforms {
				k := plan.BasePlatformKey(f.Ref, pl)
				if _, seen := first[k]; !seen {
					first[k] = use{s.Name, path.Join(s.Dir, s.Dockerfile), f.Line}
					forPlatform[k] = [2]string{f.Ref, pl}
					refs = append(refs, k)
				}
			}
		}
	}
	start := time.Now()
	out := make(map[string]string, len(refs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, ref := range refs {
		g.Go(func() error {
			from, opts := ref, dagger.ContainerOpts{}
			if fp, ok := forPlatform[ref]; ok {
				from, opts.Platform = fp[0], dagger.Platform(fp[1])
			}
			c := dag.Container(opts).From(from)
			resolved, err := c.ImageRef(gctx)
			_, digest, ok := strings.Cut(resolved, "@")
			if err == nil && !ok {
				err = fmt.Errorf("the engine returned %q, which names no digest", resolved)
			}
			if err == nil && opts.Platform != "" {
				// An image that is not an index is taken whatever its
				// platform: say which one it is.
				var got dagger.Platform
				if got, err = c.Platform(gctx); err == nil && strings.TrimSuffix(string(got), "/v8") != string(opts.Platform) {
					err = fmt.Errorf("%s is a %s image only", from, got)
				}
			}
			if err != nil {
				u := first[ref]
				if opts.Platform != "" {
					return fmt.Errorf("service %s: %s:%d: FROM %s: the base image has no %s image, which the service is built for (build.platforms / images.platforms / --platforms): %w",
						u.service, u.dockerfile, u.line, from, opts.Platform, explain(err))
				}
				return fmt.Errorf("service %s: %s:%d: FROM %s: resolving the base image through the engine: %w", u.service, u.dockerfile, u.line, ref, err)
			}
			mu.Lock()
			out[ref] = digest
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(refs) > 0 {
		progress("base images: %d resolved in %s", len(refs), time.Since(start).Round(time.Millisecond))
	}
	return out, nil
}

// resolve returns this run's registry and its plan: one pass of the
// planner, or two for a lookup plan (the one that decides what is rebuilt),
// because every base image the first pass finds is resolved by the engine
// and folded into the input digests of the second.
func (m *Slipway) resolve(ctx context.Context, o planOpts) (*registryTarget, *plan.Plan, error) {
	first := o
	if o.lookup {
		first = planOpts{embedded: o.embedded, platforms: o.platforms}
	}
	p, err := m.plan(ctx, nil, first)
	if err != nil {
		return nil, nil, err
	}
	if m.keyless, err = keylessSettings(p); err != nil {
		return nil, nil, err
	}
	addr, insecure := p.Project.Registry.Address, p.Project.Registry.Insecure
	if o.embedded {
		addr, insecure = "", nil
	}
	reg := m.target(addr, insecure)
	if !o.lookup {
		return reg, p, nil
	}
	if o.bases, err = resolveBaseImages(ctx, p); err != nil {
		return nil, nil, err
	}
	if p, err = m.plan(ctx, reg, o); err != nil {
		return nil, nil, err
	}
	return reg, p, nil
}

// Services lists the services of the repository, whether each is affected
// (must be rebuilt), the input digest that decides it and the base images
// at the digests they resolve to now. With --format json it prints a list a
// CI matrix can fan out over: name, language, affected, inputDigest, image
// (and shard, with --shards N).
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
		for _, base := range s.Inputs.BaseImages {
			on := ""
			if base.Platform != "" {
				on = " for " + base.Platform
			}
			fmt.Fprintf(&b, "%-12s   FROM %s%s (%s)\n", "", base.Ref, on, base.Digest)
		}
	}
	for _, sk := range p.Skipped {
		fmt.Fprintf(&b, "%-12s not a service: %s (%s)\n", "-", sk.Dir, sk.Reason)
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

// baseImageArgs are the provenance's --base-image flags: each base image at
// the digest the plan resolved it to, with a pinned digest taken off the
// reference (it is the digest). For one platform of a multi-platform image
// (platform set), a base image's variant for that platform takes the place
// of the engine platform's; the index's provenance names the references as
// the engine resolved them.
func baseImageArgs(s plan.Service, platform string) []string {
	digests := map[string]string{}
	var refs []string
	for _, b := range s.Inputs.BaseImages {
		ref, perPlatform := b.Ref, b.Platform != ""
		if i := strings.Index(ref, "@"); i >= 0 {
			ref = ref[:i]
		}
		if perPlatform && b.Platform != platform {
			continue
		}
		if _, seen := digests[ref]; !seen {
			refs = append(refs, ref)
		}
		if _, seen := digests[ref]; !seen || perPlatform {
			digests[ref] = b.Digest
		}
	}
	args := make([]string, 0, 2*len(refs))
	for _, ref := range refs {
		args = append(args, "--base-image", ref+"="+digests[ref])
	}
	return args
}
