package main

import (
	"context"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/internal/promote"
)

func init() {
	register("rollback", "point an environment's service back at an older verified image and pin it there (report JSON)", runRollback)
}

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	g := addGitopsFlags(fs)
	env := fs.String("env", "", "environment (required)")
	service := fs.String("service", "", "service (required)")
	target := fs.String("to", "", "commit SHA (or a unique prefix), found through the signatures that record it, or image digest to roll back to (required)")
	reason := fs.String("reason", "", "why, recorded in the pin (default: \"rollback to <target>\")")
	by := fs.String("by", "", "who, recorded in the pin (default: $GITHUB_ACTOR, else $USER)")
	dryRun := fs.Bool("dry-run", false, "check everything, print the GitOps diff (image and pin), write nothing")
	regAddr := fs.String("registry", "", "registry address the credentials are for (default: registry.address in slipway.yaml)")
	fromRegistry := fs.String("from-registry", "", "registry address to find the target in (default: where the environment runs the service from)")
	toRegistry := fs.String("to-registry", "", "registry address the environment runs images from (default: where it runs the service from now)")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	scanBin, vulnDB := scanFlags(fs)
	sourceURL := sourceURLFlag(fs)
	var insecure listFlag
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *env == "" || *service == "" || *target == "" {
		return fmt.Errorf("%w: -env, -service and -to are required", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	reg, err := registryFor(ctx, cfg, url, gopts, insecure, []string{*env}, *regAddr, *fromRegistry, *toRegistry)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(reg, *env)
	if err != nil {
		return err
	}
	scanner, err := newRescan(*scanBin, *vulnDB, *g.source, cfg, reg)
	if err != nil {
		return err
	}
	rep, err := promote.Rollback(ctx, promote.RollbackOptions{
		Config: cfg, Environment: *env, Service: *service, Target: *target,
		SourceRegistry: *fromRegistry, TargetRegistry: *toRegistry,
		Reason: *reason, By: actor(*by), DryRun: *dryRun,
		Registry: reg, Verifier: verifier, Scanner: scanner, RepoURL: url, GitOptions: gopts,
		SourceURL: *sourceURL, Ignores: ignoreLoader(*g.source, cfg),
	})
	return finishReport(rep, err, *out, stdout, stderr)
}
