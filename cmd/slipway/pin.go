package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/report"
)

// stateVerb is a command that changes the state file in the GitOps
// repository (pins, denylist), committed directly to its branch.
type stateVerb struct {
	name, summary string
	// scoped: the verb acts on one service in one environment (-env,
	// -service).
	scoped bool
	// digest documents the -digest flag; "" when the verb takes none.
	digest string
	// required lists the flags that must be given, besides -env and
	// -service of a scoped verb.
	required []string
	apply    func(ctx context.Context, o promote.StateOptions, env, service, digest string) (*report.Report, error)
}

var stateVerbs = []stateVerb{
	{
		name: "pin", summary: "hold an environment's service at the digest it runs: ci and promote leave it alone (report JSON)",
		scoped: true, digest: "the digest the environment must be running (a guard; default: whatever it runs)",
		apply: func(ctx context.Context, o promote.StateOptions, env, service, digest string) (*report.Report, error) {
			return promote.Pin(ctx, o, env, service, digest)
		},
	},
	{
		name: "unpin", summary: "release a pin: ci and promote may change the service again (report JSON)",
		scoped: true,
		apply: func(ctx context.Context, o promote.StateOptions, env, service, _ string) (*report.Report, error) {
			return promote.Unpin(ctx, o, env, service)
		},
	},
	{
		name: "reject", summary: "denylist a digest: never deployed or promoted again (report JSON)",
		digest: "digest to denylist, sha256:... or repository@sha256:...", required: []string{"digest", "reason"},
		apply: func(ctx context.Context, o promote.StateOptions, _, _, digest string) (*report.Report, error) {
			return promote.Reject(ctx, o, digest)
		},
	},
}

func init() {
	for _, v := range stateVerbs {
		register(v.name, v.summary, v.run)
	}
}

// run parses the verb's flags, opens the GitOps repository and applies it.
func (v stateVerb) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(v.name, stderr)
	g := addGitopsFlags(fs)
	values := map[string]*string{}
	str := func(name, help string) {
		for _, r := range v.required {
			if r == name {
				help += " (required)"
			}
		}
		values[name] = fs.String(name, "", help)
	}
	required := v.required
	if v.scoped {
		str("env", "environment (required)")
		str("service", "service (required)")
		required = append([]string{"env", "service"}, required...)
	}
	if v.digest != "" {
		str("digest", v.digest)
	}
	str("reason", "why, recorded in the state file")
	by := fs.String("by", "", "who, recorded in the state file (default: $GITHUB_ACTOR, else $USER)")
	dryRun := fs.Bool("dry-run", false, "print the state file's diff, write nothing")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	get := func(name string) string {
		if p := values[name]; p != nil {
			return *p
		}
		return ""
	}
	for _, name := range required {
		if get(name) == "" {
			return fmt.Errorf("%w: -%s are required", errUsage, strings.Join(required, " and -"))
		}
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	o := promote.StateOptions{Config: cfg, RepoURL: url, GitOptions: gopts, Reason: get("reason"), By: actor(*by), DryRun: *dryRun}
	rep, err := v.apply(ctx, o, get("env"), get("service"), get("digest"))
	return finishReport(rep, err, *out, stdout, stderr)
}
