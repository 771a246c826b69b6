package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

// throwawayDir is where the throwaway GitOps repository lives (a cache
// volume, so successive runs see each other's commits).
const throwawayDir = "/var/lib/slipway-gitops"

// throwawayVolume names the cache volume of the project's throwaway GitOps
// repository. It is seeded once from gitops.path, so a project that moves
// its manifests elsewhere gets a new one seeded from the new place.
func throwawayVolume(p *plan.Plan) string {
	name := "slipway-gitops-" + p.Project.Name
	if gp := p.Project.GitOps.Path; gp != "deploy" {
		name += "-" + strings.NewReplacer("/", "-", ".", "_").Replace(gp)
	}
	return name
}

// throwaway reports whether GitOps writes go to the throwaway repository
// (no --gitops-repo, no gitops.repo).
func (m *Slipway) throwaway(p *plan.Plan) bool {
	return m.GitopsRepo == "" && p.Project.GitOps.Repo == ""
}

// refuseThrowawayInCI fails, before anything runs, a call in CI that would
// write into the throwaway GitOps repository: no cluster reads it, so the
// run would be green and have deployed nothing anywhere.
func (m *Slipway) refuseThrowawayInCI(p *plan.Plan, what string) error {
	if !m.InCI || m.GitopsThrowaway || !m.throwaway(p) {
		return nil
	}
	return fmt.Errorf("%s would write into the throwaway GitOps repository, which no cluster reads, and this run is in CI (--in-ci): "+
		"set gitops.repo in %s (or pass --gitops-repo, with --gitops-token or --gitops-ssh-key), or pass --gitops-throwaway to write there anyway",
		what, "slipway.yaml")
}

// gitopsWorker is the worker with the GitOps repository wired in: the real
// one (credentials as secrets) or the throwaway one in a cache volume.
func (m *Slipway) gitopsWorker(reg *registryTarget, p *plan.Plan) (*dagger.Container, []string) {
	c := m.workerFor(reg).WithDirectory(wire.SourceDir, m.Source)
	args := []string{"--source", wire.SourceDir}
	repo := m.GitopsRepo
	if repo == "" {
		repo = p.Project.GitOps.Repo
	}
	if repo == "" {
		c = c.WithMountedCache(throwawayDir, dag.CacheVolume(throwawayVolume(p)))
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
// complete: changes are every service the environment deploys (no
// --service filter).
func (m *Slipway) deploy(ctx context.Context, reg *registryTarget, p *plan.Plan, env string, changes []wire.Change, dryRun, complete bool) (*report.Deployment, error) {
	c, args := m.gitopsWorker(reg, p)
	b, err := json.Marshal(changes)
	if err != nil {
		return nil, err
	}
	args = append([]string{wire.WorkerBin, "deploy", "--env", env, "--changes", wire.ChangesFile,
		"--commit", p.Commit, "--out", wire.ResultFile}, args...)
	args = append(args, reg.insecureArgs()...)
	if dryRun {
		args = append(args, "--dry-run")
	}
	if m.SourceURL != "" {
		args = append(args, "--source-url", m.SourceURL)
	}
	if complete {
		args = append(args, "--complete")
	}
	d, _, err := runWorker(ctx, fresh(c.WithNewFile(wire.ChangesFile, string(b))), args, exitFails, decodeJSON[report.Deployment])
	return d, err
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
	// Then wait until the cluster runs it (as verify does; needs --kubeconfig
	// and the environment's cluster): the run fails if it does not.
	// +optional
	verify bool,
	// With --verify: when verification fails, roll each failed service back
	// to the last digest verified there and reject the failed digest.
	// +optional
	rollbackOnFailure bool,
) (string, error) {
	if rollbackOnFailure && !verify {
		return "", errors.New("--rollback-on-failure acts on a failed verification: add --verify")
	}
	reg, p, err := m.resolve(ctx, planOpts{services: service})
	if err != nil {
		return "", err
	}
	if !dryRun {
		if err := m.refuseThrowawayInCI(p, "deploy --env "+env); err != nil {
			return "", err
		}
	}
	var changes []wire.Change
	for _, s := range p.Services {
		if s.Selected && s.DeploysTo(env) {
			changes = append(changes, wire.Change{Service: s.Name, Repository: s.Repository, Tag: p.Commit})
		}
	}
	if len(changes) == 0 {
		return "", fmt.Errorf("no service is deployed to %q (check deploy.environments in the services' service.yaml)", env)
	}
	d, err := m.deploy(ctx, reg, p, env, changes, dryRun, len(service) == 0)
	rep := &report.Report{Kind: report.Deploy, Project: p.Project.Name, Commit: p.Commit, DryRun: dryRun}
	if err != nil {
		rep.Error = err.Error()
		_ = m.saveReport(ctx, rep) // best effort: the error is what the caller needs
		return "", err
	}
	rep.Deployments = []report.Deployment{*d}
	if verify && !dryRun {
		m.verifyDeployed(ctx, reg, p, rep, []string{env}, rollbackOnFailure, nil)
	}
	m.saveReportNoting(ctx, rep)
	out := rep.Text() + rep.Diffs()
	if !rep.OK() {
		return "", errors.New(out + rep.Failures())
	}
	return out, nil
}
