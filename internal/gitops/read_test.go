package gitops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

func TestReadImagesEveryKind(t *testing.T) {
	dir := sampleTree(t)
	layout := loadLayout(t)
	got, err := ReadImages(dir, layout, "dev", []string{"api", "web", "worker", "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Current{
		"api": {Service: "api", File: "deploy/overlays/dev/kustomization.yaml", Key: "images[name=api]",
			Image: edit.Image{Name: "registry.example.com/shop/api", Tag: "0.9.0", Digest: "sha256:" + strings.Repeat("0", 64)}},
		"web": {Service: "web", File: "deploy/overlays/dev/kustomization.yaml", Key: "images[name=web]",
			Image: edit.Image{Name: "registry.example.com/shop/web", Tag: "0.9.0"}},
		"worker": {Service: "worker", File: "deploy/overlays/dev/worker.yaml", Key: "containers[image=registry.example.com/shop/worker].image",
			Image: edit.Image{Name: "registry.example.com/shop/worker", Tag: "0.9.0"}},
		"gateway": {Service: "gateway", File: "deploy/helm/values-dev.yaml", Key: "gateway.image",
			Image: edit.Image{Name: "registry.example.com/shop/gateway", Tag: "0.9.0"}},
	}
	for svc, w := range want {
		if got[svc] != w {
			t.Errorf("%s = %+v, want %+v", svc, got[svc], w)
		}
	}
	// Reading writes nothing.
	before := snapshot(t, dir)
	if _, err := ReadImages(dir, layout, "prod", []string{"api"}); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("ReadImages changed the checkout")
	}
}

// TestReadImagesAfterUpdate reads back exactly what PlanUpdate wrote.
func TestReadImagesAfterUpdate(t *testing.T) {
	dir := sampleTree(t)
	layout := loadLayout(t)
	changes := []Change{
		{Service: "api", Image: "reg.local/shop/api", Tag: source, Digest: dig(1)},
		{Service: "worker", Tag: source, Digest: dig(2)},
		{Service: "gateway", Tag: source, Digest: dig(3)},
	}
	p, err := PlanUpdate(dir, layout, "staging", changes)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(dir); err != nil {
		t.Fatal(err)
	}
	got, err := ReadImages(dir, layout, "staging", []string{"api", "worker", "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		img := got[c.Service].Image
		if img.Digest != c.Digest || img.Tag != c.Tag || (c.Image != "" && img.Name != c.Image) {
			t.Errorf("%s read back as %+v after writing %+v", c.Service, img, c)
		}
	}
}

func TestReadImagesErrorsNameFileAndKey(t *testing.T) {
	dir := sampleTree(t)
	layout := loadLayout(t)
	_, err := ReadImages(dir, layout, "dev", []string{"billing"})
	if !errors.Is(err, edit.ErrNotFound) || !strings.Contains(err.Error(), "environment dev, service billing: deploy/overlays/dev/kustomization.yaml: reading images[name=billing]") {
		t.Errorf("missing entry: %v", err)
	}
	os.Remove(filepath.Join(dir, "deploy/overlays/staging/worker.yaml"))
	_, err = ReadImages(dir, layout, "staging", []string{"worker"})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "deploy/overlays/staging/worker.yaml") || !strings.Contains(err.Error(), "containers[image=registry.example.com/shop/worker].image") {
		t.Errorf("missing file: %v", err)
	}
	var le *LocatedError
	if !errors.As(err, &le) || le.Environment != "staging" || le.Service != "worker" || le.File != "deploy/overlays/staging/worker.yaml" {
		t.Errorf("missing file: not located by environment, service and file: %#v", le)
	}
	if _, err := ReadImages(dir, layout, "qa", []string{"api"}); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("unknown environment: %v", err)
	}
	// A kustomize target that may create its entry still reads as missing.
	l := Layout{Services: map[string]Target{"billing": {Create: true}}}
	if _, err := ReadImages(dir, l, "dev", []string{"billing"}); !errors.Is(err, edit.ErrNotFound) {
		t.Errorf("create target: %v", err)
	}
}

// TestPrepareHook drops a change and adds a file in the same commit, and
// runs again on the new tip when the push loses a race.
func TestPrepareHook(t *testing.T) {
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	other := clone(t, bare)
	calls := 0
	r.o.beforePush = func(attempt int) {
		if attempt == 1 {
			// Another writer lands first.
			if _, err := other.Update(context.Background(), loadLayout(t), Request{Environment: "dev", Changes: []Change{{Service: "web", Tag: "x", Digest: dig(9)}}, SourceCommit: source}); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := r.Update(context.Background(), loadLayout(t), Request{
		Environment: "dev", SourceCommit: source, Note: "Pinned: api.",
		Changes: []Change{{Service: "api", Tag: "new", Digest: dig(1)}, {Service: "worker", Tag: "new", Digest: dig(2)}},
		Prepare: func(dir string, in []Change) ([]Change, []FileUpdate, error) {
			calls++
			if len(in) != 2 {
				t.Errorf("Prepare got %d changes", len(in))
			}
			before, _ := os.ReadFile(filepath.Join(dir, "deploy/state.yaml"))
			return in[:1], []FileUpdate{{Path: "deploy/state.yaml", Before: before, After: []byte("pins: [api]\n")}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || res.Attempts != 2 || !res.Pushed {
		t.Fatalf("calls=%d result=%+v", calls, res)
	}
	if got := remoteFile(t, bare, "main", "deploy/state.yaml"); got != "pins: [api]" {
		t.Errorf("state file = %q", got)
	}
	kust := remoteFile(t, bare, "main", "deploy/overlays/dev/kustomization.yaml")
	if !strings.Contains(kust, dig(1)) || !strings.Contains(kust, dig(9)) {
		t.Errorf("api or the other writer's web lost:\n%s", kust)
	}
	if strings.Contains(remoteFile(t, bare, "main", "deploy/overlays/dev/worker.yaml"), dig(2)) {
		t.Error("the change Prepare dropped was written")
	}
	files := runGit(t, bare, "diff", "--name-only", "main~1", "main")
	if files != "deploy/overlays/dev/kustomization.yaml\ndeploy/state.yaml" {
		t.Errorf("one commit should hold both files, got %q", files)
	}
	msg := runGit(t, bare, "log", "-1", "--format=%B", "main")
	if !strings.HasPrefix(msg, "deploy(dev): api\n") || !strings.Contains(msg, "\nPinned: api.\n\nSource-Commit: "+source) {
		t.Errorf("message:\n%s", msg)
	}
	// A Prepare error writes nothing.
	head := remoteRef(t, bare, "main")
	boom := errors.New("boom")
	_, err = r.Update(context.Background(), loadLayout(t), Request{Environment: "dev", Changes: []Change{{Service: "api", Digest: dig(3)}},
		Prepare: func(string, []Change) ([]Change, []FileUpdate, error) { return nil, nil, boom }})
	if !errors.Is(err, boom) || remoteRef(t, bare, "main") != head {
		t.Fatalf("Prepare error: %v", err)
	}
	assertClean(t, r)
}

func TestCommitFiles(t *testing.T) {
	bare := newRemote(t, t.TempDir())
	r := clone(t, bare)
	edit := func(content string) FileEditor {
		return func(dir string) ([]FileUpdate, error) {
			before, err := os.ReadFile(filepath.Join(dir, "deploy/new/state.yaml"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			return []FileUpdate{{Path: "deploy/new/state.yaml", Before: before, After: []byte(content)}}, nil
		}
	}
	head := remoteRef(t, bare, "main")
	dry, err := r.CommitFiles(context.Background(), "main", "state: one", edit("one\n"), true)
	if err != nil || !dry.Changed || dry.Pushed || !strings.Contains(dry.Diff, "+one") {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	if remoteRef(t, bare, "main") != head {
		t.Fatal("dry run pushed")
	}
	res, err := r.CommitFiles(context.Background(), "main", "state: one", edit("one\n"), false)
	if err != nil || !res.Pushed || res.Commit != remoteRef(t, bare, "main") {
		t.Fatalf("CommitFiles = %+v, %v", res, err)
	}
	if got := remoteFile(t, bare, "main", "deploy/new/state.yaml"); got != "one" {
		t.Fatalf("file = %q", got)
	}
	again, err := r.CommitFiles(context.Background(), "main", "state: one", edit("one\n"), false)
	if err != nil || again.Changed || again.Pushed || remoteRef(t, bare, "main") != res.Commit {
		t.Fatalf("no-op = %+v, %v", again, err)
	}
	if _, err := r.CommitFiles(context.Background(), "main", "x", func(string) ([]FileUpdate, error) {
		return []FileUpdate{{Path: "../escape", After: []byte("x")}}, nil
	}, false); err == nil || remoteRef(t, bare, "main") != res.Commit {
		t.Fatalf("a path outside the repository was accepted: %v", err)
	}
	if _, err := r.CommitFiles(context.Background(), "main", " ", edit("two\n"), false); err == nil {
		t.Fatal("empty message accepted")
	}
	tip, err := r.Checkout(context.Background(), "main")
	if err != nil || tip != res.Commit {
		t.Fatalf("Checkout = %s, %v", tip, err)
	}
	assertClean(t, r)
}
