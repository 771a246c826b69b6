package gitops

import (
	"context"
	"testing"
)

// TestImageHistoryAndContains: the images an environment ran, newest
// first, one entry per digest, read from the commits that changed its
// file; and ancestry of GitOps commits.
func TestImageHistoryAndContains(t *testing.T) {
	ctx := context.Background()
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	layout := loadLayout(t)
	var commits []string
	for _, n := range []int{1, 2, 2, 5, 1} {
		res, err := r.Update(ctx, layout, Request{Environment: "dev", Changes: sampleChanges(n), SourceCommit: source})
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed {
			commits = append(commits, res.Commit)
		}
	}
	// Staging changes in between do not touch dev's file.
	if _, err := r.Update(ctx, layout, Request{Environment: "staging", Changes: sampleChanges(7), SourceCommit: source}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Checkout(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	hist, err := r.ImageHistory(ctx, layout, "dev", "api", 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, h.Image.Digest)
	}
	// 1 (newest), 5, 2; the older 1 is the same digest; the seed's zero
	// digest last.
	want := []string{dig(1), dig(5), dig(2)}
	if len(got) < 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("history = %q, want %q first", got, want)
	}
	if hist[0].Commit != commits[len(commits)-1] || hist[1].Image.Name != "registry.example.com/shop/api" {
		t.Fatalf("history entries: %+v (dev commits %q)", hist[:2], commits)
	}
	if hist, err := r.ImageHistory(ctx, layout, "dev", "api", 1); err != nil || len(hist) != 1 {
		t.Fatalf("limit 1: %v %v", hist, err)
	}

	tip := remoteRef(t, bare, "main")
	for _, tc := range []struct {
		ancestor, commit string
		want             bool
	}{
		{commits[0], tip, true},
		{commits[1], commits[1], true},
		{tip, commits[0], false},
		{commits[0], "0000000000000000000000000000000000000001", false},
	} {
		ok, err := r.Contains(ctx, "main", tc.ancestor, tc.commit)
		if err != nil || ok != tc.want {
			t.Errorf("Contains(%s, %s) = %v, %v; want %v", tc.ancestor[:7], tc.commit[:7], ok, err, tc.want)
		}
	}
}
