package promote

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

// applyArgs is the write phase of a promotion or rollback whose checks all
// passed.
type applyArgs struct {
	run        *run
	session    *session
	cfg        *config.Config
	env        config.Environment
	cands      []*candidate
	dryRun     bool
	reg        *registry.Client
	verifier   *signing.Verifier
	repoURL    string
	gitOptions []gitops.Option
	// note goes into the commit message.
	note string
	// sourceCommit names the GitOps change; "" picks the images' common
	// commit tag, else the GitOps commit that was read.
	sourceCommit string
	// editState changes the state file in the same commit (rollback).
	editState func(*state.State) error
	// complete: every service of the environment was considered (no
	// --service filter), so a pull request this run leaves with nothing to
	// do is superseded (gitops.Request.Complete).
	complete bool
	// countersign, when set, signs what changes before anything is written.
	countersign *countersigner
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// apply writes, in the order that keeps every reference honest: copies by
// digest (signatures and attestations before any tag), then the GitOps
// commit, then the environment tag. In a dry run it only reports.
func apply(ctx context.Context, a applyArgs) error {
	rn, env := a.run, a.env
	var changes []gitops.Change
	for _, c := range a.cands {
		changes = append(changes, gitops.Change{Service: c.service.Name, Image: c.dstRepo, Tag: writtenTag(c), Digest: c.src.Digest})
	}
	plan, err := a.session.plan(env.Name, changes)
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, su := range plan.Services {
		changed[su.Service] = su.Changed
	}
	var write []*candidate
	for _, c := range a.cands {
		c.changed = changed[c.service.Name]
		c.rep.Status = report.Unchanged
		if c.changed {
			c.rep.Status = report.Promoted
			write = append(write, c)
		}
	}
	if a.countersign != nil {
		if err := a.countersign.sign(ctx, rn, write, a.dryRun); err != nil {
			return err
		}
	}
	diff := plan.Diff()
	stateChanged := false
	if a.editState != nil {
		st, err := state.Read(a.session.repo.Dir(), a.session.state.File())
		if err != nil {
			return err
		}
		if err := a.editState(st); err != nil {
			return err
		}
		u, err := st.Update()
		if err != nil {
			return err
		}
		if u.Path != "" {
			stateChanged = true
			diff += gitops.UnifiedDiff(u.Path, u.Before, u.After)
		}
	}
	if len(write) == 0 && !stateChanged {
		rn.note("%s already runs every one of these digests: nothing to copy, tag or commit", env.Name)
		dep := report.Deployment{Environment: env.Name, Services: names(a.cands), Changed: false}
		if env.Mode == "pull-request" && !a.dryRun {
			// The environment runs these images: the GitOps write finds
			// nothing to change and settles its pull request (closed, its
			// branch deleted, when nothing in it is still wanted).
			var dc []deploy.Change
			for _, c := range a.cands {
				dc = append(dc, deploy.Change{Service: c.service.Name, Repository: c.dstRepo, Digest: c.src.Digest, Tag: writtenTag(c)})
			}
			d, err := deploy.Run(ctx, deploy.Options{
				Config: a.cfg, Environment: env.Name, Changes: dc, SourceCommit: sourceCommit(a.cands, a.session.tip),
				Registry: a.reg, Verifier: a.verifier, RepoURL: a.repoURL, GitOptions: a.gitOptions, Complete: a.complete,
			})
			if err != nil {
				rn.note("%s's pull request was left as it is: %v", env.Name, err)
			} else {
				dep = *d
			}
		}
		rn.rep.Deployments = append(rn.rep.Deployments, dep)
		return nil
	}
	// A rollback to what already runs still commits its pin.
	deployed := write
	if len(deployed) == 0 {
		deployed = a.cands
	}
	source := a.sourceCommit
	if source == "" {
		source = sourceCommit(deployed, a.session.tip)
	}
	if a.dryRun {
		for _, c := range write {
			if c.copies() {
				rn.note("would copy %s to %s with its signatures and attestations%s", c.srcRef(), c.dstRepo, tagNote(" and tag it %s", c.src.Tag))
			}
			rn.note("would tag %s as %s", c.dstRef(), env.Name)
			c.rep.Tags = plannedTags(c, env.Name)
		}
		rn.rep.Deployments = append(rn.rep.Deployments, report.Deployment{Environment: env.Name, Services: names(deployed), Changed: true, Diff: diff, Branch: plan.Branch})
		return nil
	}
	for _, c := range write {
		if !c.copies() {
			continue
		}
		if err := copyImage(ctx, a.reg, c); err != nil {
			c.rep.Status, c.rep.Stage, c.rep.Error = report.Failed, "copy", err.Error()
			return fmt.Errorf("service %s: %w", c.service.Name, err)
		}
	}
	var dc []deploy.Change
	for _, c := range deployed {
		dc = append(dc, deploy.Change{Service: c.service.Name, Repository: c.dstRepo, Digest: c.src.Digest, Tag: writtenTag(c)})
	}
	d, err := deploy.Run(ctx, deploy.Options{
		Config: a.cfg, Environment: env.Name, Changes: dc, SourceCommit: source,
		Registry: a.reg, Verifier: a.verifier, RepoURL: a.repoURL, GitOptions: a.gitOptions,
		Held: deploy.HeldRefuse, EditState: a.editState, Note: a.note, Complete: a.complete,
	})
	if err != nil {
		st, stage := report.Failed, "deploy"
		if errors.Is(err, deploy.ErrHeld) {
			// A pin or rejection landed after the checks: still a refusal.
			st, stage, err = report.Refused, "state", fmt.Errorf("%w: %w", ErrRefused, err)
		}
		for _, c := range write {
			c.rep.Status, c.rep.Stage, c.rep.Error = st, stage, err.Error()
			if c.copies() {
				rn.note("%s was copied to %s before the GitOps write failed; it is untagged there except for its commit tag", c.srcRef(), c.dstRepo)
			}
		}
		rn.rep.Deployments = append(rn.rep.Deployments, report.Deployment{Environment: env.Name, Services: names(deployed), Error: err.Error()})
		return err
	}
	rn.rep.Deployments = append(rn.rep.Deployments, *d)
	if env.Mode == "pull-request" && d.PullRequest != "" {
		rn.note("%s takes changes through pull requests: %s; the environment tag already points at what it proposes", env.Name, d.PullRequest)
	}
	for _, c := range write {
		if err := a.reg.Tag(ctx, c.dstRef(), env.Name); err != nil {
			c.rep.Stage, c.rep.Error = "tag", err.Error()
			return fmt.Errorf("service %s: the GitOps change is written, but moving the %s tag failed: %w", c.service.Name, env.Name, err)
		}
		c.rep.Tags = append(c.rep.Tags, env.Name)
	}
	return nil
}

// copyImage copies the image, then its signatures and attestations, then
// gives it its commit tag: a tag never names an image whose signature is
// not there yet.
func copyImage(ctx context.Context, reg *registry.Client, c *candidate) error {
	if _, err := reg.Copy(ctx, c.srcRef(), c.dstRepo); err != nil {
		return err
	}
	// A multi-platform index: each platform image's own signatures and
	// attestations too.
	for _, child := range c.children {
		if _, err := signing.CopySignatures(ctx, reg, child.Ref, c.dstRepo); err != nil {
			return fmt.Errorf("the %s image: %w", child.Platform, err)
		}
	}
	if _, err := signing.CopySignatures(ctx, reg, c.srcRef(), c.dstRepo); err != nil {
		return err
	}
	if tagRE.MatchString(c.src.Tag) {
		if err := reg.Tag(ctx, c.dstRef(), c.src.Tag); err != nil {
			return err
		}
		c.rep.Tags = append(c.rep.Tags, c.src.Tag)
	}
	return nil
}

// writtenTag is the tag written next to the digest in the manifests: the
// one the source runs it with.
func writtenTag(c *candidate) string {
	if tagRE.MatchString(c.src.Tag) {
		return c.src.Tag
	}
	return ""
}

func plannedTags(c *candidate, env string) []string {
	var t []string
	if c.copies() && tagRE.MatchString(c.src.Tag) {
		t = append(t, c.src.Tag)
	}
	return append(t, env)
}

func tagNote(format, tag string) string {
	if !tagRE.MatchString(tag) {
		return ""
	}
	return fmt.Sprintf(format, tag)
}

func names(cs []*candidate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.service.Name)
	}
	return out
}
