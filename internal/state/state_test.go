package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/testutil"
)

func dig(n int) string { return fmt.Sprintf("sha256:%064x", n) }

var when = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func TestEmptyStateThenEdits(t *testing.T) {
	s, err := Parse("deploy/slipway-state.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Pinned("prod", "orders"); ok {
		t.Fatal("empty state has a pin")
	}
	if u, err := s.Update(); err != nil || u.Path != "" {
		t.Fatalf("untouched empty state is an update: %+v, %v", u, err)
	}
	changed, err := s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(1), Reason: "rollback: 5xx", By: "alice", At: when, SourceCommit: "abc1234"})
	if err != nil || !changed {
		t.Fatalf("SetPin = %v, %v", changed, err)
	}
	if changed, err := s.Deny(Denied{Digest: dig(2), Reason: "CVE-2025-0001", By: "bob", At: when}); err != nil || !changed {
		t.Fatalf("Deny = %v, %v", changed, err)
	}
	u, err := s.Update()
	if err != nil || u.Path != "deploy/slipway-state.yaml" || len(u.Before) != 0 {
		t.Fatalf("Update = %+v, %v", u, err)
	}
	out := string(u.After)
	for _, want := range []string{
		"# slipway state: pins and rejected digests.",
		"version: 1\n",
		"pins:\n  - environment: prod\n    service: orders\n    digest: " + dig(1) + "\n    reason: 'rollback: 5xx'\n    by: alice\n    at: 2025-03-04T05:06:07Z\n    sourceCommit: abc1234\n",
		"denylist:\n  - digest: " + dig(2) + "\n    reason: CVE-2025-0001\n    by: bob\n    at: 2025-03-04T05:06:07Z\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered state lacks %q:\n%s", want, out)
		}
	}
	// Round trip.
	back, err := Parse("deploy/slipway-state.yaml", u.After)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := back.Pinned("prod", "orders")
	if !ok || p.Digest != dig(1) || !p.At.Equal(when) || p.By != "alice" {
		t.Fatalf("pin after round trip = %+v, %v", p, ok)
	}
	if d, ok := back.Denylisted(dig(2)); !ok || d.Reason != "CVE-2025-0001" {
		t.Fatalf("denylist after round trip = %+v, %v", d, ok)
	}
	if u, _ := back.Update(); u.Path != "" {
		t.Fatal("a parsed, untouched state is an update")
	}
}

func TestCommentsSurviveEdits(t *testing.T) {
	src := `# Our release decisions.
version: 1
pins:
  # Held since the incident of March 3rd; see INC-42.
  - environment: prod
    service: orders
    digest: ` + dig(1) + `
    reason: rollback
    at: 2025-03-03T00:00:00Z
  - environment: staging
    service: catalog # flaky build
    digest: ` + dig(3) + `
    at: 2025-03-03T00:00:00Z
denylist: [] # nothing yet
`
	s, err := Parse("state.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// Replace the prod pin, drop the staging one, add a rejection.
	if ch, err := s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(4), Reason: "rollback again", At: when}); err != nil || !ch {
		t.Fatal(ch, err)
	}
	if p, ok := s.Unpin("staging", "catalog"); !ok || p.Digest != dig(3) {
		t.Fatalf("Unpin = %+v, %v", p, ok)
	}
	if _, ok := s.Unpin("staging", "catalog"); ok {
		t.Fatal("second Unpin found a pin")
	}
	if _, err := s.Deny(Denied{Digest: dig(5), Reason: "bad", At: when}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{"# Our release decisions.", "# Held since the incident of March 3rd; see INC-42.", "digest: " + dig(4), "reason: rollback again", "- digest: " + dig(5)} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	for _, gone := range []string{dig(1), dig(3), "flaky build"} {
		if strings.Contains(out, gone) {
			t.Errorf("still has %q:\n%s", gone, out)
		}
	}
}

func TestSetPinSameDigestIsNoChange(t *testing.T) {
	s, _ := Parse("s.yaml", nil)
	s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(1), Reason: "first", At: when})
	b1, _ := s.Marshal()
	s2, err := Parse("s.yaml", b1)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s2.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(1), Reason: "second", At: when.Add(time.Hour)})
	if err != nil || ch {
		t.Fatalf("same digest: changed=%v err=%v", ch, err)
	}
	if p, _ := s2.Pinned("prod", "orders"); p.Reason != "first" {
		t.Fatalf("pin was rewritten: %+v", p)
	}
	if ch, _ := s2.Deny(Denied{Digest: dig(9), Reason: "x"}); !ch {
		t.Fatal("new rejection not a change")
	}
	if ch, _ := s2.Deny(Denied{Digest: dig(9), Reason: "y"}); ch {
		t.Fatal("second rejection of one digest is a change")
	}
	if d, _ := s2.Denylisted(dig(9)); d.At.IsZero() {
		t.Fatal("rejection without a time")
	}
}

func TestHold(t *testing.T) {
	s, _ := Parse("s.yaml", nil)
	s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(1), Reason: "rollback", By: "alice", At: when})
	s.Deny(Denied{Digest: dig(2), Reason: "CVE-1", By: "bob", At: when})
	cases := []struct {
		env, svc, digest string
		want             string
	}{
		{"prod", "orders", dig(1), ""},
		{"prod", "orders", dig(3), "orders is pinned in prod to " + dig(1) + " (rollback, by alice, at 2025-03-04T05:06:07Z)"},
		{"staging", "orders", dig(3), ""},
		{"dev", "catalog", dig(2), dig(2) + " is denylisted (CVE-1, by bob, at 2025-03-04T05:06:07Z)"},
		// The denylist beats a pin to the same digest.
		{"prod", "orders", dig(2), dig(2) + " is denylisted"},
	}
	for _, c := range cases {
		got, held := s.Hold(c.env, c.svc, c.digest)
		if held != (c.want != "") || !strings.Contains(got, c.want) {
			t.Errorf("Hold(%s, %s, %s) = %q, %v; want %q", c.env, c.svc, c.digest, got, held, c.want)
		}
	}
}

func TestInvalidFiles(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"bad digest":     {"pins:\n  - environment: prod\n    service: orders\n    digest: sha256:abc\n", `s.yaml:2: pins[0]: invalid state file: invalid state entry: digest "sha256:abc"`},
		"no service":     {"pins:\n  - environment: prod\n    digest: " + dig(1) + "\n", "pins[0]: invalid state file: invalid state entry: no service"},
		"pinned twice":   {"pins:\n  - {environment: prod, service: a, digest: " + dig(1) + "}\n  - {environment: prod, service: a, digest: " + dig(2) + "}\n", "s.yaml:3: pins[1]: invalid state file: service a is pinned twice in prod (also pins[0])"},
		"unknown field":  {"pinz: []\n", "field pinz not found"},
		"no reason":      {"denylist:\n  - digest: " + dig(1) + "\n", "denylist[0]: invalid state file: invalid state entry: " + dig(1) + ": a rejection needs a reason"},
		"listed twice":   {"denylist:\n  - {digest: " + dig(1) + ", reason: a}\n  - {digest: " + dig(1) + ", reason: b}\n", "denylist[1]: invalid state file: " + dig(1) + " is listed twice"},
		"future version": {"version: 2\n", "version: invalid state file: unsupported version 2"},
		"not a mapping":  {"- a\n", "s.yaml: invalid state file"},
	}
	for name, c := range cases {
		_, err := Parse("s.yaml", []byte(c.src))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	s, _ := Parse("s.yaml", nil)
	if _, err := s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: "latest"}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("SetPin with a bad digest: %v", err)
	}
	if _, err := s.Deny(Denied{Digest: dig(1)}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("Deny without a reason: %v", err)
	}
}

// seed makes a bare GitOps repository from the project's own deploy/ tree.
func seed(t *testing.T) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "gitops.git")
	if _, err := gitops.SeedThrowaway(context.Background(), bare, "main", os.DirFS(testutil.RepoRoot(t)), "deploy", "slipway", "s@example.com"); err != nil {
		t.Fatal(err)
	}
	return bare
}

func gitLog(t *testing.T, bare string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", bare, "log", "--format=%s", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v: %s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func fast() []gitops.Option {
	return []gitops.Option{gitops.WithAuthor("slipway test", "s@example.com"), gitops.WithBackoff(5*time.Millisecond, 50*time.Millisecond), gitops.WithMaxAttempts(30)}
}

func TestCommitThroughGit(t *testing.T) {
	ctx := context.Background()
	bare := seed(t)
	const file = "deploy/slipway-state.yaml"
	pin := func(_ string, s *State) error {
		_, err := s.SetPin(Pin{Environment: "prod", Service: "orders", Digest: dig(1), Reason: "rollback", By: "alice", At: when})
		return err
	}
	dry, err := Commit(ctx, bare, "main", file, "pin orders in prod", pin, true, fast()...)
	if err != nil || !dry.Changed || dry.Pushed || !strings.Contains(dry.Diff, "+    digest: "+dig(1)) {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	if n := len(gitLog(t, bare)); n != 1 {
		t.Fatalf("dry run committed: %d commits", n)
	}
	res, err := Commit(ctx, bare, "main", file, "pin orders in prod", pin, false, fast()...)
	if err != nil || !res.Pushed || res.Commit == "" {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	again, err := Commit(ctx, bare, "main", file, "pin orders in prod", pin, false, fast()...)
	if err != nil || again.Changed || again.Pushed {
		t.Fatalf("second Commit = %+v, %v", again, err)
	}
	if log := gitLog(t, bare); len(log) != 2 || log[0] != "pin orders in prod" {
		t.Fatalf("log = %q", log)
	}
	s, tip, err := Load(ctx, bare, "main", file, fast()...)
	if err != nil || tip != res.Commit {
		t.Fatalf("Load: tip %s, %v", tip, err)
	}
	if p, ok := s.Pinned("prod", "orders"); !ok || p.Digest != dig(1) {
		t.Fatalf("loaded pin = %+v, %v", p, ok)
	}
	// A failing edit writes nothing.
	boom := errors.New("boom")
	if _, err := Commit(ctx, bare, "main", file, "x", func(string, *State) error { return boom }, false, fast()...); !errors.Is(err, boom) {
		t.Fatalf("failing edit: %v", err)
	}
	if n := len(gitLog(t, bare)); n != 2 {
		t.Fatalf("failing edit committed")
	}
}

// TestConcurrentCommitsKeepEveryEntry races writers that each pin another
// service: every push that loses re-reads the file from the new tip, so no
// entry is lost and each writer makes exactly one commit.
func TestConcurrentCommitsKeepEveryEntry(t *testing.T) {
	const writers = 6
	bare := seed(t)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = Commit(context.Background(), bare, "main", "deploy/slipway-state.yaml", fmt.Sprintf("pin svc%d", i), func(_ string, s *State) error {
				_, err := s.SetPin(Pin{Environment: "prod", Service: fmt.Sprintf("svc%d", i), Digest: dig(i + 1), At: when})
				return err
			}, false, fast()...)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	s, _, err := Load(context.Background(), bare, "main", "deploy/slipway-state.yaml", fast()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pins()) != writers {
		t.Fatalf("%d pins survived, want %d", len(s.Pins()), writers)
	}
	if n := len(gitLog(t, bare)); n != writers+1 {
		t.Fatalf("%d commits, want %d", n, writers+1)
	}
}
