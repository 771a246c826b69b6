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
)

// Change is one service's image to deploy: by digest, or by a tag that is
// resolved to its digest first.
type Change struct {
	Service    string `json:"service"`
	Repository string `json:"repository"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
}

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
	// pull-request branch).
	SourceCommit string
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
}

// ErrUnverified means an image may not be deployed to the environment.
var ErrUnverified = errors.New("image cannot be deployed")

// Layout translates the configuration into the GitOps layout.
func Layout(cfg *config.Config) gitops.Layout {
	g := cfg.Project.GitOps
	l := gitops.Layout{
		Directory:    path.Join(g.Path, g.Overlay),
		Branch:       g.Branch,
		Services:     map[string]gitops.Target{},
		Environments: map[string]gitops.Environment{},
	}
	for _, s := range cfg.Services {
		t := gitops.Target{Kind: gitops.Kind(s.Deploy.Kind), File: s.Deploy.File, Image: s.Deploy.ImageName}
		if s.Deploy.Kind == "helm" {
			t.Path = s.Deploy.Key
		}
		l.Services[s.Name] = t
	}
	for _, e := range cfg.Project.Environments {
		l.Environments[e.Name] = gitops.Environment{PullRequest: e.Mode == "pull-request"}
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
		if c.Digest == "" {
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
			if _, err := o.Verifier.Verify(ctx, ref, nil); err != nil {
				return nil, fmt.Errorf("service %s: environment %s requires a valid signature: %w", s.Name, env.Name, errors.Join(ErrUnverified, err))
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
	var names []string
	for _, c := range changes {
		gc = append(gc, gitops.Change{Service: c.Service, Image: c.Repository, Tag: o.SourceCommit, Digest: c.Digest})
		names = append(names, c.Service)
	}
	res, err := repo.Update(ctx, Layout(o.Config), gitops.Request{Environment: o.Environment, Changes: gc, SourceCommit: o.SourceCommit, DryRun: o.DryRun})
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", o.Environment, err)
	}
	d := &report.Deployment{
		Environment: o.Environment,
		Services:    names,
		Changed:     res.Changed,
		Commit:      res.Commit,
		Branch:      res.Branch,
		Repository:  redact(o.RepoURL),
		Diff:        res.Diff,
	}
	if res.PullRequest != nil {
		d.PullRequest = res.PullRequest.URL
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
