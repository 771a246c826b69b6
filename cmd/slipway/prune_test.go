package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

// labelled publishes a signed image of service built age ago (by its
// created label) under commit and returns its digest.
func (w *worker) labelled(service string, seed int64, commit string, age time.Duration) string {
	w.t.Helper()
	ctx := context.Background()
	img := registrytest.Image(w.t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 512,
		Labels: map[string]string{"org.opencontainers.image.created": time.Now().Add(-age).UTC().Format(time.RFC3339)}})
	d, err := w.reg.PushImage(ctx, img, w.host+"/shop/"+service+":"+commit)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.signer.Sign(ctx, d.String(), map[string]string{signing.AnnotationService: service}); err != nil {
		w.t.Fatal(err)
	}
	return d.DigestStr()
}

func TestWorkerPrune(t *testing.T) {
	w := newWorker(t)
	ctx := context.Background()
	const day = 24 * time.Hour
	running := w.labelled("orders", 1, commitA, 100*day)
	old := w.labelled("orders", 2, commitB, 90*day)
	young := w.labelled("orders", 3, strings.Repeat("c", 40), day)
	w.deployDev(commitA, map[string]string{"orders": running})
	repo := w.host + "/shop/orders"
	before, err := w.reg.ListTags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}

	// Dry run by default: the plan is printed, nothing is deleted.
	code, rep, logs := w.run("prune", "--registry", w.host, "--keep", "1")
	if code != 0 || rep == nil || rep.Kind != "prune" || !rep.DryRun || rep.Count(report.Pruned) != 1 || rep.Count(report.Kept) != 2 {
		t.Fatalf("dry run: exit %d %+v\n%s", code, rep, logs)
	}
	if !strings.Contains(logs, "would delete 1 image(s)") || !strings.Contains(logs, "runs in dev") {
		t.Errorf("dry run output:\n%s", logs)
	}
	if after, _ := w.reg.ListTags(ctx, repo); !slices.Equal(before, after) {
		t.Fatalf("the dry run changed the tags: %q → %q", before, after)
	}
	for _, s := range rep.Services {
		if s.Digest == old && (s.Status != report.Pruned || !strings.Contains(s.Reason, "older than 720h")) {
			t.Errorf("old image: %+v", s)
		}
		if s.Digest == running && (s.Status != report.Kept || !strings.Contains(s.Reason, "runs in dev")) {
			t.Errorf("running image: %+v", s)
		}
	}

	// --apply deletes the old image and its signature, and only that.
	code, rep, logs = w.run("prune", "--registry", w.host, "--keep", "1", "--apply")
	if code != 0 || rep.DryRun || rep.Count(report.Pruned) != 1 || !rep.OK() {
		t.Fatalf("apply: exit %d %+v\n%s", code, rep, logs)
	}
	after, _ := w.reg.ListTags(ctx, repo)
	sig := "sha256-" + strings.TrimPrefix(old, "sha256:") + ".sig"
	if slices.Contains(after, commitB) || slices.Contains(after, sig) || !slices.Contains(after, commitA) {
		t.Errorf("tags after apply: %q", after)
	}
	for d, want := range map[string]bool{old: false, running: true, young: true} {
		if ok, err := w.reg.Exists(ctx, repo+"@"+d); err != nil || ok != want {
			t.Errorf("%s exists %v (%v), want %v", d, ok, err, want)
		}
	}

	// Usage errors exit 2 and touch nothing.
	for _, args := range [][]string{
		{"prune", "--registry", w.host, "--keep", "-1"},
		{"prune", "--registry", w.host, "--older-than", "0s"},
		{"prune"}, // slipway.yaml names no registry
	} {
		if code, _, logs := w.run(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, logs)
		}
	}
}
