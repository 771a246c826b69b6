package promote

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/gitops/edit"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

// RollbackOptions describe one rollback.
type RollbackOptions struct {
	// Config is the repository's configuration.
	Config *config.Config
	// Environment and Service to roll back.
	Environment, Service string
	// Target is what to roll back to: a commit SHA (full, or a unique
	// prefix of at least 7 characters) whose tag names the image, or a
	// digest (sha256:..., or repository@sha256:... to look in another
	// repository).
	Target string
	// SourceRegistry is the registry address to find Target in; default:
	// the repository the environment runs the service from.
	SourceRegistry string
	// TargetRegistry is as in Options; default: the repository the
	// environment runs the service from.
	TargetRegistry string
	// Reason and By are recorded in the pin.
	Reason, By string
	// DryRun checks everything and reports the GitOps diff (images and
	// pin), writing nothing.
	DryRun bool
	// Registry, Verifier, Scanner, RepoURL and GitOptions are as in Options.
	Registry   *registry.Client
	Verifier   *signing.Verifier
	Scanner    Scanner
	RepoURL    string
	GitOptions []gitops.Option
	// SourceURL and Ignores are as in Options.
	SourceURL string
	Ignores   IgnoreLoader
}

// Rollback points Environment's Service back at Target after the same checks
// a promotion into Environment makes (denylist, existence, signature,
// attestations, re-scan; a pin does not stop a rollback, which replaces it),
// and pins the service to that digest in the same commit, so that `ci` and
// promotions leave it alone until Unpin. Rolling back to what already runs
// only writes the pin; when that pin is there too, nothing is written.
func Rollback(ctx context.Context, o RollbackOptions) (*report.Report, error) {
	rn := newRun(report.Rollback, o.Config, o.DryRun)
	defer rn.finish()
	rep := rn.rep
	switch {
	case o.Config == nil:
		return rep, errors.New("rollback: no configuration")
	case o.Registry == nil:
		return rep, errors.New("rollback: no registry client")
	case o.RepoURL == "":
		return rep, errors.New("rollback: no GitOps repository")
	case o.Environment == "" || o.Service == "" || o.Target == "":
		return rep, errors.New("rollback: the environment, the service and the target (commit SHA or digest) are needed")
	}
	cfg := o.Config
	env, svc, err := lookup(cfg, o.Environment, o.Service)
	if err != nil {
		return rep, refused(rep, o.Environment, err)
	}
	s, err := open(ctx, o.RepoURL, cfg, o.GitOptions)
	if err != nil {
		return rep, err
	}
	defer s.close()
	c := &candidate{service: svc, rep: rn.add(svc.Name), run: rn}
	cur, err := s.current(env.Name, svc.Name)
	if err != nil {
		c.refuse("read", fmt.Errorf("%w: %w", ErrUnknown, err))
		return rep, rn.allOrNothing()
	}
	c.dstRepo = cur.Image.Name
	switch {
	case o.TargetRegistry != "":
		c.dstRepo = cfg.Project.ImageRepository(o.TargetRegistry, svc)
	case !hasRegistry(c.dstRepo) && cfg.Project.Registry.Address != "":
		c.dstRepo = cfg.Project.ImageRepository(cfg.Project.Registry.Address, svc)
	case !hasRegistry(c.dstRepo):
		c.refuse("read", fmt.Errorf("%w: %s runs %q (%s %s), which names no registry; pass the registry to roll back from", ErrNotDeployed, env.Name, cur.Image, cur.File, cur.Key))
		return rep, rn.allOrNothing()
	}
	srcRepo := c.dstRepo
	if o.SourceRegistry != "" {
		srcRepo = cfg.Project.ImageRepository(o.SourceRegistry, svc)
	}
	img, err := resolveTarget(ctx, o.Registry, o.Verifier, svc, srcRepo, o.Target)
	if err != nil {
		c.refuse("resolve", err)
		return rep, rn.allOrNothing()
	}
	c.src = img
	c.rep.Repository, c.rep.Digest = c.dstRepo, img.Digest
	rn.note("rolling %s in %s back from %s to %s", svc.Name, env.Name, orNone(cur.Image.Digest), img.Digest)
	ch := &checker{reg: o.Registry, verifier: o.Verifier, scanner: o.Scanner, env: env, state: s.state, ignorePin: true, sourceURL: o.SourceURL, ignores: o.Ignores}
	if stage, err := ch.check(ctx, c); err != nil {
		c.refuse(stage, err)
	}
	if o.Scanner == nil {
		rn.note("not re-scanned: no scanner was given, so %s was not checked against %s's vulnerability policy (failOn %s)", img.Digest, env.Name, env.Policy.FailOn)
	}
	if err := rn.allOrNothing(); err != nil {
		return rep, err
	}
	if c.src.Tag == "" && o.Verifier != nil {
		c.src.Tag = signedCommit(ctx, o.Verifier, c)
	}
	reason := o.Reason
	if reason == "" {
		reason = "rollback to " + o.Target
	}
	pin := state.Pin{Environment: env.Name, Service: svc.Name, Digest: img.Digest, Image: c.dstRepo, Reason: reason, By: o.By, At: time.Now(), SourceCommit: commitOf(c.src.Tag)}
	if old, ok := s.state.Pinned(env.Name, svc.Name); ok && old.Digest != img.Digest {
		rn.note("replaces the pin of %s in %s to %s", svc.Name, env.Name, old.Digest)
	}
	err = apply(ctx, applyArgs{
		run: rn, session: s, cfg: cfg, env: env, cands: []*candidate{c}, dryRun: o.DryRun,
		reg: o.Registry, verifier: o.Verifier, repoURL: o.RepoURL, gitOptions: o.GitOptions,
		sourceCommit: commitOf(c.src.Tag),
		note:         fmt.Sprintf("Rolled back by slipway rollback and pinned: ci and promote leave %s in %s alone until `slipway unpin --env %s --service %s`.", svc.Name, env.Name, env.Name, svc.Name),
		editState: func(st *state.State) error {
			_, err := st.SetPin(pin)
			return err
		},
	})
	if err == nil {
		verb := "pinned"
		if o.DryRun {
			verb = "would pin"
		}
		rn.note("%s %s in %s to %s until `slipway unpin --env %s --service %s`", verb, svc.Name, env.Name, img.Digest, env.Name, svc.Name)
	}
	return rep, err
}

// lookup finds the environment and the service and checks that the service
// is deployed there.
func lookup(cfg *config.Config, envName, service string) (config.Environment, config.Service, error) {
	env, err := cfg.Environment(envName)
	if err != nil {
		return env, config.Service{}, fmt.Errorf("%w: %w", ErrUnknown, err)
	}
	svc, err := cfg.Service(service)
	if err != nil {
		return env, svc, fmt.Errorf("%w: %w", ErrUnknown, err)
	}
	if !svc.DeploysTo(env.Name) {
		return env, svc, fmt.Errorf("%w: service %s is not deployed to %s (%s: deploy)", ErrUnknown, svc.Name, env.Name, serviceFile(svc))
	}
	return env, svc, nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// resolveTarget turns a rollback target into the image to deploy: a digest
// as it is; a commit SHA (or a unique prefix) through the signatures of
// svc's images in repo that record it (dev.slipway.source-commit), never
// through the commit tag alone, which anyone who can push may move.
func resolveTarget(ctx context.Context, reg *registry.Client, v *signing.Verifier, svc config.Service, repo, target string) (edit.Image, error) {
	if r, d, ok := strings.Cut(target, "@"); ok {
		repo, target = r, d
	}
	switch {
	case state.ValidDigest(target):
		return edit.Image{Name: repo, Digest: target}, nil
	case strings.HasPrefix(target, "sha256:"):
		return edit.Image{}, fmt.Errorf("%w: %q is not a digest (sha256:<64 hex>)", ErrUnknown, target)
	case !hexRE.MatchString(target):
		return edit.Image{}, fmt.Errorf("%w: %q is neither a commit SHA (7 to 40 hex characters) nor a digest (sha256:...)", ErrUnknown, target)
	}
	if v == nil {
		return edit.Image{}, fmt.Errorf("%w: a commit is resolved through the signatures of %s's images that record it (dev.slipway.source-commit), and no public key was given; pass the key, or roll back to a digest", ErrUnverified, svc.Name)
	}
	want := map[string]string{signing.AnnotationService: svc.Name}
	// The common case: the commit tag points at an image whose signature
	// names this service and this very commit.
	if commitRE.MatchString(target) {
		if d, err := reg.Resolve(ctx, repo+":"+target); err == nil {
			w := map[string]string{signing.AnnotationService: svc.Name, signing.AnnotationSourceCommit: target}
			if _, err := v.Verify(ctx, repo+"@"+d.DigestStr(), w); err == nil {
				return edit.Image{Name: repo, Tag: target, Digest: d.DigestStr()}, nil
			}
		}
	}
	// Otherwise every signed image of the repository is a candidate.
	tags, err := reg.ListTags(ctx, repo)
	if err != nil {
		return edit.Image{}, fmt.Errorf("%w: listing the signatures in %s to find commit %s: %w", ErrUnverified, repo, target, err)
	}
	type hit struct{ digest, commit string }
	var hits []hit
	commits := map[string]bool{}
	for _, t := range tags {
		m := sigTagRE.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		digest := "sha256:" + m[1]
		sigs, err := v.Verify(ctx, repo+"@"+digest, want)
		if err != nil {
			continue // not signed by this key for this service
		}
		seen := map[string]bool{}
		for _, sg := range sigs {
			c := sg.Annotations[signing.AnnotationSourceCommit]
			if commitRE.MatchString(c) && strings.HasPrefix(c, target) && !seen[c] {
				seen[c] = true
				commits[c] = true
				hits = append(hits, hit{digest, c})
			}
		}
	}
	if len(commits) > 1 {
		var cs []string
		for c := range commits {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		return edit.Image{}, fmt.Errorf("%w: %s is ambiguous in %s (signed commits %s); give more characters", ErrUnknown, target, repo, strings.Join(cs, ", "))
	}
	if len(hits) == 0 {
		msg := fmt.Sprintf("no image in %s has a valid signature of service %s recording a commit starting %s (dev.slipway.source-commit); was it published and signed?", repo, svc.Name, target)
		if commitRE.MatchString(target) {
			if d, err := reg.Resolve(ctx, repo+":"+target); err == nil {
				msg += fmt.Sprintf(" The tag %s:%s points at %s, which no such signature vouches for: the tag was moved or the image is another service's or unsigned, so it is not rolled back to", repo, target, d.DigestStr())
			}
		}
		return edit.Image{}, fmt.Errorf("%w: %s", ErrUnverified, msg)
	}
	if len(hits) > 1 {
		var ds []string
		for _, h := range hits {
			ds = append(ds, h.digest)
		}
		sort.Strings(ds)
		return edit.Image{}, fmt.Errorf("%w: commit %s has several signed images of %s in %s (%s); roll back to one of the digests", ErrUnknown, hits[0].commit, svc.Name, repo, strings.Join(ds, ", "))
	}
	return edit.Image{Name: repo, Tag: hits[0].commit, Digest: hits[0].digest}, nil
}

// sigTagRE matches cosign's signature tags, sha256-<hex>.sig.
var sigTagRE = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.sig$`)

// signedCommit reads the source commit from a verified signature, "" when
// there is none.
func signedCommit(ctx context.Context, v *signing.Verifier, c *candidate) string {
	sigs, err := v.Verify(ctx, c.srcRef(), map[string]string{signing.AnnotationService: c.service.Name})
	if err != nil {
		return ""
	}
	for _, s := range sigs {
		if commit := s.Annotations[signing.AnnotationSourceCommit]; commitRE.MatchString(commit) {
			return commit
		}
	}
	return ""
}

func commitOf(tag string) string {
	if hexRE.MatchString(tag) {
		return tag
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(no digest)"
	}
	return s
}
