package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
)

// gitopsChange is one image to write into an environment (the worker's
// deploy input).
type gitopsChange struct {
	Service    string `json:"service"`
	Repository string `json:"repository"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
}

// throwawayDir is where the throwaway GitOps repository lives (a cache
// volume, so successive runs see each other's commits).
const throwawayDir = "/var/lib/slipway-gitops"

// gitopsWorker is the worker with the GitOps repository wired in: the real
// one (credentials as secrets) or the throwaway one in a cache volume.
func (m *Slipway) gitopsWorker(reg *registryTarget, p *plan.Plan) (*dagger.Container, []string) {
	c := m.worker(reg).WithDirectory(srcMount, m.Source)
	args := []string{"--source", srcMount}
	repo := m.GitopsRepo
	if repo == "" {
		repo = p.Project.GitOps.Repo
	}
	if repo == "" {
		c = c.WithMountedCache(throwawayDir, dag.CacheVolume("slipway-gitops-"+p.Project.Name))
		args = append(args, "--throwaway", throwawayDir+"/repo.git")
	} else {
		args = append(args, "--repo", repo)
	}
	if m.GitopsBranch != "" {
		args = append(args, "--branch", m.GitopsBranch)
	}
	return c, args
}

// deploy writes images into one environment: one commit (or pull request),
// none when nothing changes.
func (m *Slipway) deploy(ctx context.Context, reg *registryTarget, p *plan.Plan, env string, changes []gitopsChange, dryRun bool) (*report.Deployment, error) {
	c, args := m.gitopsWorker(reg, p)
	b, err := json.Marshal(changes)
	if err != nil {
		return nil, err
	}
	c = c.WithNewFile(workDir+"/changes.json", string(b)).WithEnvVariable("SLIPWAY_RUN", runID())
	args = append([]string{toolBin, "deploy", "--env", env, "--changes", workDir + "/changes.json",
		"--commit", p.Commit, "--out", workDir + "/deploy.json"}, args...)
	args = append(args, reg.insecureArgs()...)
	if dryRun {
		args = append(args, "--dry-run")
	}
	r, err := mustExec(ctx, c, args)
	if err != nil {
		return nil, err
	}
	out, err := r.ctr.File(workDir + "/deploy.json").Contents(ctx)
	if err != nil {
		return nil, err
	}
	var d report.Deployment
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		return nil, fmt.Errorf("reading the worker's result: %w", err)
	}
	return &d, nil
}

// Deploy writes the images of a commit (default: the source's commit) into
// one environment of the GitOps repository, pinned by digest: one commit
// (or pull request, per the environment's mode), none when nothing changes.
// The images must already be published under the commit's tag.
// +cache="never"
func (m *Slipway) Deploy(
	ctx context.Context,
	// Environment to deploy to.
	env string,
	// Only these services (default: every service deployed to env).
	// +optional
	service []string,
	// Show the GitOps diff without writing anything.
	// +optional
	dryRun bool,
) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{services: service})
	if err != nil {
		return "", err
	}
	var changes []gitopsChange
	for _, s := range p.Services {
		if s.Selected && s.DeploysTo(env) {
			changes = append(changes, gitopsChange{Service: s.Name, Repository: s.Repository, Tag: p.Commit})
		}
	}
	if len(changes) == 0 {
		return "", fmt.Errorf("no service is deployed to %q (check deploy.environments in the services' service.yaml)", env)
	}
	d, err := m.deploy(ctx, reg, p, env, changes, dryRun)
	rep := &report.Report{Kind: "deploy", Project: p.Project.Name, Commit: p.Commit, DryRun: dryRun}
	if err != nil {
		rep.Error = err.Error()
		_ = m.saveReport(ctx, rep) // best effort: the error is what the caller needs
		return "", err
	}
	rep.Deployments = []report.Deployment{*d}
	if err := m.saveReport(ctx, rep); err != nil {
		rep.Notes = append(rep.Notes, "the report could not be saved for last-report: "+err.Error())
	}
	return rep.Text() + diffs(rep), nil
}

// diffs renders the GitOps diffs of a report for the terminal.
func diffs(r *report.Report) string {
	var b strings.Builder
	for _, d := range r.Deployments {
		if d.Diff != "" {
			fmt.Fprintf(&b, "\n--- gitops diff for %s ---\n%s", d.Environment, d.Diff)
			if !strings.HasSuffix(d.Diff, "\n") {
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}
