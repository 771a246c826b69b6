package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Prepare is a hook of Request, run on every attempt of Update once the
// clone is reset to the tip of the environment's branch and before the plan
// is computed, with the checkout's directory. It returns the changes to plan
// (it may drop some: a service pinned in a state file read from dir) and
// further files to write in the same commit (a state file); files whose
// After equals their Before are ignored. An error aborts the update with
// nothing written.
type Prepare func(dir string, changes []Change) ([]Change, []FileUpdate, error)

// FileEditor computes, from a checkout of the branch tip at dir, the files
// to write. CommitFiles runs it again on every attempt, so that it edits
// the newest version of each file.
type FileEditor func(dir string) ([]FileUpdate, error)

// ErrFileConflict means two edits of one update want to write the same file.
var ErrFileConflict = errors.New("file written twice in one update")

// addFiles adds extra file updates to the plan, skipping the unchanged
// ones, keeping Files in path order.
func (p *Plan) addFiles(extra []FileUpdate) error {
	for _, f := range extra {
		if bytes.Equal(f.Before, f.After) {
			continue
		}
		if err := checkRel(f.Path); err != "" {
			return fmt.Errorf("writing %s: %s", f.Path, err)
		}
		for _, g := range p.Files {
			if g.Path == f.Path {
				return fmt.Errorf("%w: %s", ErrFileConflict, f.Path)
			}
		}
		p.Files = append(p.Files, f)
	}
	slices.SortFunc(p.Files, func(a, b FileUpdate) int { return strings.Compare(a.Path, b.Path) })
	return nil
}

// Checkout fetches branch and resets the clone's working tree to its tip,
// returning the tip's commit id. Read files with Dir afterwards.
func (r *Repo) Checkout(ctx context.Context, branch string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !validBranch(branch) {
		return "", fmt.Errorf("checking out %q: not a valid branch name", branch)
	}
	tip, err := r.fetch(ctx, branch)
	if err != nil {
		return "", err
	}
	if err := r.reset(branch, tip); err != nil {
		return "", err
	}
	return tip.String(), nil
}

// CommitFiles commits the files edit returns directly onto branch (never
// through a pull request) with message, in the same cycle as Update: fetch
// the branch, reset the clone to its tip, edit, commit, push; a push
// rejected because the branch moved is retried from the fetch with backoff,
// at most WithMaxAttempts times, running edit again on the new tip. When
// edit changes nothing, nothing is committed or pushed. dryRun computes the
// diff and writes nothing. Errors before the push leave the remote
// untouched.
func (r *Repo) CommitFiles(ctx context.Context, branch, message string, edit FileEditor, dryRun bool) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !validBranch(branch) {
		return nil, fmt.Errorf("committing to %q: not a valid branch name", branch)
	}
	if strings.TrimSpace(message) == "" {
		return nil, errors.New("committing: empty commit message")
	}
	res := &Result{Branch: branch, Base: branch, DryRun: dryRun}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		base, err := r.fetch(ctx, branch)
		if err != nil {
			return res, err
		}
		if err := r.reset(branch, base); err != nil {
			return res, err
		}
		files, err := edit(r.dir)
		if err != nil {
			return res, err
		}
		plan := &Plan{Branch: branch}
		if err := plan.addFiles(files); err != nil {
			return res, err
		}
		res.Changed, res.Diff = plan.Changed(), plan.Diff()
		if !plan.Changed() || dryRun {
			return res, nil
		}
		res.Message = message
		commit, err := r.commit(plan, message)
		if err != nil {
			r.reset(branch, base)
			return res, err
		}
		if r.o.beforePush != nil {
			r.o.beforePush(attempt)
		}
		err = r.push(ctx, branch, false)
		if err == nil {
			res.Commit, res.Pushed = commit.String(), true
			return res, nil
		}
		if !retryable(err) {
			r.reset(branch, base)
			return res, err
		}
		if attempt >= r.o.maxAttempts {
			r.reset(branch, base)
			return res, fmt.Errorf("updating %s on %s: %w: gave up after %d attempts: %w", branch, r.display, ErrConflict, attempt, err)
		}
		if err := sleep(ctx, r.o.backoff(attempt)); err != nil {
			r.reset(branch, base)
			return res, fmt.Errorf("updating %s on %s: %w", branch, r.display, err)
		}
	}
}
