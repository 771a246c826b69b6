package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/slipwayci/slipway/internal/report"
)

// TestModuleDirtyTree: a commit SHA only ever names an image built from that
// commit. ci refuses uncommitted changes to the inputs of the services it
// would publish, naming them, and writes nothing; --allow-dirty publishes
// under -dirty tags only, never the bare SHA and never an input tag.
func TestModuleDirtyTree(t *testing.T) {
	r := newSlipwayRun(t)
	head := r.git("rev-parse", "HEAD")
	r.edit("services/orders/main.go", func(s string) string { return s + "\n// not committed yet\n" })
	if err := os.WriteFile(filepath.Join(r.fixture, "services/catalog/scratch.py"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A staged change counts too (git's index, not the working tree).
	r.edit("services/notify/package.json", func(s string) string { return strings.Replace(s, "{", "{\n  \"private\": true,", 1) })
	r.git("add", "services/notify/package.json")

	// 1. Refused before anything runs, every change named.
	out, err := r.call("ci")
	if err == nil {
		t.Fatalf("ci over uncommitted changes succeeded:\n%s", tail(out, 40))
	}
	for _, want := range []string{"uncommitted changes", "--allow-dirty",
		"modified  services/orders/main.go", "untracked services/catalog/scratch.py", "staged    services/notify"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, tail(out, 40))
		}
	}
	if commits, _ := r.gitopsState(); commits > 1 {
		t.Errorf("the refused run wrote to the GitOps repository (%d commits)", commits)
	}
	reg := r.exposeRegistry()
	repos, err := crane.Catalog(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range repos {
		if strings.Contains(repo, r.project) {
			t.Errorf("the refused run pushed %s", repo)
		}
	}

	// 2. A dry run goes on and notes the changes.
	r.mustCall("ci", "--dry-run", "--service", "orders")
	if rep := r.lastReport(); !strings.Contains(strings.Join(rep.Notes, "\n"), "services/orders/main.go (modified)") {
		t.Errorf("the dry run does not note the uncommitted change: %v", rep.Notes)
	}

	// 3. --allow-dirty: -dirty tags only, the GitOps tag says so too.
	r.mustCall("ci", "--allow-dirty", "--service", "orders")
	rep := r.lastReport()
	orders := byName(rep)["orders"]
	if orders.Status != report.Built || !strings.Contains(strings.Join(rep.Notes, "\n"), "--allow-dirty") {
		t.Fatalf("allowed dirty run: %+v\n%s", orders, rep.Text())
	}
	for _, tag := range orders.Tags {
		if !strings.HasSuffix(tag, "-dirty") {
			t.Errorf("tag %q of a dirty build", tag)
		}
	}
	repo := strings.Replace(orders.Repository, "registry:5000", reg, 1)
	tags, err := crane.ListTags(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if tag == head || strings.HasPrefix(tag, "input-") {
			t.Errorf("a dirty build got the tag %q (tags: %v)", tag, tags)
		}
	}
	if d, err := crane.Digest(repo + ":" + head + "-dirty"); err != nil || d != orders.Digest {
		t.Errorf("%s:%s-dirty = %s (%v), want %s", repo, head, d, err, orders.Digest)
	}
	cfgJSON, err := crane.Config(repo + "@" + orders.Digest)
	if err != nil || !strings.Contains(string(cfgJSON), `"dev.slipway.dirty":"true"`) {
		t.Errorf("the image does not carry dev.slipway.dirty=true (%v): %s", err, cfgJSON)
	}
	_, dev := r.gitopsState()
	if !strings.Contains(dev, orders.Digest) || !strings.Contains(dev, head+"-dirty") {
		t.Errorf("dev overlay does not pin orders at %s under %s-dirty:\n%s", orders.Digest, head, dev)
	}
}
