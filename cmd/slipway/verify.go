package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/slipwayci/slipway/internal/envcheck"
	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("verify", "wait until an environment's cluster runs what its GitOps manifests say, and record it signed (report JSON)", runVerify)
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", stderr)
	g := addGitopsFlags(fs)
	env := fs.String("env", "", "environment (required)")
	commit := fs.String("commit", "", "GitOps commit that must be applied (default: the GitOps branch's tip)")
	timeout := fs.Duration("timeout", 0, "how long to wait (default: the environment's cluster.timeout, else 10m)")
	interval := fs.Duration("interval", 2*time.Second, "time between looks at the cluster")
	rollback := fs.Bool("rollback-on-failure", false, "roll each failed service back to the last digest verified in the environment, and reject the failed digest")
	by := fs.String("by", "", "who, recorded in a rollback's pin (default: $GITHUB_ACTOR, else $USER)")
	regAddr := fs.String("registry", "", "registry address the credentials are for (default: registry.address in slipway.yaml)")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	scanBin, vulnDB := scanFlags(fs)
	sourceURL := sourceURLFlag(fs)
	var services, insecure listFlag
	fs.Var(&services, "service", "verify only this service (repeatable)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *env == "" {
		return fmt.Errorf("%w: -env is required", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	reg, err := registryFor(ctx, cfg, url, gopts, insecure, []string{*env}, *regAddr)
	if err != nil {
		return err
	}
	signer, err := newSigner(reg)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(reg, *env)
	if err != nil {
		return err
	}
	o := envcheck.Options{
		Config: cfg, Env: *env, Services: services, Commit: *commit,
		Kubeconfig: []byte(os.Getenv(wire.EnvKubeconfig)), Timeout: *timeout, Interval: *interval,
		RepoURL: url, GitOptions: gopts, Registry: reg, Signer: signer, Verifier: verifier,
		RunID: os.Getenv(wire.EnvRun), RollbackOnFailure: *rollback, Progress: stderr,
	}
	if *rollback {
		scanner, err := newRescan(*scanBin, *vulnDB, *g.source, cfg, reg)
		if err != nil {
			return err
		}
		o.Rollback = promote.RollbackOptions{By: actor(*by), Scanner: scanner, SourceURL: *sourceURL, Ignores: ignoreLoader(*g.source, cfg)}
	}
	rep, err := envcheck.Run(ctx, o)
	if errors.Is(err, envcheck.ErrNotVerified) {
		// The verdict is in the report.
		err = nil
	}
	return finishReport(rep, err, *out, stdout, stderr)
}
