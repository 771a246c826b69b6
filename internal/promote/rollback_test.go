package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/forge"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/state"
)

const stateFile = "deploy/slipway-state.yaml"

// prodAt runs, in every environment, the c1 images, then orders built at
// c2 everywhere too. It returns orders' two digests.
func prodAt(t *testing.T, f *fixture) (v1, v2 string) {
	t.Helper()
	ctx := context.Background()
	d := devReady(f)
	for _, hop := range [][2]string{{"dev", "staging"}, {"staging", "prod"}} {
		if _, err := Run(ctx, f.options(hop[0], hop[1])); err != nil {
			t.Fatal(err)
		}
	}
	v2 = f.publish("orders", f.good(50, c2))
	f.deploy("dev", c2, map[string]string{"orders": v2})
	for _, hop := range [][2]string{{"dev", "staging"}, {"staging", "prod"}} {
		if _, err := Run(ctx, f.options(hop[0], hop[1], "orders")); err != nil {
			t.Fatal(err)
		}
	}
	if f.imageIn("prod", "orders").Image.Digest != v2 {
		t.Fatal("set-up: prod does not run orders v2")
	}
	return d["orders"], v2
}

// TestRollbackSticks is the release manager's story: roll prod back to an
// older commit, and the pin written in the same commit keeps promote and
// ci off it until unpin.
func TestRollbackSticks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1, v2 := prodAt(t, f)
	commits := f.commits()

	rep, err := Rollback(ctx, f.rollbackOptions("prod", "orders", c1))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "rollback" || status(rep, "orders").Status != report.Promoted || f.commits() != commits+1 {
		t.Fatalf("rollback report = %+v", rep)
	}
	cur := f.imageIn("prod", "orders")
	if cur.Image.Digest != v1 || cur.Image.Tag != c1 {
		t.Fatalf("prod runs %+v after the rollback", cur.Image)
	}
	if got := f.git("diff", "--name-only", "main~1", "main"); got != "deploy/overlays/prod/kustomization.yaml\n"+stateFile {
		t.Errorf("the rollback and its pin are not one commit: %q", got)
	}
	msg := f.git("log", "-1", "--format=%B", "main")
	if !strings.Contains(msg, "deploy(prod): orders") || !strings.Contains(msg, "Rolled back by slipway rollback and pinned") || !strings.Contains(msg, "Source-Commit: "+c1) {
		t.Errorf("message:\n%s", msg)
	}
	st, err := state.Parse(stateFile, []byte(f.file(stateFile)))
	if err != nil {
		t.Fatal(err)
	}
	pin, ok := st.Pinned("prod", "orders")
	if !ok || pin.Digest != v1 || pin.By != "alice" || pin.Reason != "bad release" || pin.SourceCommit != c1 || pin.Image != f.repoOf("orders") {
		t.Fatalf("pin = %+v, %v", pin, ok)
	}
	if f.tagged(f.repoOf("orders"), "prod") != v1 {
		t.Error("the prod tag does not follow the rollback")
	}

	// promote: refused for orders, with nothing written.
	snap, commits := f.snapshot(), f.commits()
	_, err = Run(ctx, f.options("staging", "prod"))
	if !errors.Is(err, ErrPinned) || !strings.Contains(err.Error(), "orders is pinned in prod to "+v1+" (bad release, by alice, at ") {
		t.Fatalf("promote over the pin: %v", err)
	}
	if f.snapshot() != snap || f.commits() != commits {
		t.Fatal("the refused promotion wrote")
	}
	// The other services still promote.
	if rep, err := Run(ctx, f.options("staging", "prod", "catalog")); err != nil || status(rep, "catalog").Status != report.Unchanged {
		t.Fatalf("catalog: %+v, %v", rep, err)
	}

	// ci: a new orders build is held back in prod, catalog still deploys.
	v3 := f.publish("orders", f.good(60, c3))
	cat3 := f.publish("catalog", f.good(61, c3))
	d, err := deploy.Run(ctx, deploy.Options{Config: f.cfg, Environment: "prod", SourceCommit: c3, Registry: f.reg, Verifier: f.verifier, RepoURL: f.repo, GitOptions: f.gitOptions(),
		Changes: []deploy.Change{{Service: "orders", Repository: f.repoOf("orders"), Digest: v3}, {Service: "catalog", Repository: f.repoOf("catalog"), Digest: cat3}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Held["orders"], "orders is pinned in prod to "+v1) || strings.Join(d.Services, ",") != "catalog" || !d.Changed {
		t.Fatalf("ci deployment = %+v", d)
	}
	if f.imageIn("prod", "orders").Image.Digest != v1 || f.imageIn("prod", "catalog").Image.Digest != cat3 {
		t.Fatal("ci moved the pinned service, or not the other one")
	}
	// With HeldRefuse, the whole deployment is refused.
	commits = f.commits()
	_, err = deploy.Run(ctx, deploy.Options{Config: f.cfg, Environment: "prod", SourceCommit: c3, Registry: f.reg, Verifier: f.verifier, RepoURL: f.repo, GitOptions: f.gitOptions(),
		Held: deploy.HeldRefuse, Changes: []deploy.Change{{Service: "orders", Repository: f.repoOf("orders"), Digest: v3}}})
	if !errors.Is(err, deploy.ErrHeld) || f.commits() != commits {
		t.Fatalf("HeldRefuse: %v", err)
	}

	// Rolling back to the same again changes nothing.
	again, err := Rollback(ctx, f.rollbackOptions("prod", "orders", c1))
	if err != nil || status(again, "orders").Status != report.Unchanged || f.commits() != commits {
		t.Fatalf("second rollback: %+v, %v", again, err)
	}

	// Unpin, and promotion works again.
	un, err := Unpin(ctx, f.stateOptions("fixed in 2.0.1"), "prod", "orders")
	if err != nil || !un.Deployments[0].Changed || f.commits() != commits+1 {
		t.Fatalf("unpin: %+v, %v", un, err)
	}
	if f.git("log", "-1", "--format=%s", "main") != "unpin(prod): orders" {
		t.Errorf("unpin subject: %s", f.git("log", "-1", "--format=%s", "main"))
	}
	rep, err = Run(ctx, f.options("staging", "prod", "orders"))
	if err != nil || status(rep, "orders").Status != report.Promoted || f.imageIn("prod", "orders").Image.Digest != v2 {
		t.Fatalf("promotion after unpin: %+v, %v", rep, err)
	}
	// Unpinning what is not pinned writes nothing.
	commits = f.commits()
	un, err = Unpin(ctx, f.stateOptions(""), "prod", "orders")
	if err != nil || un.Deployments[0].Changed || f.commits() != commits || !strings.Contains(strings.Join(un.Notes, ""), "was not pinned") {
		t.Fatalf("second unpin: %+v, %v", un, err)
	}
}

// TestRollbackTargets: a digest, a unique commit prefix, an ambiguous one.
func TestRollbackTargets(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1, v2 := prodAt(t, f)
	// By digest: the commit is read from the signature.
	rep, err := Rollback(ctx, f.rollbackOptions("prod", "orders", v1))
	if err != nil || f.imageIn("prod", "orders").Image.Digest != v1 {
		t.Fatalf("by digest: %+v, %v", rep, err)
	}
	if cur := f.imageIn("prod", "orders"); cur.Image.Tag != c1 {
		t.Errorf("tag after a rollback by digest = %q, want the signed commit", cur.Image.Tag)
	}
	// By prefix (and over its own pin: a rollback replaces it).
	rep, err = Rollback(ctx, f.rollbackOptions("prod", "orders", c2[:10]))
	if err != nil || f.imageIn("prod", "orders").Image.Digest != v2 || !strings.Contains(strings.Join(rep.Notes, "\n"), "replaces the pin of orders in prod to "+v1) {
		t.Fatalf("by prefix: %+v, %v", rep, err)
	}
	st, _ := state.Parse(stateFile, []byte(f.file(stateFile)))
	if p, _ := st.Pinned("prod", "orders"); p.Digest != v2 || len(st.Pins()) != 1 {
		t.Fatalf("pins = %+v", st.Pins())
	}
	// Ambiguous and unknown prefixes.
	f.publish("orders", f.good(70, "2222222222000000000000000000000000000000"))
	snap := f.snapshot()
	for target, want := range map[string]string{
		"2222222222":            "is ambiguous",
		"9999999":               "no image in " + f.repoOf("orders") + " has a valid signature of service orders recording a commit starting 9999999",
		"sha256:abc":            "is not a digest",
		"v1.2.3":                "neither a commit SHA",
		strings.Repeat("9", 40): "was it published and signed?",
	} {
		_, err := Rollback(ctx, f.rollbackOptions("prod", "orders", target))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", target, err, want)
		}
	}
	if f.snapshot() != snap {
		t.Error("a refused rollback wrote")
	}
}

// TestRollbackRefusals: the checks of a promotion into the environment
// apply to a rollback too.
func TestRollbackRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1, _ := prodAt(t, f)
	unsigned := f.publish("orders", image{seed: 80, commit: c3})
	if _, err := Reject(ctx, f.stateOptions("leaks memory"), v1); err != nil {
		t.Fatal(err)
	}
	snap := f.snapshot()
	cases := []struct {
		o    RollbackOptions
		kind error
		want string
	}{
		{f.rollbackOptions("prod", "orders", c1), ErrDenylisted, v1 + " is denylisted (leaks memory, by alice"},
		{f.rollbackOptions("prod", "orders", unsigned), ErrUnverified, "prod requires a valid signature"},
		{f.rollbackOptions("prod", "orders", c3), ErrUnverified, "The tag " + f.repoOf("orders") + ":" + c3 + " points at " + unsigned + ", which no such signature vouches for"},
		{f.rollbackOptions("qa", "orders", c1), ErrUnknown, `unknown environment "qa"`},
		{f.rollbackOptions("prod", "billing", c1), ErrUnknown, `unknown service "billing"`},
	}
	for _, c := range cases {
		rep, err := Rollback(ctx, c.o)
		if !errors.Is(err, ErrRefused) || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || rep.OK() {
			t.Errorf("%s/%s → %s: %v, want %q", c.o.Environment, c.o.Service, c.o.Target, err, c.want)
		}
	}
	if f.snapshot() != snap {
		t.Error("a refused rollback wrote")
	}
}

// TestRollbackToWhatRunsOnlyPins: the image is there already, so the
// commit holds only the pin.
func TestRollbackToWhatRunsOnlyPins(t *testing.T) {
	f := newFixture(t)
	_, v2 := prodAt(t, f)
	rep, err := Rollback(context.Background(), f.rollbackOptions("prod", "orders", v2))
	if err != nil || status(rep, "orders").Status != report.Unchanged || !rep.Deployments[0].Changed {
		t.Fatalf("%+v, %v", rep, err)
	}
	if got := f.git("diff", "--name-only", "main~1", "main"); got != stateFile {
		t.Errorf("commit changed %q, want only the state file", got)
	}
	if s := f.git("log", "-1", "--format=%s", "main"); s != "deploy(prod): update "+stateFile {
		t.Errorf("subject %q", s)
	}
}

// TestRollbackDryRun shows the image change and the pin, and writes
// nothing.
func TestRollbackDryRun(t *testing.T) {
	f := newFixture(t)
	v1, _ := prodAt(t, f)
	snap := f.snapshot()
	o := f.rollbackOptions("prod", "orders", c1)
	o.DryRun = true
	rep, err := Rollback(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	diff := rep.Deployments[0].Diff
	if !strings.Contains(diff, "+    digest: "+v1) || !strings.Contains(diff, "+++ b/"+stateFile) || !strings.Contains(diff, "+  - environment: prod") {
		t.Errorf("diff:\n%s", diff)
	}
	if f.snapshot() != snap {
		t.Error("dry run wrote")
	}
}

// TestPinLandingMidPromotionIsHonoured: a pin committed after promote read
// the state but before it wrote is still honoured (deploy reads the state
// on the tip it commits onto), and the environment tag is not moved.
func TestPinLandingMidPromotionIsHonoured(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	devReady(f)
	if _, err := Run(ctx, f.options("dev", "staging", "orders")); err != nil {
		t.Fatal(err)
	}
	v2 := f.publish("orders", f.good(90, c2))
	f.deploy("dev", c2, map[string]string{"orders": v2})
	o := f.options("dev", "staging", "orders")
	o.Scanner = scanFunc(func() {
		if _, err := Pin(ctx, f.stateOptions("someone else's incident"), "staging", "orders", ""); err != nil {
			t.Error(err)
		}
	})
	commits := f.commits()
	_, err := Run(ctx, o)
	if !errors.Is(err, deploy.ErrHeld) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "someone else's incident") {
		t.Fatalf("err = %v", err)
	}
	if f.commits() != commits+1 || f.git("log", "-1", "--format=%s", "main") != "pin(staging): orders" {
		t.Fatal("something else than the pin was committed")
	}
	if f.tagged(f.repoOf("orders"), "staging") == v2 {
		t.Error("the staging tag moved to the refused digest")
	}
}

// scanFunc is a passing Scanner that runs fn first.
type scanFunc func()

func (s scanFunc) Scan(context.Context, string, config.Policy) (ScanResult, error) {
	s()
	return ScanResult{Passed: true}, nil
}

// TestRejectEverywhere: a rejected digest is refused by promote and
// rollback and held back by ci's deploy; the report names where it runs.
func TestRejectEverywhere(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := devReady(f)
	bad := d["orders"]
	rep, err := Reject(ctx, f.stateOptions("CVE-2025-9999 (remote code execution)"), f.repoOf("orders")+"@"+bad)
	if err != nil || !rep.Deployments[0].Changed {
		t.Fatalf("reject: %+v, %v", rep, err)
	}
	if notes := strings.Join(rep.Notes, "\n"); !strings.Contains(notes, "orders in dev still runs it") {
		t.Errorf("notes = %s", notes)
	}
	if s := f.git("log", "-1", "--format=%s", "main"); s != "reject: "+bad {
		t.Errorf("subject %q", s)
	}
	commits := f.commits()
	again, err := Reject(ctx, f.stateOptions("again"), bad)
	if err != nil || again.Deployments[0].Changed || f.commits() != commits {
		t.Fatalf("second reject: %+v, %v", again, err)
	}
	dep, err := deploy.Run(ctx, deploy.Options{Config: f.cfg, Environment: "staging", SourceCommit: c1, Registry: f.reg, Verifier: f.verifier, RepoURL: f.repo, GitOptions: f.gitOptions(),
		Changes: []deploy.Change{{Service: "orders", Repository: f.repoOf("orders"), Digest: bad}}})
	if err != nil || dep.Changed || !strings.Contains(dep.Held["orders"], "is denylisted (CVE-2025-9999") || f.commits() != commits {
		t.Fatalf("ci deploy of a rejected digest: %+v, %v", dep, err)
	}
	if _, err := Run(ctx, f.options("dev", "staging", "orders")); !errors.Is(err, ErrDenylisted) {
		t.Fatalf("promote: %v", err)
	}
	for _, bad := range []StateOptions{f.stateOptions("")} {
		if _, err := Reject(ctx, bad, d["catalog"]); !errors.Is(err, state.ErrInvalidEntry) {
			t.Errorf("reject without a reason: %v", err)
		}
	}
	if _, err := Reject(ctx, f.stateOptions("x"), "latest"); !errors.Is(err, ErrRefused) {
		t.Errorf("reject of a non-digest: %v", err)
	}
}

func TestPin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := devReady(f)
	commits := f.commits()
	// Guard: the digest given must be what runs.
	_, err := Pin(ctx, f.stateOptions("hold"), "dev", "orders", d["catalog"])
	if !errors.Is(err, ErrNotRunning) || !errors.Is(err, ErrRefused) || f.commits() != commits {
		t.Fatalf("pin of another digest: %v", err)
	}
	// Nothing deployed: nothing to hold.
	if _, err := Pin(ctx, f.stateOptions("hold"), "prod", "orders", ""); !errors.Is(err, ErrNotRunning) || f.commits() != commits {
		t.Fatalf("pin of an undeployed service: %v", err)
	}
	rep, err := Pin(ctx, f.stateOptions("hold for the demo"), "dev", "orders", d["orders"])
	if err != nil || !rep.Deployments[0].Changed || f.commits() != commits+1 {
		t.Fatalf("pin: %+v, %v", rep, err)
	}
	msg := f.git("log", "-1", "--format=%B", "main")
	if !strings.HasPrefix(msg, "pin(dev): orders\n") || !strings.Contains(msg, "Reason: hold for the demo") {
		t.Errorf("message:\n%s", msg)
	}
	rep, err = Pin(ctx, f.stateOptions("again"), "dev", "orders", "")
	if err != nil || rep.Deployments[0].Changed || f.commits() != commits+1 || !strings.Contains(strings.Join(rep.Notes, ""), "already pinned") {
		t.Fatalf("second pin: %+v, %v", rep, err)
	}
	if _, err := Pin(ctx, f.stateOptions(""), "qa", "orders", ""); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown environment: %v", err)
	}
}

// fakeGitHub answers the pull-request calls of internal/forge: no
// pull request exists yet, and creating one returns its URL.
func fakeGitHub(t *testing.T) (*forge.Client, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var created []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/repos/acme/gitops/pulls":
			io.WriteString(w, "[]")
		case r.Method == http.MethodPost && r.URL.Path == "/repos/acme/gitops/pulls":
			var in struct{ Head, Base, Title, Body string }
			json.NewDecoder(r.Body).Decode(&in)
			created = append(created, in.Head+" → "+in.Base+": "+in.Title+"\n"+in.Body)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"number":%d,"html_url":"https://github.example/acme/gitops/pull/%d","state":"open"}`, len(created), len(created))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := forge.New(forge.GitHub, "acme/gitops", "token", forge.WithBaseURL(srv.URL), forge.WithRetries(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c, &created
}

// TestPullRequestMode: an environment in pull-request mode gets a pull
// request from slipway/<env>, not a commit on its branch; a
// rollback's pin travels in its pull request.
func TestPullRequestMode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for i := range f.cfg.Project.Environments {
		if f.cfg.Project.Environments[i].Name == "prod" {
			f.cfg.Project.Environments[i].Mode = "pull-request"
		}
	}
	gh, created := fakeGitHub(t)
	d := devReady(f)
	if _, err := Run(ctx, f.options("dev", "staging")); err != nil {
		t.Fatal(err)
	}
	main := f.git("rev-parse", "main")
	o := f.options("staging", "prod")
	o.GitOptions = append(o.GitOptions, gitops.WithPullRequests(gh))
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	branch := "slipway/prod"
	if f.git("rev-parse", "main") != main {
		t.Fatal("pull-request mode committed to main")
	}
	if rep.Deployments[0].PullRequest != "https://github.example/acme/gitops/pull/1" || rep.Deployments[0].Branch != branch {
		t.Fatalf("deployment = %+v", rep.Deployments[0])
	}
	if len(*created) != 1 || !strings.HasPrefix((*created)[0], branch+" → main: deploy(prod): catalog, notify, orders") || !strings.Contains((*created)[0], "Promoted from staging") {
		t.Fatalf("pull requests = %q", *created)
	}
	if !strings.Contains(f.git("show", branch+":deploy/overlays/prod/kustomization.yaml"), d["orders"]) {
		t.Fatal("the pull-request branch does not hold the promotion")
	}
	// Rollback in pull-request mode: image and pin in one pull request.
	ro := f.rollbackOptions("prod", "orders", d["orders"])
	ro.GitOptions = o.GitOptions
	// prod's main branch still names the bootstrap registry: say where to
	// look and where prod runs from.
	ro.SourceRegistry, ro.TargetRegistry = f.host, f.host
	if _, err := Rollback(ctx, ro); err != nil {
		t.Fatal(err)
	}
	if f.git("rev-parse", "main") != main {
		t.Fatal("the rollback committed to main")
	}
	if !strings.Contains(f.git("show", branch+":"+stateFile), "service: orders") {
		t.Fatal("the pin is not in the pull request")
	}
}

// TestPullRequestSettledAfterMerge: once prod's pull request is merged, the
// next promotion finds nothing to copy or commit, and deletes the
// pull-request branch instead of leaving it behind.
func TestPullRequestSettledAfterMerge(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for i := range f.cfg.Project.Environments {
		if f.cfg.Project.Environments[i].Name == "prod" {
			f.cfg.Project.Environments[i].Mode = "pull-request"
		}
	}
	gh, _ := fakeGitHub(t)
	devReady(f)
	if _, err := Run(ctx, f.options("dev", "staging")); err != nil {
		t.Fatal(err)
	}
	o := f.options("staging", "prod")
	o.GitOptions = append(o.GitOptions, gitops.WithPullRequests(gh))
	if _, err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	// Merged (the fake forge does not see how).
	f.git("update-ref", "refs/heads/main", f.git("rev-parse", "slipway/prod"))
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Deployments; len(d) != 1 || d[0].Changed {
		t.Fatalf("after the merge: %+v", d)
	}
	if refs := f.git("for-each-ref", "--format=%(refname)", "refs/heads/"); refs != "refs/heads/main" {
		t.Fatalf("branches after the merge and a promotion: %q", refs)
	}
}

// TestRollbackIgnoresAMovedCommitTag: the commit tag is mutable; rollback
// --to <commit> finds the image through the signatures that record the
// commit, so a tag moved to an unsigned image, another commit's image or
// another service's image redirects nothing.
func TestRollbackIgnoresAMovedCommitTag(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1, v2 := prodAt(t, f)
	repo := f.repoOf("orders")
	move := func(digest string) {
		t.Helper()
		if err := f.reg.Tag(ctx, repo+"@"+digest, c1); err != nil {
			t.Fatal(err)
		}
		if f.tagged(repo, c1) != digest {
			t.Fatal("set-up: the tag did not move")
		}
	}
	unsigned := f.publish("orders", image{seed: 90, commit: c3})
	// catalog's image, signed as catalog at c1, pushed into orders'
	// repository.
	catalogImg := f.publish("orders", image{seed: 91, commit: c3})
	if _, err := f.signer.Sign(ctx, repo+"@"+catalogImg, map[string]string{"dev.slipway.service": "catalog", "dev.slipway.source-commit": c1}); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]string{"unsigned": unsigned, "another commit's": v2, "another service's": catalogImg} {
		move(d)
		for _, target := range []string{c1, c1[:9]} {
			rep, err := Rollback(ctx, f.rollbackOptions("prod", "orders", target))
			if err != nil {
				t.Fatalf("tag moved to %s image, rollback to %s: %v", name, target, err)
			}
			if got := f.imageIn("prod", "orders").Image; got.Digest != v1 || got.Tag != c1 || status(rep, "orders").Digest != v1 {
				t.Fatalf("tag moved to %s image, rollback to %s deployed %+v, want %s", name, target, got, v1)
			}
			if _, err := Rollback(ctx, f.rollbackOptions("prod", "orders", v2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A commit whose only image under its tag is unsigned is refused, and
	// the refusal says the tag was not followed.
	_, err := Rollback(ctx, f.rollbackOptions("prod", "orders", c3))
	if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "which no such signature vouches for") {
		t.Fatalf("rollback to c3: %v", err)
	}
	// Without a public key a commit cannot be resolved.
	o := f.rollbackOptions("prod", "orders", c1)
	o.Verifier = nil
	if _, err := Rollback(ctx, o); !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "no public key was given; pass the key, or roll back to a digest") {
		t.Fatalf("without a key: %v", err)
	}
}
