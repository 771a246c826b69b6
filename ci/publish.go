package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
)

// publishArgs are the flags every publishing worker command shares.
// A fresh build gets every tag of the plan (the full SHA and the sortable
// branch tag); a reused image only the full SHA, so that rerunning a commit
// does not add a new timestamped tag each time.
func (m *Slipway) publishArgs(reg *registryTarget, p *plan.Plan, s plan.Service, tags []string) []string {
	args := []string{"--repo", s.Repository, "--service", s.Name, "--commit", p.Commit,
		"--input-digest", s.Inputs.Digest, "--out", workDir + "/result.json"}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	return append(args, reg.insecureArgs()...)
}

// publish pushes img by digest, signs it when a key was given, and only then
// tags it: no tag ever points at an unsigned image of a signed pipeline.
func (m *Slipway) publish(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service, img *dagger.Container) (*report.Service, error) {
	args := append([]string{toolBin, "publish", "--tarball", workDir + "/image.tar"}, m.publishArgs(reg, p, s, p.Tags())...)
	c := m.worker(reg).
		WithMountedFile(workDir+"/image.tar", img.AsTarball()).
		WithEnvVariable("SLIPWAY_RUN", runID())
	return m.runPublish(ctx, c, args)
}

// retag gives an image already built from the same inputs this commit's
// tags (after checking its signature when signing is on).
func (m *Slipway) retag(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service) (*report.Service, error) {
	args := append([]string{toolBin, "retag", "--ref", s.Existing}, m.publishArgs(reg, p, s, []string{p.Commit})...)
	c := m.worker(reg).WithEnvVariable("SLIPWAY_RUN", runID())
	return m.runPublish(ctx, c, args)
}

func (m *Slipway) runPublish(ctx context.Context, c *dagger.Container, args []string) (*report.Service, error) {
	r, err := mustExec(ctx, c, args)
	if err != nil {
		return nil, err
	}
	b, err := r.ctr.File(workDir + "/result.json").Contents(ctx)
	if err != nil {
		return nil, err
	}
	var out report.Service
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		return nil, fmt.Errorf("reading the worker's result: %w", err)
	}
	return &out, nil
}
