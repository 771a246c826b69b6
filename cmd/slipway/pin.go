package main

import (
	"context"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/report"
)

func init() {
	register("pin", "hold an environment's service at the digest it runs: ci and promote leave it alone (report JSON)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runState(ctx, "pin", args, stdout, stderr)
	})
	register("unpin", "release a pin: ci and promote may change the service again (report JSON)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runState(ctx, "unpin", args, stdout, stderr)
	})
	register("reject", "denylist a digest: never deployed or promoted again (report JSON)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runState(ctx, "reject", args, stdout, stderr)
	})
}

// runState runs pin, unpin and reject: changes to the state file in the
// GitOps repository, committed directly to its branch.
func runState(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(name, stderr)
	g := addGitopsFlags(fs)
	var env, service, digest *string
	if name != "reject" {
		env = fs.String("env", "", "environment (required)")
		service = fs.String("service", "", "service (required)")
	}
	switch name {
	case "pin":
		digest = fs.String("digest", "", "the digest the environment must be running (a guard; default: whatever it runs)")
	case "reject":
		digest = fs.String("digest", "", "digest to denylist, sha256:... or repository@sha256:... (required)")
	}
	reasonHelp := "why, recorded in the state file"
	if name == "reject" {
		reasonHelp += " (required)"
	}
	reason := fs.String("reason", "", reasonHelp)
	by := fs.String("by", "", "who, recorded in the state file (default: $GITHUB_ACTOR, else $USER)")
	dryRun := fs.Bool("dry-run", false, "print the state file's diff, write nothing")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case name != "reject" && (*env == "" || *service == ""):
		return fmt.Errorf("%w: -env and -service are required", errUsage)
	case name == "reject" && (*digest == "" || *reason == ""):
		return fmt.Errorf("%w: -digest and -reason are required", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	o := promote.StateOptions{Config: cfg, RepoURL: url, GitOptions: gopts, Reason: *reason, By: actor(*by), DryRun: *dryRun}
	var rep *report.Report
	switch name {
	case "pin":
		rep, err = promote.Pin(ctx, o, *env, *service, *digest)
	case "unpin":
		rep, err = promote.Unpin(ctx, o, *env, *service)
	default:
		rep, err = promote.Reject(ctx, o, *digest)
	}
	return finishReport(rep, err, *out, stdout, stderr)
}
