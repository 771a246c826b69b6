package gitops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/slipwayci/slipway/internal/forge"
)

// Sentinel errors of git writes.
var (
	// ErrAuth means the remote refused the credentials.
	ErrAuth = errors.New("authentication to the GitOps remote failed")
	// ErrConflict means the branch kept moving under us: every attempt's
	// push was rejected as non-fast-forward.
	ErrConflict = errors.New("the GitOps branch kept moving")
	// ErrNoBranch means the branch to update does not exist on the remote.
	ErrNoBranch = errors.New("branch not found on the GitOps remote")
	// ErrNoPullRequests means an environment wants pull requests but the
	// Repo has no pull-request client (WithPullRequests): no token for the
	// forge's API was given.
	ErrNoPullRequests = errors.New("pull-request mode needs the forge's API, and no token for it was given (--gitops-token)")
	// ErrSourceCommit means the source commit is malformed.
	ErrSourceCommit = errors.New("invalid source commit")
)

// PullRequester opens, updates and closes the pull request of a branch;
// *forge.Client is one, BranchOnly another.
type PullRequester interface {
	EnsurePullRequest(ctx context.Context, pr forge.NewPullRequest) (*forge.PullRequest, error)
	ClosePullRequest(ctx context.Context, head string) (*forge.PullRequest, error)
}

var _ PullRequester = (*forge.Client)(nil)

// BranchOnly is the pull-request client of a repository with no forge (the
// throwaway one): the pull request's branch is pushed, and no pull request
// is opened or closed.
type BranchOnly struct{}

// EnsurePullRequest opens nothing: it describes the branch.
func (BranchOnly) EnsurePullRequest(_ context.Context, pr forge.NewPullRequest) (*forge.PullRequest, error) {
	out := &forge.PullRequest{State: "branch only", Title: pr.Title}
	out.Head.Ref = pr.Head
	return out, nil
}

// ClosePullRequest closes nothing.
func (BranchOnly) ClosePullRequest(context.Context, string) (*forge.PullRequest, error) {
	return nil, nil
}

type options struct {
	auth        Auth
	dir         string
	authorName  string
	authorEmail string
	maxAttempts int
	backoffMin  time.Duration
	backoffMax  time.Duration
	pr          PullRequester
	// beforePush runs before every push; tests use it to race the push.
	beforePush func(attempt int)
}

// Option configures Clone.
type Option func(*options) error

// WithAuth sets the credentials for the remote.
func WithAuth(a Auth) Option {
	return func(o *options) error { o.auth = a; return nil }
}

// WithDirectory clones into dir, which must not exist or be empty; it is
// kept by Close. Default: a new temporary directory removed by Close.
func WithDirectory(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("WithDirectory: empty path")
		}
		o.dir = dir
		return nil
	}
}

// WithAuthor sets the author and committer of commits. Default
// "slipway <slipway@users.noreply.localhost>".
func WithAuthor(name, email string) Option {
	return func(o *options) error {
		if strings.TrimSpace(name) == "" || !strings.Contains(email, "@") || strings.ContainsAny(name+email, "<>\n") {
			return fmt.Errorf("WithAuthor: want a name and an email address, got %q <%q>", name, email)
		}
		o.authorName, o.authorEmail = name, email
		return nil
	}
}

// WithMaxAttempts bounds the fetch → reset → edit → commit → push cycle
// when pushes are rejected as non-fast-forward. Default 10.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 100 {
			return fmt.Errorf("WithMaxAttempts: %d is not in 1..100", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the pause before the second attempt (doubled for each
// later one, capped at max); each pause is jittered to between half and
// all of its value. Default 200ms, 5s.
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) error {
		if initial <= 0 || max < initial {
			return fmt.Errorf("WithBackoff: want 0 < initial <= max, got %s, %s", initial, max)
		}
		o.backoffMin, o.backoffMax = initial, max
		return nil
	}
}

// WithPullRequests sets the client that opens pull requests for
// environments in pull-request mode.
func WithPullRequests(p PullRequester) Option {
	return func(o *options) error {
		if p == nil {
			return errors.New("WithPullRequests: nil client")
		}
		o.pr = p
		return nil
	}
}

// Repo is a local clone of the GitOps repository that slipway writes
// through. Its methods are safe for concurrent use (they run one at a
// time); concurrent writers to one remote branch each use their own Repo.
type Repo struct {
	mu      sync.Mutex
	url     string
	display string
	dir     string
	ownDir  bool
	repo    *git.Repository
	o       options
}

// Clone clones the GitOps repository at url: https://… (with TokenAuth or
// BasicAuth), ssh://… or user@host:path (with SSHKeyAuth), or a local path
// or file:// URL.
func Clone(ctx context.Context, url string, opts ...Option) (*Repo, error) {
	o := options{
		authorName: "slipway", authorEmail: "slipway@users.noreply.localhost",
		maxAttempts: 10, backoffMin: 200 * time.Millisecond, backoffMax: 5 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Repo{url: url, display: redact(url), o: o, dir: o.dir}
	if r.dir == "" {
		d, err := os.MkdirTemp("", "slipway-gitops-*")
		if err != nil {
			return nil, err
		}
		r.dir, r.ownDir = d, true
	} else if ents, err := os.ReadDir(r.dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("cloning %s: directory %s is not empty", r.display, r.dir)
	}
	repo, err := git.PlainCloneContext(ctx, r.dir, false, &git.CloneOptions{
		URL: url, Auth: o.auth.method, Tags: git.NoTags,
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("cloning %s: %w", r.display, classify(err))
	}
	r.repo = repo
	return r, nil
}

// Dir is the clone's working tree.
func (r *Repo) Dir() string { return r.dir }

// Close removes the clone when Clone made its directory.
func (r *Repo) Close() error {
	if r.ownDir && r.dir != "" {
		return os.RemoveAll(r.dir)
	}
	return nil
}

// Request is one environment's update.
type Request struct {
	// Environment is the layout's environment to update.
	Environment string
	// Changes are the services' new images.
	Changes []Change
	// SourceCommit is the source repository's commit the images were built
	// from: named in the commit message and the pull request.
	SourceCommit string
	// SourceURL is the source repository's web address (https://…), for
	// links to the source commit in the pull request; optional.
	SourceURL string
	// DryRun computes the diff and writes nothing: no commit, no push, no
	// pull request, no change to the remote.
	DryRun bool
	// PullRequest opens a pull request even when the environment does not
	// ask for one.
	PullRequest bool
	// Complete says Changes are the environment's whole desired state
	// (every service it deploys). In pull-request mode, a complete run that
	// changes nothing closes the environment's pull request as superseded;
	// a partial one closes it only when the branch already holds it.
	Complete bool
	// Prepare, when set, runs on every attempt before the plan: it may drop
	// changes and add files to the same commit (see Prepare).
	Prepare Prepare
	// Note is a paragraph added to the commit message and pull-request
	// description (e.g. "Pinned: ...").
	Note string
}

// Result says what Update did.
type Result struct {
	Environment string `json:"environment"`
	// Branch is the branch written: the environment's branch, or the
	// pull-request branch.
	Branch string `json:"branch"`
	// Base is the environment's branch (the pull request's base).
	Base string `json:"base"`
	// Commit is the commit pushed (or, for a pull request whose branch
	// already held the same change, the one found there). Empty when
	// nothing changed or in a dry run.
	Commit string `json:"commit,omitempty"`
	// Changed is true when the environment's files had to change.
	Changed bool `json:"changed"`
	// Pushed is true when a push happened.
	Pushed bool `json:"pushed"`
	DryRun bool `json:"dryRun"`
	// Diff is the unified diff of the change.
	Diff     string          `json:"diff,omitempty"`
	Message  string          `json:"message,omitempty"`
	Services []ServiceUpdate `json:"services"`
	// Attempts counts fetch → edit → push cycles (1 without conflicts).
	Attempts    int                `json:"attempts"`
	PullRequest *forge.PullRequest `json:"pullRequest,omitempty"`
	// PullRequestClosed: the environment already held the change, and
	// its open pull request was closed.
	PullRequestClosed bool `json:"pullRequestClosed,omitempty"`
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// DefaultPullRequestBranch is the branch of an environment's pull request
// when the layout names none; {env} is the environment.
const DefaultPullRequestBranch = "slipway/{env}"

// PullRequestBranch is the branch an environment's one pull request is
// pushed from: the pattern (default DefaultPullRequestBranch) with {env}
// replaced. Every run force-pushes it, so the pull request always holds
// the newest change, whatever older runs put there.
func PullRequestBranch(pattern, env string) string {
	if pattern == "" {
		pattern = DefaultPullRequestBranch
	}
	return strings.ReplaceAll(pattern, "{env}", env)
}

// Update points one environment at new images in a single commit: fetch
// the environment's branch, reset the clone to it, edit the files, commit,
// push. A push rejected because the branch moved is retried from the fetch
// with backoff, at most WithMaxAttempts times, re-applying the edits on the
// new tip. When the files already hold the images nothing is committed or
// pushed. In pull-request mode the commit goes to the environment's one
// pull-request branch (PullRequestBranch), force-pushed over whatever an
// older run left there, and its pull request into the environment's branch
// is opened or updated; when the environment's branch already holds the
// images, that pull request is closed and its branch deleted. Errors
// before the push leave the remote untouched.
func (r *Repo) Update(ctx context.Context, layout Layout, req Request) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	env, err := layout.Env(req.Environment)
	if err != nil {
		return nil, err
	}
	if req.SourceCommit != "" && !shaRE.MatchString(req.SourceCommit) {
		return nil, fmt.Errorf("%w: %q is not a hex commit id", ErrSourceCommit, req.SourceCommit)
	}
	prMode := env.PullRequest || req.PullRequest
	res := &Result{Environment: req.Environment, Branch: env.Branch, Base: env.Branch, DryRun: req.DryRun}
	if prMode {
		if r.o.pr == nil && !req.DryRun {
			return nil, fmt.Errorf("environment %s is in pull-request mode (slipway.yaml: mode): %w", req.Environment, ErrNoPullRequests)
		}
		res.Branch = PullRequestBranch(layout.PullRequestBranch, req.Environment)
	}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		base, err := r.fetch(ctx, env.Branch)
		if err != nil {
			return res, err
		}
		if err := r.reset(res.Branch, base); err != nil {
			return res, err
		}
		changes, extra := req.Changes, []FileUpdate(nil)
		if req.Prepare != nil {
			if changes, extra, err = req.Prepare(r.dir, req.Changes); err != nil {
				return res, err
			}
		}
		plan, err := PlanUpdate(r.dir, layout, req.Environment, changes)
		if err != nil {
			return res, err
		}
		if err := plan.addFiles(extra); err != nil {
			return res, err
		}
		plan.Note = req.Note
		res.Services, res.Changed, res.Diff = plan.Services, plan.Changed(), plan.Diff()
		if req.DryRun {
			return res, nil
		}
		if !plan.Changed() {
			if prMode {
				return r.settlePullRequest(ctx, res, req.Complete, base)
			}
			return res, nil
		}
		res.Message = CommitMessage(plan, req.SourceCommit)
		commit, err := r.commit(plan, res.Message)
		if err != nil {
			r.reset(res.Branch, base)
			return res, err
		}
		if prMode {
			return r.finishPullRequest(ctx, res, plan, req, base, commit)
		}
		if r.o.beforePush != nil {
			r.o.beforePush(attempt)
		}
		err = r.push(ctx, res.Branch, false)
		if err == nil {
			res.Commit, res.Pushed = commit.String(), true
			return res, nil
		}
		if !retryable(err) {
			r.reset(res.Branch, base)
			return res, err
		}
		if attempt >= r.o.maxAttempts {
			r.reset(res.Branch, base)
			return res, fmt.Errorf("updating %s on %s: %w: gave up after %d attempts: %w", env.Branch, r.display, ErrConflict, attempt, err)
		}
		if err := sleep(ctx, r.o.backoff(attempt)); err != nil {
			r.reset(res.Branch, base)
			return res, fmt.Errorf("updating %s on %s: %w", env.Branch, r.display, err)
		}
	}
}

func (r *Repo) finishPullRequest(ctx context.Context, res *Result, plan *Plan, req Request, base, commit plumbing.Hash) (*Result, error) {
	// When the pull-request branch already holds this very change on this
	// base, leave it alone rather than force-pushing an equivalent commit.
	same, remote, err := r.sameAsRemote(ctx, res.Branch, base, commit)
	if err != nil {
		return res, err
	}
	if same {
		res.Commit = remote.String()
	} else {
		if err := r.push(ctx, res.Branch, true); err != nil {
			return res, err
		}
		res.Commit, res.Pushed = commit.String(), true
	}
	pr, err := r.o.pr.EnsurePullRequest(ctx, forge.NewPullRequest{
		Head: res.Branch, Base: res.Base,
		Title: title(plan), Body: pullRequestBody(plan, req.SourceCommit, req.SourceURL),
	})
	if err != nil {
		return res, fmt.Errorf("opening the pull request for %s: %w", res.Branch, err)
	}
	res.PullRequest = pr
	return res, nil
}

// settlePullRequest decides, when the environment's branch already holds
// this run's images, what becomes of the environment's pull request. It is
// closed (and its branch deleted) when the run's changes are the
// environment's whole desired state (complete: the pull request holds
// nothing anyone still wants), or when the branch already holds every file
// the pull request changes (merged, or deployed another way). A partial
// run leaves a pull request that still changes something alone.
func (r *Repo) settlePullRequest(ctx context.Context, res *Result, complete bool, base plumbing.Hash) (*Result, error) {
	if !complete {
		held, err := r.branchHolds(ctx, res.Branch, base)
		if err != nil || !held {
			return res, err
		}
	}
	return r.closePullRequest(ctx, res)
}

// branchHolds reports whether base already has, for every file the last
// commit of the pull-request branch changes, that commit's content. A
// branch that does not exist holds nothing to close (true).
func (r *Repo) branchHolds(ctx context.Context, branch string, base plumbing.Hash) (bool, error) {
	tip, err := r.fetch(ctx, branch)
	if errors.Is(err, ErrNoBranch) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	tc, err := r.repo.CommitObject(tip)
	if err != nil {
		return false, err
	}
	bc, err := r.repo.CommitObject(base)
	if err != nil {
		return false, err
	}
	if tc.NumParents() != 1 {
		return false, nil
	}
	parent, err := tc.Parent(0)
	if err != nil {
		return false, err
	}
	ptree, err := parent.Tree()
	if err != nil {
		return false, err
	}
	ttree, err := tc.Tree()
	if err != nil {
		return false, err
	}
	btree, err := bc.Tree()
	if err != nil {
		return false, err
	}
	diff, err := ptree.Diff(ttree)
	if err != nil {
		return false, err
	}
	for _, ch := range diff {
		name := ch.To.Name
		if name == "" {
			name = ch.From.Name
		}
		want, werr := ttree.File(name)
		got, gerr := btree.File(name)
		switch {
		case errors.Is(werr, object.ErrFileNotFound) && errors.Is(gerr, object.ErrFileNotFound):
			continue // deleted in both
		case werr != nil || gerr != nil || want.Hash != got.Hash:
			return false, nil
		}
	}
	return true, nil
}

// closePullRequest closes the environment's open pull request, if any, and
// deletes its branch.
func (r *Repo) closePullRequest(ctx context.Context, res *Result) (*Result, error) {
	pr, err := r.o.pr.ClosePullRequest(ctx, res.Branch)
	if err != nil {
		return res, fmt.Errorf("closing the pull request of %s: %w", res.Branch, err)
	}
	if pr != nil {
		res.PullRequest, res.PullRequestClosed = pr, true
	}
	if err := r.deleteRemoteBranch(ctx, res.Branch); err != nil {
		return res, err
	}
	return res, nil
}

// deleteRemoteBranch removes a branch from the remote; a branch that is not
// there is no error.
func (r *Repo) deleteRemoteBranch(ctx context.Context, branch string) error {
	ref := plumbing.NewBranchReferenceName(branch).String()
	err := r.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(":" + ref)}, Auth: r.o.auth.method,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) && !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "does not exist") {
		return fmt.Errorf("deleting %s on %s: %w", branch, r.display, classify(err))
	}
	return nil
}

// sameAsRemote reports whether the remote branch exists with the same tree
// as commit and base as its parent.
func (r *Repo) sameAsRemote(ctx context.Context, branch string, base, commit plumbing.Hash) (bool, plumbing.Hash, error) {
	remote, err := r.fetch(ctx, branch)
	if errors.Is(err, ErrNoBranch) {
		return false, plumbing.ZeroHash, nil
	}
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	rc, err := r.repo.CommitObject(remote)
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	lc, err := r.repo.CommitObject(commit)
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	return rc.TreeHash == lc.TreeHash && len(rc.ParentHashes) == 1 && rc.ParentHashes[0] == base, remote, nil
}

// fetch brings the remote branch into refs/remotes/origin/<branch> and
// returns its commit.
func (r *Repo) fetch(ctx context.Context, branch string) (plumbing.Hash, error) {
	remoteRef := plumbing.NewRemoteReferenceName("origin", branch)
	spec := config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + remoteRef.String())
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: r.o.auth.method, Tags: git.NoTags, Force: true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if errors.Is(err, git.NoMatchingRefSpecError{}) || strings.Contains(err.Error(), "couldn't find remote ref") {
			return plumbing.ZeroHash, fmt.Errorf("fetching %s from %s: %w", branch, r.display, ErrNoBranch)
		}
		return plumbing.ZeroHash, fmt.Errorf("fetching %s from %s: %w", branch, r.display, classify(err))
	}
	ref, err := r.repo.Reference(remoteRef, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetching %s from %s: %w", branch, r.display, ErrNoBranch)
	}
	return ref.Hash(), nil
}

// reset points the local branch at hash and makes the working tree match
// it exactly.
func (r *Repo) reset(branch string, hash plumbing.Hash) error {
	name := plumbing.NewBranchReferenceName(branch)
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(name, hash)); err != nil {
		return fmt.Errorf("resetting %s: %w", branch, err)
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: name, Force: true}); err != nil {
		return fmt.Errorf("checking out %s: %w", branch, err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: hash, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("resetting %s: %w", branch, err)
	}
	return nil
}

func (r *Repo) commit(plan *Plan, msg string) (plumbing.Hash, error) {
	if err := plan.Apply(r.dir); err != nil {
		return plumbing.ZeroHash, err
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for _, f := range plan.Files {
		if _, err := wt.Add(f.Path); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("staging %s: %w", f.Path, err)
		}
	}
	sig := &object.Signature{Name: r.o.authorName, Email: r.o.authorEmail, When: time.Now()}
	// AllowEmptyCommits stays false: an edit that changed nothing fails here
	// instead of making an empty commit.
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("committing: %w", err)
	}
	return h, nil
}

func (r *Repo) push(ctx context.Context, branch string, force bool) error {
	ref := plumbing.NewBranchReferenceName(branch).String()
	spec := ref + ":" + ref
	if force {
		spec = "+" + spec
	}
	err := r.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(spec)}, Auth: r.o.auth.method,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("pushing %s to %s: %w", branch, r.display, classify(err))
	}
	return nil
}

// classify marks credential failures with ErrAuth.
func classify(err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod), strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return err
}

// retryable reports whether a push failed because the branch moved.
func retryable(err error) bool {
	if errors.Is(err, git.ErrForceNeeded) {
		return true
	}
	s := err.Error()
	for _, m := range []string{"non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref", "failed to lock", "is at "} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func (o options) backoff(attempt int) time.Duration {
	d := o.backoffMin
	for i := 1; i < attempt && d < o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, o.backoffMax)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redact hides credentials written into an HTTP(S) URL.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil || (p.Scheme != "http" && p.Scheme != "https") {
		return u
	}
	p.User = url.User("redacted")
	return p.String()
}
