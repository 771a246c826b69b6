package state

import (
	"context"
	"fmt"

	"github.com/slipwayci/slipway/internal/gitops"
)

// Load clones the GitOps repository at repoURL and reads the state file
// (repository-relative path file) from the tip of branch. It also returns
// that tip's commit id.
func Load(ctx context.Context, repoURL, branch, file string, opts ...gitops.Option) (*State, string, error) {
	repo, err := gitops.Clone(ctx, repoURL, opts...)
	if err != nil {
		return nil, "", err
	}
	defer repo.Close()
	tip, err := repo.Checkout(ctx, branch)
	if err != nil {
		return nil, "", err
	}
	s, err := Read(repo.Dir(), file)
	if err != nil {
		return nil, "", err
	}
	return s, tip, nil
}

// Commit changes the state file in one commit pushed directly to branch:
// it reads the file from the branch tip, lets fn change it and commits the
// result with message; when fn changes nothing, nothing is committed. fn
// also gets the checkout's directory, to read the manifests at the same
// commit. A push that loses a race is retried from the new tip, running fn
// again, so that concurrent writers never overwrite each other's entries:
// fn must be safe to call more than once. dryRun returns the diff and
// writes nothing.
func Commit(ctx context.Context, repoURL, branch, file, message string, fn func(dir string, s *State) error, dryRun bool, opts ...gitops.Option) (*gitops.Result, error) {
	repo, err := gitops.Clone(ctx, repoURL, opts...)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	res, err := repo.CommitFiles(ctx, branch, message, func(dir string) ([]gitops.FileUpdate, error) {
		s, err := Read(dir, file)
		if err != nil {
			return nil, err
		}
		if err := fn(dir, s); err != nil {
			return nil, err
		}
		u, err := s.Update()
		if err != nil || u.Path == "" {
			return nil, err
		}
		return []gitops.FileUpdate{u}, nil
	}, dryRun)
	if err != nil {
		return res, fmt.Errorf("updating %s: %w", file, err)
	}
	return res, nil
}
