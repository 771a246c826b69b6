package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitstate"
	"github.com/slipwayci/slipway/internal/monorepo"
	"github.com/slipwayci/slipway/internal/plan"
)

func init() {
	register("plan", "decide what a run does: services, input digests, build avoidance (JSON)", runPlan)
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", stderr)
	source := fs.String("source", ".", "repository root")
	commit := fs.String("commit", "", "full commit SHA (default: read from the source's .git)")
	branch := fs.String("branch", "", "branch name (default: read from the source's .git)")
	registry := fs.String("registry", "", "registry address (default: registry.address in slipway.yaml)")
	defaultRegistry := fs.String("default-registry", "", "registry address when neither --registry nor registry.address names one")
	force := fs.Bool("force", false, "rebuild even when an image built from the same inputs exists")
	lookup := fs.Bool("lookup", true, "look in the registry for images built from the same inputs")
	out := fs.String("out", "", "write the plan here instead of stdout")
	shard := fs.String("shard", "", "K/N: only the services of shard K of N")
	checkDirty := fs.Bool("check-dirty", false, "look for uncommitted changes in the selected services' inputs (git's index)")
	platforms := fs.String("platforms", "", "comma-separated platforms every selected service is built for, replacing images.platforms and build.platforms (linux/amd64,linux/arm64)")
	allowDirty := fs.Bool("allow-dirty", false, "with uncommitted changes, plan a dirty run (tags end in -dirty) instead of leaving the refusal to the caller")
	var services, insecure, bases listFlag
	fs.Var(&services, "service", "restrict the run to this service (repeatable)")
	fs.Var(&bases, "base-digest", "REF=sha256:DIGEST: a base image (a FROM reference after ARG substitution) resolved to its digest; with --lookup every FROM that is not pinned by digest needs one (repeatable)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var sh plan.Shard
	if *shard != "" {
		v, err := plan.ParseShard(*shard)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		sh = v
	}
	opts := plan.Options{Shard: sh, Commit: *commit, Branch: *branch, Registry: *registry, DefaultRegistry: *defaultRegistry, Services: services, Force: *force,
		AllowDirty: *allowDirty}
	if *platforms != "" {
		list, err := config.ParsePlatforms(strings.Split(*platforms, ","))
		if err != nil {
			return fmt.Errorf("--platforms: %w", err)
		}
		opts.Platforms = list
	}
	if *checkDirty {
		opts.CheckDirty = gitstate.DirtyFiles
	}
	if *lookup || len(bases) > 0 {
		// The plan that decides builds folds every base image's digest into
		// the input digests.
		opts.BaseDigests = map[string]string{}
		for _, kv := range bases {
			ref, d, ok := strings.Cut(kv, "=")
			if !ok || ref == "" || d == "" {
				return fmt.Errorf("%w: --base-digest %q: want REF=sha256:DIGEST", errUsage, kv)
			}
			if prev, dup := opts.BaseDigests[ref]; dup && prev != d {
				return fmt.Errorf("%w: --base-digest %s given twice with different digests", errUsage, ref)
			}
			opts.BaseDigests[ref] = d
		}
	}
	if *lookup {
		f, err := newFinder(insecure, *registry)
		if err != nil {
			return err
		}
		opts.Finder = f
	}
	p, err := plan.Make(ctx, os.DirFS(*source), opts)
	if err != nil {
		return err
	}
	b, err := p.JSON()
	if err != nil {
		return err
	}
	for _, s := range p.Services {
		state := "affected"
		switch {
		case !s.Selected:
			state = "not selected"
		case s.Existing != "":
			state = "unchanged, image exists"
		}
		fmt.Fprintf(stderr, "plan: %-12s inputs %s (%d files, %d base images)  %s\n", s.Name, s.Inputs.Short(), s.Inputs.Files, len(s.Inputs.BaseImages), state)
	}
	for _, sk := range p.Skipped {
		fmt.Fprintf(stderr, "plan: %s is not a service: %s\n", sk.Dir, sk.Reason)
	}
	switch {
	case p.DirtyUnchecked != "":
		fmt.Fprintf(stderr, "plan: %s\n", p.DirtyUnchecked)
	case p.Dirty:
		fmt.Fprintf(stderr, "plan: uncommitted changes (%d), allowed: tags end in %s\n%s", len(p.Uncommitted), plan.DirtySuffix, monorepo.DescribeChanges(p.Uncommitted, 20))
	case len(p.Uncommitted) > 0:
		fmt.Fprintf(stderr, "plan: uncommitted changes (%d)\n%s", len(p.Uncommitted), monorepo.DescribeChanges(p.Uncommitted, 20))
	}
	return writeOut(*out, stdout, append(b, '\n'))
}
