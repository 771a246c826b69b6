package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/slipwayci/slipway/internal/forge"
)

const source = "0123456789abcdef0123456789abcdef01234567"

func fastRetries() []Option {
	return []Option{WithBackoff(5*time.Millisecond, 100*time.Millisecond), WithAuthor("slipway test", "slipway@example.com")}
}

func clone(t testing.TB, url string, opts ...Option) *Repo {
	t.Helper()
	r, err := Clone(context.Background(), url, append(fastRetries(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func assertClean(t testing.TB, r *Repo) {
	t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsClean() {
		t.Fatalf("working tree not clean:\n%s", st)
	}
}

// TestUpdateLocal writes one commit to a local bare repository, then
// proves a second identical run is a no-op: no commit, no push.
func TestUpdateLocal(t *testing.T) {
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	layout := loadLayout(t)
	res, err := r.Update(context.Background(), layout, Request{Environment: "dev", Changes: sampleChanges(1), SourceCommit: source})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !res.Pushed || res.Attempts != 1 || res.Branch != "main" || res.Commit != remoteRef(t, bare, "main") {
		t.Fatalf("result = %+v", res)
	}
	if got := remoteSubjects(t, bare, "main"); len(got) != 2 || got[0] != "deploy(dev): api, gateway, web, worker" {
		t.Fatalf("log = %q", got)
	}
	body := runGit(t, bare, "log", "-1", "--format=%B%n%an <%ae>", "main")
	for _, want := range []string{
		"api: sha256:0000000000000000000000000000000000000000000000000000000000000000 → " + dig(1),
		"registry.example.com/shop/worker:1.0.0@" + dig(3),
		"Source-Commit: " + source,
		"slipway test <slipway@example.com>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("commit message lacks %q:\n%s", want, body)
		}
	}
	if got := remoteFile(t, bare, "main", "deploy/overlays/dev/kustomization.yaml"); !strings.Contains(got, "digest: "+dig(1)) || !strings.Contains(got, "# API server and its migrations") {
		t.Fatalf("kustomization on the remote:\n%s", got)
	}
	// Only the three files changed.
	if got := runGit(t, bare, "diff", "--name-only", "main~1", "main"); got != "deploy/helm/values-dev.yaml\ndeploy/overlays/dev/kustomization.yaml\ndeploy/overlays/dev/worker.yaml" {
		t.Fatalf("changed files = %q", got)
	}
	head := remoteRef(t, bare, "main")
	again, err := r.Update(context.Background(), layout, Request{Environment: "dev", Changes: sampleChanges(1), SourceCommit: source})
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || again.Pushed || again.Commit != "" || again.Diff != "" {
		t.Fatalf("second run = %+v", again)
	}
	if remoteRef(t, bare, "main") != head {
		t.Fatal("a no-op run moved the branch")
	}
	assertClean(t, r)
}

func TestDryRun(t *testing.T) {
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	head := remoteRef(t, bare, "main")
	before := snapshot(t, r.Dir())
	res, err := r.Update(context.Background(), loadLayout(t), Request{Environment: "dev", Changes: sampleChanges(1), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Pushed || res.Commit != "" || !res.DryRun {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(res.Diff, "+    digest: "+dig(1)) || !strings.HasPrefix(res.Diff, "--- a/deploy/helm/values-dev.yaml") {
		t.Fatalf("diff:\n%s", res.Diff)
	}
	if remoteRef(t, bare, "main") != head || snapshot(t, r.Dir()) != before {
		t.Fatal("dry run wrote something")
	}
	assertClean(t, r)
	// Dry runs work for pull-request environments without a client too.
	res, err = r.Update(context.Background(), loadLayout(t), Request{Environment: "prod", Changes: sampleChanges(1), DryRun: true, SourceCommit: source})
	if err != nil || res.Branch != "slipway/prod" || res.Pushed {
		t.Fatalf("prod dry run = %+v, %v", res, err)
	}
	if got := runGit(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
		t.Fatalf("remote refs after dry runs: %s", got)
	}
}

// TestBadInputLeavesRepoUntouched: malformed YAML, a missing entry and an
// unknown environment fail naming file and key; nothing is committed or
// pushed and the clone stays clean.
func TestBadInputLeavesRepoUntouched(t *testing.T) {
	root := t.TempDir()
	bare := newRemote(t, root)
	// Break the dev overlay on the remote.
	work := filepath.Join(root, "breaker")
	runGit(t, root, "clone", "-q", bare, work)
	os.WriteFile(filepath.Join(work, "deploy/overlays/staging/kustomization.yaml"), []byte("images:\n  - name: api\n    newTag: {oops\n"), 0o644)
	runGit(t, work, "commit", "-q", "-am", "break staging")
	runGit(t, work, "push", "-q", "origin", "main")
	head := remoteRef(t, bare, "main")

	r := clone(t, bare)
	for _, tc := range []struct {
		env     string
		changes []Change
		mention []string
	}{
		{"staging", sampleChanges(1), []string{"deploy/overlays/staging/kustomization.yaml", "malformed YAML"}},
		{"dev", append(sampleChanges(1), Change{Service: "billing", Digest: dig(9)}), []string{"deploy/overlays/dev/kustomization.yaml", "images[name=billing]", "not found"}},
		{"qa", sampleChanges(1), []string{"environments.qa", "unknown environment"}},
	} {
		_, err := r.Update(context.Background(), loadLayout(t), Request{Environment: tc.env, Changes: tc.changes, SourceCommit: source})
		if err == nil {
			t.Fatalf("%s: no error", tc.env)
		}
		for _, m := range tc.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", tc.env, err, m)
			}
		}
		if remoteRef(t, bare, "main") != head {
			t.Fatalf("%s: remote branch moved", tc.env)
		}
		assertClean(t, r)
	}
}

// TestRetryOnRace makes another writer push between our commit and our
// push: the push is rejected, and the retry lands both changes.
func TestRetryOnRace(t *testing.T) {
	root := t.TempDir()
	bare := newRemote(t, root)
	other := clone(t, bare)
	r := clone(t, bare)
	layout := loadLayout(t)
	r.o.beforePush = func(attempt int) {
		if attempt == 1 {
			if _, err := other.Update(context.Background(), layout, Request{Environment: "dev", Changes: sampleChanges(1)[1:2]}); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := r.Update(context.Background(), layout, Request{Environment: "dev", Changes: sampleChanges(1)[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", res.Attempts)
	}
	got := remoteFile(t, bare, "main", "deploy/overlays/dev/kustomization.yaml")
	if !strings.Contains(got, dig(1)) || !strings.Contains(got, dig(2)) {
		t.Fatalf("a change was lost:\n%s", got)
	}
	if subj := remoteSubjects(t, bare, "main"); len(subj) != 3 || subj[0] != "deploy(dev): api" || subj[1] != "deploy(dev): web" {
		t.Fatalf("log = %q", subj)
	}
}

// TestRetriesBounded: a branch that moves before every push makes Update
// give up after WithMaxAttempts with ErrConflict, leaving a clean clone.
func TestRetriesBounded(t *testing.T) {
	root := t.TempDir()
	bare := newRemote(t, root)
	work := filepath.Join(root, "mover")
	runGit(t, root, "clone", "-q", bare, work)
	r := clone(t, bare, WithMaxAttempts(3))
	r.o.beforePush = func(attempt int) {
		os.WriteFile(filepath.Join(work, "moved.txt"), []byte(fmt.Sprint(attempt)), 0o644)
		runGit(t, work, "add", "-A")
		runGit(t, work, "commit", "-q", "-m", fmt.Sprint("move ", attempt))
		runGit(t, work, "push", "-q", "origin", "main")
	}
	res, err := r.Update(context.Background(), loadLayout(t), Request{Environment: "dev", Changes: sampleChanges(1)})
	if !errors.Is(err, ErrConflict) || res.Attempts != 3 {
		t.Fatalf("err = %v, attempts = %d", err, res.Attempts)
	}
	if subj := remoteSubjects(t, bare, "main"); subj[0] != "move 3" || len(subj) != 4 {
		t.Fatalf("log = %q", subj)
	}
	assertClean(t, r)
}

// TestConcurrentWriters: ten clones update ten different services of one
// environment on one branch at the same time. All ten land, each in its
// own commit, none empty, each within the attempt bound.
func TestConcurrentWriters(t *testing.T) {
	const writers = 10
	// Each rejected push is normally caused by another writer's success, so
	// ten writers need at most ten attempts; a little slack covers two
	// pushes failing together on the server's ref lock.
	const maxAttempts = writers + 5
	root := t.TempDir()
	bare := newRemote(t, root)
	// Give dev ten services in its kustomization.
	work := filepath.Join(root, "seed10")
	runGit(t, root, "clone", "-q", bare, work)
	var k strings.Builder
	k.WriteString("kind: Kustomization\nimages:\n")
	for i := 0; i < writers; i++ {
		fmt.Fprintf(&k, "  # service %d\n  - name: svc%d\n    newTag: old\n\n", i, i)
	}
	os.WriteFile(filepath.Join(work, "deploy/overlays/dev/kustomization.yaml"), []byte(k.String()), 0o644)
	runGit(t, work, "commit", "-q", "-am", "ten services")
	runGit(t, work, "push", "-q", "origin", "main")

	layout := Layout{}
	repos := make([]*Repo, writers)
	for i := range repos {
		repos[i] = clone(t, bare, WithMaxAttempts(maxAttempts))
	}
	results := make([]*Result, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = repos[i].Update(context.Background(), layout, Request{
				Environment:  "dev",
				Changes:      []Change{{Service: fmt.Sprintf("svc%d", i), Tag: "new", Digest: dig(100 + i)}},
				SourceCommit: source,
			})
		}()
	}
	close(start)
	wg.Wait()
	total := 0
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if !results[i].Pushed || results[i].Attempts > maxAttempts {
			t.Fatalf("writer %d: %+v", i, results[i])
		}
		total += results[i].Attempts
	}
	t.Logf("attempts over %d writers: %d", writers, total)
	got := remoteFile(t, bare, "main", "deploy/overlays/dev/kustomization.yaml")
	for i := range writers {
		if !strings.Contains(got, fmt.Sprintf("  - name: svc%d\n    newTag: new\n    digest: %s", i, dig(100+i))) {
			t.Errorf("svc%d lost:\n%s", i, got)
		}
		if !strings.Contains(got, fmt.Sprintf("  # service %d\n", i)) {
			t.Errorf("comment of svc%d lost", i)
		}
	}
	subj := remoteSubjects(t, bare, "main")
	if len(subj) != writers+2 {
		t.Fatalf("log has %d commits, want %d: %q", len(subj), writers+2, subj)
	}
	// No empty commit: every slipway commit changes exactly one file.
	for i := 0; i < writers; i++ {
		files := runGit(t, bare, "diff", "--name-only", fmt.Sprintf("main~%d", i+1), fmt.Sprintf("main~%d", i))
		if files != "deploy/overlays/dev/kustomization.yaml" {
			t.Fatalf("commit main~%d changed %q", i, files)
		}
	}
}

func TestHTTPToken(t *testing.T) {
	root := t.TempDir()
	newRemote(t, root)
	const token = "s3cr3t-token-value"
	srv := httpGitServer(t, root, token)
	url := srv.URL + "/gitops.git"

	r := clone(t, url, WithAuth(TokenAuth(token)))
	res, err := r.Update(context.Background(), loadLayout(t), Request{Environment: "staging", Changes: sampleChanges(1), SourceCommit: source})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || res.Commit != remoteRef(t, filepath.Join(root, "gitops.git"), "main") {
		t.Fatalf("result = %+v", res)
	}

	for _, auth := range []Auth{TokenAuth("wrong-token"), {}} {
		_, err = Clone(context.Background(), url, WithAuth(auth))
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("bad token: error = %v, want ErrAuth", err)
		}
		if !strings.Contains(err.Error(), url) || strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), token) {
			t.Fatalf("error should name the remote and no token: %v", err)
		}
	}
	// A token in the URL is redacted in errors.
	bad := strings.Replace(url, "http://", "http://x-access-token:leaked-token@", 1)
	_, err = Clone(context.Background(), bad)
	if err == nil || strings.Contains(err.Error(), "leaked-token") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestSSH(t *testing.T) {
	root := t.TempDir()
	bare := newRemote(t, root)
	srv := newSSHGitServer(t, root)
	url := "ssh://git@" + srv.addr + "/gitops.git"
	hostKey, err := FixedHostKey(srv.hostKey)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := SSHKeyAuth("git", srv.clientKey, "", hostKey)
	if err != nil {
		t.Fatal(err)
	}
	r := clone(t, url, WithAuth(auth))
	res, err := r.Update(context.Background(), loadLayout(t), Request{Environment: "dev", Changes: sampleChanges(1), SourceCommit: source})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || res.Commit != remoteRef(t, bare, "main") {
		t.Fatalf("result = %+v", res)
	}

	// known_hosts content works as well.
	host, port, _ := strings.Cut(srv.addr, ":")
	kh, err := KnownHosts([]byte(fmt.Sprintf("[%s]:%s %s", host, port, srv.hostKey)))
	if err != nil {
		t.Fatal(err)
	}
	auth, _ = SSHKeyAuth("git", srv.clientKey, "", kh)
	clone(t, url, WithAuth(auth))

	// A key the server does not trust, and a host key we do not trust.
	untrusted, _ := SSHKeyAuth("git", srv.otherKey, "", hostKey)
	if _, err := Clone(context.Background(), url, WithAuth(untrusted)); !errors.Is(err, ErrAuth) {
		t.Fatalf("untrusted client key: %v", err)
	}
	_, otherHost := newSSHKey(t)
	strict, _ := FixedHostKey(ssh.MarshalAuthorizedKey(otherHost))
	mismatched, _ := SSHKeyAuth("git", srv.clientKey, "", strict)
	if _, err := Clone(context.Background(), url, WithAuth(mismatched)); err == nil || !strings.Contains(err.Error(), ErrHostKey.Error()) {
		t.Fatalf("wrong host key: %v", err)
	}
	if _, err := SSHKeyAuth("git", srv.clientKey, "", nil); err == nil {
		t.Fatal("SSH auth without a host key check was accepted")
	}
}

// TestPullRequestMode: an environment in pull-request mode has one pull
// request, from slipway/<env>, on a real git server and a fake GitHub. A
// run opens it; a later run for another source commit replaces its content
// and updates (not duplicates) it; an identical run changes nothing; once
// the environment's branch holds the images (the pull request merged), the
// next run closes nothing that is not open, and a pull request left open
// although the environment already runs its images is closed and its
// branch deleted.
func TestPullRequestMode(t *testing.T) {
	root := t.TempDir()
	bare := newRemote(t, root)
	gh := newFakeGitHub(t, "gh-token")
	srv := httpGitServer(t, root, "git-token")
	r := clone(t, srv.URL+"/gitops.git", WithAuth(TokenAuth("git-token")), WithPullRequests(gh.client(t)))
	layout := loadLayout(t)
	main := remoteRef(t, bare, "main")
	const branch = "slipway/prod"

	res, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(1), SourceCommit: source, SourceURL: "https://github.com/acme/shop"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Branch != branch || res.Base != "main" || !res.Pushed || res.PullRequest == nil || !res.PullRequest.Created || res.PullRequest.Number != 1 {
		t.Fatalf("result = %+v", res)
	}
	if remoteRef(t, bare, "main") != main {
		t.Fatal("PR mode moved main")
	}
	if remoteRef(t, bare, branch) != res.Commit || runGit(t, bare, "rev-parse", branch+"~1") != main {
		t.Fatal("PR branch is not one commit on main")
	}
	if !strings.Contains(remoteFile(t, bare, branch, "deploy/overlays/prod/kustomization.yaml"), dig(1)) {
		t.Fatal("PR branch lacks the change")
	}
	if b := gh.prs[0].Body; !strings.Contains(b, "](https://github.com/acme/shop/commit/"+source+")") || !strings.Contains(b, "| api | `") || !strings.Contains(b, "one pull request") {
		t.Fatalf("body:\n%s", b)
	}

	// A later run, for another source commit: the branch is force-pushed
	// with the newest images and the same PR is updated.
	later := strings.Repeat("b", 40)
	res2, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later})
	if err != nil {
		t.Fatal(err)
	}
	if res2.PullRequest.Created || res2.PullRequest.Number != 1 || !res2.Pushed || res2.Branch != branch {
		t.Fatalf("second result = %+v", res2)
	}
	if f := remoteFile(t, bare, branch, "deploy/overlays/prod/kustomization.yaml"); !strings.Contains(f, dig(50)) || strings.Contains(f, dig(1)) {
		t.Fatalf("PR branch not replaced:\n%s", f)
	}
	// An identical run: no push, the PR left as is.
	res3, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later})
	if err != nil {
		t.Fatal(err)
	}
	if res3.Pushed || res3.Commit != res2.Commit || res3.PullRequest.Number != 1 {
		t.Fatalf("third result = %+v", res3)
	}
	gh.mu.Lock()
	if len(gh.prs) != 1 {
		t.Fatalf("%d pull requests, want 1", len(gh.prs))
	}
	if p := gh.prs[0]; p.Head != branch || p.Base != "main" || !strings.Contains(p.Body, dig(50)) || strings.Contains(p.Body, dig(1)) || p.Title != "deploy(prod): api, gateway, web, worker" {
		t.Fatalf("pull request = %+v", p)
	}
	posts := 0
	for _, c := range gh.calls {
		if strings.HasPrefix(c, "POST") {
			posts++
		}
	}
	gh.mu.Unlock()
	if posts != 1 {
		t.Fatalf("calls = %q", gh.calls)
	}
	if remoteRef(t, bare, "main") != main {
		t.Fatal("PR mode moved main")
	}

	// Someone brings main to the same images another way (a merge that
	// the fake forge does not see): the next run finds nothing to change,
	// closes the pull request and deletes its branch.
	runGit(t, bare, "update-ref", "refs/heads/main", remoteRef(t, bare, branch))
	res4, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later})
	if err != nil {
		t.Fatal(err)
	}
	if res4.Changed || res4.Pushed || !res4.PullRequestClosed || res4.PullRequest == nil || res4.PullRequest.State != "closed" {
		t.Fatalf("fourth result = %+v", res4)
	}
	if got := runGit(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
		t.Fatalf("remote refs after the close: %s", got)
	}
	// And again: nothing open, nothing to close.
	res5, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later})
	if err != nil || res5.PullRequestClosed || res5.PullRequest != nil {
		t.Fatalf("fifth result = %+v, %v", res5, err)
	}

	// A new pull request for other images; then a run that wants what main
	// already runs. A partial run (deploy --service) leaves the pull request
	// alone: it still changes something someone may want. A complete run
	// (the environment's whole desired state) supersedes it: closed.
	if res6, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(7), SourceCommit: source}); err != nil || !res6.PullRequest.Created {
		t.Fatalf("sixth result = %+v, %v", res6, err)
	}
	res7, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later})
	if err != nil || res7.Changed || res7.PullRequestClosed || remoteRef(t, bare, branch) == "" {
		t.Fatalf("partial run = %+v, %v", res7, err)
	}
	res8, err := r.Update(context.Background(), layout, Request{Environment: "prod", Changes: sampleChanges(50), SourceCommit: later, Complete: true})
	if err != nil || res8.Changed || !res8.PullRequestClosed || res8.PullRequest.Number != 2 {
		t.Fatalf("complete run = %+v, %v", res8, err)
	}
	if got := runGit(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
		t.Fatalf("remote refs after the second close: %s", got)
	}
}

func TestPullRequestModeNeedsAClient(t *testing.T) {
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	_, err := r.Update(context.Background(), loadLayout(t), Request{Environment: "prod", Changes: sampleChanges(1), SourceCommit: source})
	if !errors.Is(err, ErrNoPullRequests) || !strings.Contains(err.Error(), "environment prod is in pull-request mode") || !strings.Contains(err.Error(), "--gitops-token") {
		t.Fatalf("err = %v", err)
	}
	gh := newFakeGitHub(t, "right")
	c, _ := forge.New(forge.GitHub, "owner/gitops", "wrong", forge.WithBaseURL(gh.URL), forge.WithRetries(1, 0))
	r2 := clone(t, bare, WithPullRequests(c))
	_, err = r2.Update(context.Background(), loadLayout(t), Request{Environment: "prod", Changes: sampleChanges(1), SourceCommit: source})
	if !errors.Is(err, forge.ErrUnauthorized) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err = %v", err)
	}
	// A repository with no forge (the throwaway one) pushes the branch and
	// opens nothing.
	fresh := newRemote(t, t.TempDir())
	r3 := clone(t, fresh, WithPullRequests(BranchOnly{}))
	res, err := r3.Update(context.Background(), loadLayout(t), Request{Environment: "prod", Changes: sampleChanges(1), SourceCommit: source})
	if err != nil || !res.Pushed || res.PullRequest == nil || res.PullRequest.State != "branch only" || remoteRef(t, fresh, "slipway/prod") != res.Commit {
		t.Fatalf("branch only: %+v, %v", res, err)
	}
}
