package gitops

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/gitops/edit"
	"github.com/slipwayci/slipway/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// sampleChanges are new images for all four services of the sample tree.
func sampleChanges(n int) []Change {
	return []Change{
		{Service: "api", Image: "registry.example.com/shop/api", Tag: "1.0.0", Digest: dig(n)},
		{Service: "web", Image: "registry.example.com/shop/web", Tag: "1.0.0", Digest: dig(n + 1)},
		{Service: "worker", Image: "registry.example.com/shop/worker", Tag: "1.0.0", Digest: dig(n + 2)},
		{Service: "gateway", Image: "registry.example.com/shop/gateway", Tag: "1.0.0", Digest: dig(n + 3)},
	}
}

func sampleTree(t testing.TB) string {
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "repo"), dir)
	return dir
}

func golden(t *testing.T, name string, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("differs from %s:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func TestPlanSample(t *testing.T) {
	dir := sampleTree(t)
	before := snapshot(t, dir)
	p, err := PlanUpdate(dir, loadLayout(t), "dev", sampleChanges(1))
	if err != nil {
		t.Fatal(err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("PlanUpdate wrote to the tree")
	}
	if !p.Changed() || len(p.Files) != 3 || len(p.ChangedServices()) != 4 {
		t.Fatalf("plan: changed=%v files=%d services=%+v", p.Changed(), len(p.Files), p.Services)
	}
	golden(t, "plan-dev.diff", p.Diff())
	golden(t, "plan-dev.message", CommitMessage(p, "0123456789abcdef0123456789abcdef01234567"))
	api := p.Services[0] // sorted by service name
	if api.Old.Digest != "sha256:0000000000000000000000000000000000000000000000000000000000000000" || api.Old.Tag != "0.9.0" || api.New.Digest != dig(1) {
		t.Fatalf("api update = %+v", api)
	}
	if err := p.Apply(dir); err != nil {
		t.Fatal(err)
	}
	// Planning the same changes on the written tree is a no-op.
	again, err := PlanUpdate(dir, loadLayout(t), "dev", sampleChanges(1))
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed() || again.Diff() != "" || len(again.ChangedServices()) != 0 {
		t.Fatalf("second plan changed: %s", again.Diff())
	}
	// Only the planned files changed, and nothing else appeared.
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if len(files) != 12 {
		t.Fatalf("tree has %d files after Apply: %v", len(files), files)
	}
}

// An environment that already runs a digest keeps its line as it is when a
// later commit tags the same image anew (no redeploy for an unchanged
// service); a new digest, or the same digest from another repository, is
// written with its tag.
func TestPlanKeepsTheLineOfAnUnchangedDigest(t *testing.T) {
	dir := sampleTree(t)
	p, err := PlanUpdate(dir, loadLayout(t), "dev", sampleChanges(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(dir); err != nil {
		t.Fatal(err)
	}
	retagged := sampleChanges(1)
	for i := range retagged {
		retagged[i].Tag = "2.0.0"
	}
	retagged[1].Digest = dig(9) // web really changes
	retagged[2].Image = "registry.example.com/other/worker"
	p, err = PlanUpdate(dir, loadLayout(t), "dev", retagged)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, s := range p.ChangedServices() {
		changed = append(changed, s.Service)
	}
	if strings.Join(changed, ",") != "web,worker" {
		t.Fatalf("changed services %v, want web and worker only:\n%s", changed, p.Diff())
	}
	for _, s := range p.Services {
		if s.Service == "api" && (s.New.Tag != "1.0.0" || s.Changed) {
			t.Errorf("api's unchanged image was rewritten: %+v", s)
		}
	}
	d := p.Diff()
	for _, want := range []string{"+    newTag: 2.0.0\n+    digest: " + dig(9), "+              image: registry.example.com/other/worker:2.0.0@" + dig(3)} {
		if !strings.Contains(d, want) {
			t.Errorf("the diff does not write %q:\n%s", want, d)
		}
	}
	for _, unchanged := range []string{dig(1), dig(4), "shop/gateway", "shop/api"} {
		if strings.Contains(d, unchanged) {
			t.Errorf("the diff touches the unchanged %s:\n%s", unchanged, d)
		}
	}
}

// TestPlanErrors: every bad input fails naming the file and key, and
// leaves the tree as it was.
func TestPlanErrors(t *testing.T) {
	layout := loadLayout(t)
	for _, tc := range []struct {
		name    string
		prepare func(dir string)
		env     string
		changes []Change
		is      error
		mention []string
	}{
		{
			name: "malformed YAML",
			prepare: func(dir string) {
				os.WriteFile(filepath.Join(dir, "deploy/overlays/dev/kustomization.yaml"), []byte("images:\n- name: api\n  newTag: [x\n"), 0o644)
			},
			env: "dev", changes: sampleChanges(1)[:1], is: edit.ErrMalformed,
			mention: []string{"deploy/overlays/dev/kustomization.yaml", "service api", "malformed YAML"},
		},
		{
			name:    "missing image entry",
			env:     "dev",
			changes: []Change{{Service: "billing", Tag: "1", Digest: dig(1)}},
			is:      edit.ErrNotFound,
			mention: []string{"deploy/overlays/dev/kustomization.yaml", "images[name=billing]"},
		},
		{
			name: "missing helm key",
			prepare: func(dir string) {
				os.WriteFile(filepath.Join(dir, "deploy/helm/values-dev.yaml"), []byte("gateway:\n  replicas: 1\n"), 0o644)
			},
			env:     "dev",
			changes: sampleChanges(1)[3:],
			is:      edit.ErrNotFound,
			mention: []string{"deploy/helm/values-dev.yaml", "gateway.image"},
		},
		{
			name:    "missing file",
			prepare: func(dir string) { os.Remove(filepath.Join(dir, "deploy/overlays/dev/worker.yaml")) },
			env:     "dev",
			changes: sampleChanges(1),
			is:      fs.ErrNotExist,
			mention: []string{"deploy/overlays/dev/worker.yaml", "containers[image=registry.example.com/shop/worker].image"},
		},
		{
			name:    "unknown environment",
			env:     "qa",
			changes: sampleChanges(1),
			is:      ErrUnknownEnvironment,
			mention: []string{"environments.qa"},
		},
		{
			name:    "unpinned change",
			env:     "dev",
			changes: []Change{{Service: "api", Tag: "1.0.0"}},
			is:      edit.ErrInvalidImage,
			mention: []string{"service api", "digest"},
		},
		{
			name:    "service twice",
			env:     "dev",
			changes: append(sampleChanges(1), sampleChanges(5)[0]),
			is:      ErrInvalidChange,
			mention: []string{"api listed twice"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := sampleTree(t)
			if tc.prepare != nil {
				tc.prepare(dir)
			}
			before := snapshot(t, dir)
			_, err := PlanUpdate(dir, layout, tc.env, tc.changes)
			if !errors.Is(err, tc.is) {
				t.Fatalf("error = %v, want %v", err, tc.is)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if snapshot(t, dir) != before {
				t.Fatal("the tree changed")
			}
		})
	}
}

// TestKustomizeBuild renders every updated overlay of the sample tree with
// the pinned kustomize CLI and checks the output uses the pinned digests.
func TestKustomizeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kustomize CLI")
	}
	kustomize := testutil.Tool(t, "kustomize")
	dir := sampleTree(t)
	layout := loadLayout(t)
	for i, env := range layout.EnvironmentNames() {
		changes := sampleChanges(10 * (i + 1))
		p, err := PlanUpdate(dir, layout, env, changes)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(dir); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(kustomize, "build", filepath.Join(dir, "deploy", "overlays", env)).CombinedOutput()
		if err != nil {
			t.Fatalf("kustomize build %s: %v\n%s", env, err, out)
		}
		for _, c := range changes[:3] { // gateway lives in Helm values, not in the overlay
			ref := c.Image + ":" + c.Tag + "@" + c.Digest
			if !strings.Contains(string(out), "image: "+ref) {
				t.Errorf("%s: rendered output lacks %s:\n%s", env, ref, out)
			}
		}
		if n := strings.Count(string(out), "image: "+changes[0].Image+":"); n != 2 {
			t.Errorf("%s: api image appears %d times, want 2 (container and init container)", env, n)
		}
		if strings.Contains(string(out), "0000000000000000") || strings.Contains(string(out), ":0.9.0") {
			t.Errorf("%s: an old image survived:\n%s", env, out)
		}
	}
}
