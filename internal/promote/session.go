package promote

import (
	"context"
	"fmt"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/state"
)

// session is a read-only view of the GitOps repository at one commit: the
// environments' manifests and the state file.
type session struct {
	repo   *gitops.Repo
	layout gitops.Layout
	tip    string
	state  *state.State
}

// open clones the GitOps repository and checks out the tip of the
// configured branch.
func open(ctx context.Context, url string, cfg *config.Config, opts []gitops.Option) (*session, error) {
	repo, err := gitops.Clone(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	s := &session{repo: repo, layout: deploy.Layout(cfg)}
	s.tip, err = repo.Checkout(ctx, cfg.Project.GitOps.Branch)
	if err != nil {
		repo.Close()
		return nil, err
	}
	s.state, err = state.Read(repo.Dir(), state.Path(cfg))
	if err != nil {
		repo.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) close() { s.repo.Close() }

// current returns the image service runs in env.
func (s *session) current(env, service string) (gitops.Current, error) {
	m, err := gitops.ReadImages(s.repo.Dir(), s.layout, env, []string{service})
	if err != nil {
		return gitops.Current{}, err
	}
	return m[service], nil
}

// plan computes, without writing, what pointing env at changes would do.
func (s *session) plan(env string, changes []gitops.Change) (*gitops.Plan, error) {
	p, err := gitops.PlanUpdate(s.repo.Dir(), s.layout, env, changes)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", env, err)
	}
	return p, nil
}
