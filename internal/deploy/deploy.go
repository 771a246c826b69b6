// Package deploy writes published images into one environment of the GitOps
// repository. Before anything is written it checks what it is about to
// point the environment at: every digest must exist in the registry, and in
// an environment that requires signatures every image must carry a valid
// signature by the project's key. Then it makes one commit (or pull request)
// for the whole environment, or none when nothing changes.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
	"github.com/slipwayci/slipway/internal/wire"
)

// Change is one service's image to deploy: by digest, or by a tag that is
// resolved to its digest first. The tag written next to the digest is Tag,
// or Options.SourceCommit when Tag is empty. It is the module's hand-off
// type, defined once in internal/wire.
type Change = wire.Change

// Options describe one deployment.
type Options struct {
	// Config is the repository's configuration (environments, services,
	// GitOps layout).
	Config *config.Config
	// Environment to write.
	Environment string
	// Changes to write.
	Changes []Change
	// SourceCommit the images were built from (commit message, image tag,
	// pull request).
	SourceCommit string
	// SourceURL is the source repository's web address, for links to the
	// source commit in pull requests (optional).
	SourceURL string
	// DryRun computes the diff and writes nothing.
	DryRun bool
	// Registry checks that every digest exists (and resolves tags).
	Registry *registry.Client
	// Verifier checks signatures; required for environments with
	// requireSignature.
	Verifier *signing.Verifier
	// RepoURL is the GitOps repository (URL or local path).
	RepoURL string
	// GitOptions carry auth, author and the pull-request client.
	GitOptions []gitops.Option
	// Held says what happens to a change that the state file in the GitOps
	// repository (state.Path) holds back: its digest is denylisted, or the
	// service is pinned in the environment to another digest. The state is
	// read from the very tip each commit is made on, so a pin or rejection
	// that lands meanwhile is honoured. HeldSkip, the zero value, leaves those
	// services as they are, writes the others and lists them in
	// Deployment.Held; HeldRefuse fails the deployment with ErrHeld and
	// writes nothing.
	Held HeldPolicy
	// EditState, when set, changes the state file in the same commit as the
	// images (a rollback pins what it deploys); the changes are checked
	// against the edited state. It runs once per attempt, on a fresh read.
	EditState func(*state.State) error
	// Note is a paragraph added to the commit message and pull request.
	Note string
	// Complete says Changes are every service the environment deploys
	// (gitops.Request.Complete).
	Complete bool
}

// HeldPolicy is what Run does with changes the state file holds back.
type HeldPolicy int

const (
	// HeldSkip leaves held services as they are and deploys the others.
	HeldSkip HeldPolicy = iota
	// HeldRefuse fails the whole deployment when any change is held.
	HeldRefuse
)

// ErrHeld means the state file (a pin or the denylist) holds a change back.
var ErrHeld = errors.New("held back by the slipway state")

// ErrUnverified means an image may not be deployed to the environment.
var ErrUnverified = errors.New("image cannot be deployed")

// Layout translates the configuration into the GitOps layout.
func Layout(cfg *config.Config) gitops.Layout {
	g := cfg.Project.GitOps
	l := gitops.Layout{
		Directory:         path.Join(g.Path, g.Overlay),
		Branch:            g.Branch,
		PullRequestBranch: g.PullRequestBranch,
		Services:          map[string]gitops.Target{},
		Environments:      map[string]gitops.Environment{},
	}
	for _, s := range cfg.Services {
		t := gitops.Target{Kind: gitops.Kind(s.Deploy.Kind), File: s.Deploy.File, Image: s.Deploy.ImageName, Create: s.Deploy.Create}
		if s.Deploy.Kind == "helm" {
			t.Path = s.Deploy.Key
		}
		l.Services[s.Name] = t
	}
	for _, e := range cfg.Project.Environments {
		env := gitops.Environment{PullRequest: e.Mode == "pull-request"}
		if e.Directory != "" {
			env.Directory = path.Join(g.Path, e.Directory)
		}
		l.Environments[e.Name] = env
	}
	return l
}

// Check resolves and verifies every change without writing anything: the
// digest exists in the registry and, when the environment requires it, is
// signed by the project's key. It returns the changes with digests.
func Check(ctx context.Context, o Options) ([]Change, error) {
	env, err := o.Config.Environment(o.Environment)
	if err != nil {
		return nil, err
	}
	if len(o.Changes) == 0 {
		return nil, fmt.Errorf("environment %s: nothing to deploy", env.Name)
	}
	if env.RequireSignature && o.Verifier == nil {
		return nil, fmt.Errorf("environment %s requires signed images (slipway.yaml: environments[%s].requireSignature) but no signing key or public key was given: %w", env.Name, env.Name, ErrUnverified)
	}
	out := make([]Change, 0, len(o.Changes))
	for _, c := range o.Changes {
		s, err := o.Config.Service(c.Service)
		if err != nil {
			return nil, err
		}
		if !s.DeploysTo(env.Name) {
			return nil, fmt.Errorf("service %s is not deployed to %s (%s: deploy.environments)", s.Name, env.Name, s.File)
		}
		if c.Repository == "" {
			return nil, fmt.Errorf("service %s: no image repository", s.Name)
		}
		ref := c.Repository + "@" + c.Digest
		byTag := c.Digest == ""
		if byTag {
			if c.Tag == "" {
				c.Tag = o.SourceCommit
			}
			if c.Tag == "" {
				return nil, fmt.Errorf("service %s: neither a digest nor a tag to deploy", s.Name)
			}
			d, err := o.Registry.Resolve(ctx, c.Repository+":"+c.Tag)
			if err != nil {
				return nil, fmt.Errorf("service %s: resolving %s:%s (was it published for this commit?): %w", s.Name, c.Repository, c.Tag, err)
			}
			c.Digest, ref = d.DigestStr(), d.String()
		} else {
			ok, err := o.Registry.Exists(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("service %s: checking %s: %w", s.Name, ref, err)
			}
			if !ok {
				return nil, fmt.Errorf("service %s: %s is not in the registry; refusing to point %s at a missing image: %w", s.Name, ref, env.Name, ErrUnverified)
			}
		}
		if env.RequireSignature {
			// The signature must be this service's: a valid signature of
			// another service's image does not let it run as this one. An
			// image found through a tag must also be signed for that
			// commit: whoever can move a tag in the registry must not be
			// able to deploy an older signed image of the service under a
			// newer commit.
			want := map[string]string{signing.AnnotationService: s.Name}
			if byTag {
				want[signing.AnnotationSourceCommit] = c.Tag
			}
			if _, err := o.Verifier.Verify(ctx, ref, want); err != nil {
				return nil, fmt.Errorf("service %s: environment %s requires a valid signature of service %s: %w", s.Name, env.Name, s.Name, errors.Join(ErrUnverified, err))
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

// Run checks the changes and writes them: one commit or pull request, none
// when the environment already runs these digests.
func Run(ctx context.Context, o Options) (*report.Deployment, error) {
	changes, err := Check(ctx, o)
	if err != nil {
		return nil, err
	}
	repo, err := gitops.Clone(ctx, o.RepoURL, o.GitOptions...)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	var gc []gitops.Change
	for _, c := range changes {
		tag := c.Tag
		if tag == "" {
			tag = o.SourceCommit
		}
		image := c.Repository
		if c.Image != "" {
			image = c.Image
		}
		gc = append(gc, gitops.Change{Service: c.Service, Image: image, Tag: tag, Digest: c.Digest})
	}
	var held map[string]string
	prepare := func(dir string, in []gitops.Change) ([]gitops.Change, []gitops.FileUpdate, error) {
		held = nil
		st, err := state.Read(dir, state.Path(o.Config))
		if err != nil {
			return nil, nil, err
		}
		if o.EditState != nil {
			if err := o.EditState(st); err != nil {
				return nil, nil, fmt.Errorf("environment %s: %w", o.Environment, err)
			}
		}
		var keep []gitops.Change
		for _, c := range in {
			reason, ok := st.Hold(o.Environment, c.Service, c.Digest)
			if !ok {
				keep = append(keep, c)
				continue
			}
			if o.Held == HeldRefuse {
				return nil, nil, fmt.Errorf("service %s: not deploying %s to %s: %w: %s (%s)", c.Service, c.Digest, o.Environment, ErrHeld, reason, state.Path(o.Config))
			}
			if held == nil {
				held = map[string]string{}
			}
			held[c.Service] = reason
		}
		u, err := st.Update()
		if err != nil || u.Path == "" {
			return keep, nil, err
		}
		return keep, []gitops.FileUpdate{u}, nil
	}
	res, err := repo.Update(ctx, Layout(o.Config), gitops.Request{Environment: o.Environment, Changes: gc, SourceCommit: o.SourceCommit, SourceURL: o.SourceURL, DryRun: o.DryRun, Prepare: prepare, Note: o.Note, Complete: o.Complete})
	if err != nil {
		if le := (*gitops.LocatedError)(nil); errors.As(err, &le) && le.Environment == o.Environment {
			return nil, err // already names the environment, service and file
		}
		return nil, fmt.Errorf("environment %s: %w", o.Environment, err)
	}
	var names []string
	for _, s := range res.Services {
		names = append(names, s.Service)
	}
	d := &report.Deployment{
		Environment: o.Environment,
		Services:    names,
		Changed:     res.Changed,
		Commit:      res.Commit,
		Branch:      res.Branch,
		Repository:  redact(o.RepoURL),
		Diff:        res.Diff,
		Held:        held,
	}
	if res.PullRequest != nil {
		d.PullRequest, d.PullRequestState = res.PullRequest.URL, res.PullRequest.State
		if res.PullRequestClosed {
			d.PullRequestState = "closed"
		}
	}
	return d, nil
}

// redact drops credentials from a URL for reports.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
			return u[:i+3] + rest[at+1:]
		}
	}
	return u
}
