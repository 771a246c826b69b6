package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/ghpackages"
	"github.com/slipwayci/slipway/internal/retention"
	"github.com/slipwayci/slipway/internal/wire"
)

// hostOfAddress is the host of a registry address (host[:port][/namespace]).
func hostOfAddress(addr string) string {
	host, _, _ := strings.Cut(addr, "/")
	return host
}

func init() {
	register("prune", "delete images no environment needs, with their signatures (dry run unless --apply; report JSON)", runPrune)
}

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("prune", stderr)
	g := addGitopsFlags(fs)
	regAddr := fs.String("registry", "", "registry address the services' repositories are under (default: registry.address in slipway.yaml)")
	olderThan := fs.Duration("older-than", 720*time.Hour, "keep every image younger than this")
	keep := fs.Int("keep", 10, "keep the newest N images of each repository")
	apply := fs.Bool("apply", false, "delete; without it nothing is deleted and the plan is printed")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	packagesAPI := fs.String("packages-api", "", "delete through GitHub's packages REST API at this base URL (default for ghcr.io: "+ghpackages.DefaultBaseURL+"); the registry password is the token")
	var services, insecure listFlag
	fs.Var(&services, "service", "prune only this service's repository (repeatable; default: every service)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *olderThan <= 0:
		return fmt.Errorf("%w: --older-than must be positive (e.g. 720h)", errUsage)
	case *keep < 0:
		return fmt.Errorf("%w: --keep must be 0 or more", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	addr := *regAddr
	if addr == "" {
		addr = cfg.Project.Registry.Address
	}
	if addr == "" {
		return fmt.Errorf("%w: no registry: pass --registry or set registry.address in slipway.yaml", errUsage)
	}
	reg, err := newRegistry(append(insecure, cfg.Project.Registry.Insecure...), addr)
	if err != nil {
		return err
	}
	started := time.Now()
	res, err := retention.Plan(ctx, retention.Options{
		Config: cfg, Registry: reg, RegistryAddress: addr, RepoURL: url, GitOptions: gopts,
		Services: services, Keep: *keep, OlderThan: *olderThan, Now: started,
	})
	if err != nil {
		return err
	}
	var outcome *retention.Outcome
	var applyErr error
	if *apply {
		var opts []retention.ApplyOption
		// ghcr.io deletes nothing through the registry API: its images go
		// through GitHub's packages API, with the registry password.
		host := hostOfAddress(addr)
		if host == "ghcr.io" || *packagesAPI != "" {
			pk, err := ghpackages.New(*packagesAPI, os.Getenv(wire.EnvRegistryPassword))
			if err != nil {
				return fmt.Errorf("pruning %s: %w", addr, err)
			}
			opts = append(opts, retention.WithPackageAPI(host, pk))
			fmt.Fprintf(stderr, "prune: deleting from %s through GitHub's packages API\n", host)
		}
		outcome, applyErr = retention.Apply(ctx, reg, res, opts...)
	}
	fmt.Fprint(stderr, retention.Describe(res, outcome))
	rep := retention.Report(res, outcome)
	rep.Started, rep.Finished = started, time.Now()
	b, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := writeOut(*out, stdout, b); err != nil {
		return err
	}
	return applyErr
}
