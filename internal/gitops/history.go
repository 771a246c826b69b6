package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

// Contains fetches branch and reports whether commit is ancestor or
// descends from it: a controller that applied a later commit of the
// branch has applied ancestor too.
func (r *Repo) Contains(ctx context.Context, branch, ancestor, commit string) (bool, error) {
	if ancestor == commit {
		return true, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.fetch(ctx, branch); err != nil {
		return false, err
	}
	a, err := r.repo.CommitObject(plumbing.NewHash(ancestor))
	if err != nil {
		return false, fmt.Errorf("GitOps commit %s: %w", ancestor, err)
	}
	c, err := r.repo.CommitObject(plumbing.NewHash(commit))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, nil // not on the branch: another history
	}
	if err != nil {
		return false, fmt.Errorf("GitOps commit %s: %w", commit, err)
	}
	return a.IsAncestor(c)
}

// Ran is an image an environment ran, and the GitOps commit that wrote it.
type Ran struct {
	Image  edit.Image
	Commit string
}

// ImageHistory walks the checked-out branch from its tip back (at most
// limit commits) and returns, newest first, each distinct image service
// ran in env: the image the file held after each commit that changed it.
func (r *Repo) ImageHistory(ctx context.Context, layout Layout, env, service string, limit int) ([]Ran, error) {
	res, err := layout.Resolve(env, service)
	if err != nil {
		return nil, err
	}
	res.Create = false
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.repo.Head()
	if err != nil {
		return nil, fmt.Errorf("reading the GitOps history: %w", err)
	}
	iter, err := r.repo.Log(&git.LogOptions{From: head.Hash(), PathFilter: func(p string) bool { return p == res.File }})
	if err != nil {
		return nil, fmt.Errorf("reading the GitOps history of %s: %w", res.File, err)
	}
	defer iter.Close()
	var out []Ran
	seen := map[string]bool{}
	for n := 0; n < limit; n++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		c, err := iter.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("reading the GitOps history of %s: %w", res.File, err)
		}
		img, ok := imageAt(c, res)
		if !ok || img.Digest == "" || seen[img.Digest] {
			continue
		}
		seen[img.Digest] = true
		out = append(out, Ran{Image: img, Commit: c.Hash.String()})
	}
	return out, nil
}

// imageAt reads the image res locates in commit c's version of its file.
func imageAt(c *object.Commit, res Resolved) (edit.Image, bool) {
	f, err := c.File(res.File)
	if err != nil {
		return edit.Image{}, false
	}
	src, err := f.Contents()
	if err != nil {
		return edit.Image{}, false
	}
	out, err := res.apply([]byte(src), edit.Image{Digest: probeDigest})
	if err != nil {
		return edit.Image{}, false
	}
	return out.Old, true
}
