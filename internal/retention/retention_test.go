package retention

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

const day = 24 * time.Hour

func commit(c string) string { return strings.Repeat(c, 40) }

// scene is a registry and GitOps repository in the state a year of ci
// runs leaves them, with one image per rule.
type scene struct {
	*fixture
	d map[string]string // image name → digest
	// children are the platform manifests of the index "N".
	children []string
}

func newScene(t *testing.T, wrap func(http.Handler) http.Handler) *scene {
	f := newFixture(t, wrap)
	s := &scene{fixture: f, d: map[string]string{}}
	ago := func(d time.Duration) time.Time { return f.now.Add(-d) }
	sortable := func(c string, at time.Time) string { return plan.SortableTag("main", commit(c), at) }
	input, _ := registry.InputTag("sha256:" + strings.Repeat("1", 64))
	orders := map[string]spec{
		// Runs in dev.
		"A": {seed: 1, label: ago(100 * day), tags: []string{commit("a"), sortable("a", ago(100*day)), input}, sign: true, attest: []string{signing.PredicateSLSAProvenanceV1}},
		// Pinned in staging.
		"B": {seed: 2, label: ago(90 * day), tags: []string{commit("b")}, sign: true},
		// Old, signed and attested: deleted with its .sig and .att.
		"C": {seed: 3, label: ago(80 * day), tags: []string{commit("c"), sortable("c", ago(80*day))}, sign: true,
			attest: []string{signing.PredicateSLSAProvenanceV1, signing.PredicateCycloneDX}},
		// Old by its sortable tag only.
		"D": {seed: 4, tags: []string{commit("d"), sortable("d", ago(60*day))}},
		// Old by its config's created time only.
		"D2": {seed: 5, config: ago(50 * day), tags: []string{commit("e")}},
		// Young, and among the newest.
		"E": {seed: 6, label: ago(5 * day), tags: []string{commit("f")}},
		"G": {seed: 7, label: ago(1 * day), tags: []string{commit("9")}},
		// Old, but the third newest.
		"H": {seed: 8, label: ago(40 * day), tags: []string{commit("8")}},
		// Old, with a release tag prune leaves alone.
		"I": {seed: 9, label: ago(200 * day), tags: []string{commit("7"), "v1.0.0"}},
		// No age at all.
		"J": {seed: 10, tags: []string{commit("6")}},
		// Old, named on an open promotion pull request's branch.
		"M": {seed: 11, label: ago(150 * day), tags: []string{commit("5")}},
		// Old multi-platform index: deleted with its platform manifests.
		"N": {seed: 12, label: ago(120 * day), tags: []string{commit("4")}, platforms: 2, sign: true},
		// Old, run in prod by tag only.
		"Q": {seed: 13, label: ago(130 * day), tags: []string{commit("3")}},
		// Old and denylisted: the state file names it, but only to reject it.
		"R": {seed: 14, label: ago(110 * day), tags: []string{commit("2")}},
		// Old and signed, its tags already deleted by an interrupted prune.
		"U": {seed: 15, label: ago(300 * day), tags: []string{"doomed"}, sign: true},
		// Deleted long ago, its signature left behind.
		"L": {seed: 16, label: ago(300 * day), tags: []string{"gone"}, sign: true, attest: []string{signing.PredicateSLSAProvenanceV1}},
	}
	for name, sp := range orders {
		s.d[name] = f.push("orders", sp)
	}
	for _, t := range []string{"doomed", "gone"} {
		if err := f.reg.Delete(f.ctx, f.repo("orders")+":"+t); err != nil {
			t := f.t
			t.Fatal(err)
		}
	}
	if err := f.reg.Delete(f.ctx, f.repo("orders")+"@"+s.d["L"]); err != nil {
		f.t.Fatal(err)
	}
	s.children = s.indexChildren(s.d["N"])

	// catalog: one image staging runs, one nothing needs.
	s.d["X"] = f.push("catalog", spec{seed: 21, label: ago(100 * day), tags: []string{commit("a")}, sign: true})
	s.d["Y"] = f.push("catalog", spec{seed: 22, label: ago(100 * day), tags: []string{commit("b")}, sign: true})
	for i, c := range []string{"c", "d", "e"} {
		s.d["Z"+c] = f.push("catalog", spec{seed: int64(23 + i), label: ago(time.Duration(i+2) * day), tags: []string{commit(c)}})
	}

	f.deploy("dev", "orders", commit("a"), s.d["A"])
	f.deploy("staging", "catalog", commit("a"), s.d["X"])
	f.pin("staging", "orders", s.d["B"])
	f.deny(s.d["R"])
	f.commitFile("main", "deploy/overlays/prod/kustomization.yaml", func(old string) string {
		i := strings.Index(old, "  - name: orders\n")
		j := i + strings.Index(old[i:], "newTag: bootstrap")
		return old[:j] + "newTag: " + commit("3") + old[j+len("newTag: bootstrap"):]
	})
	f.commitFile("slipway/prod/555555555555", "deploy/overlays/prod/orders-patch.yaml", func(string) string {
		return "# promotion under review\nimage: " + f.repo("orders") + "@" + s.d["M"] + "\n"
	})
	f.ready()
	return s
}

func (s *scene) indexChildren(digest string) []string {
	s.t.Helper()
	p := &repoPlan{o: &Options{Registry: s.reg, Jobs: 1}, name: s.repo("orders")}
	im := &Image{Digest: digest}
	if err := p.describe(s.ctx, im); err != nil {
		s.t.Fatal(err)
	}
	if !im.Index || len(im.Children) != 2 {
		s.t.Fatalf("index %s: %+v", digest, im)
	}
	return im.Children
}

// every reference the scene's images and artifacts have.
func (s *scene) refs() map[string]string {
	out := map[string]string{}
	for name, d := range s.d {
		repo := s.repo("orders")
		if name == "X" || name == "Y" || strings.HasPrefix(name, "Z") {
			repo = s.repo("catalog")
		}
		out[name] = repo + "@" + d
	}
	for i, c := range s.children {
		out["N/"+string(rune('0'+i))] = s.repo("orders") + "@" + c
	}
	return out
}

func hasReason(im Image, substr string) bool {
	for _, r := range im.Reasons {
		if strings.Contains(r, substr) {
			return true
		}
	}
	return false
}

func TestPlanKeepsWhatIsNeeded(t *testing.T) {
	s := newScene(t, nil)
	res, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]string{
		"A": "runs in dev (deploy/overlays/dev/kustomization.yaml)",
		"B": "pinned in staging",
		"E": "younger than 720h0m0s",
		"G": "among the newest 3 (number 1)",
		"H": "among the newest 3 (number 3)",
		"I": "also tagged v1.0.0",
		"J": "its age is unknown",
		"M": "written in deploy/overlays/prod/orders-patch.yaml on branch slipway/prod/555555555555",
		"Q": "runs in prod (deploy/overlays/prod/kustomization.yaml) by tag",
		"X": "runs in staging",
	}
	for name, why := range kept {
		svc := "orders"
		if name == "X" {
			svc = "catalog"
		}
		im := find(t, res, svc, s.d[name])
		if !im.Keep || !hasReason(im, why) {
			t.Errorf("%s: keep=%v reasons %q, want kept because %q", name, im.Keep, im.Reasons, why)
		}
	}
	if e := find(t, res, "orders", s.d["E"]); !hasReason(e, "among the newest 3 (number 2)") {
		t.Errorf("E is kept for every reason that holds: %q", e.Reasons)
	}
	for _, name := range []string{"C", "D", "D2", "N", "R", "U", "Y"} {
		svc := "orders"
		if name == "Y" {
			svc = "catalog"
		}
		if im := find(t, res, svc, s.d[name]); im.Keep {
			t.Errorf("%s is kept (%q), want deleted", name, im.Reasons)
		}
	}
	// Where each age was read.
	for name, from := range map[string]string{"C": "label", "D": "tag", "D2": "config", "J": ""} {
		if im := find(t, res, "orders", s.d[name]); im.CreatedFrom != from {
			t.Errorf("%s: age from %q, want %q", name, im.CreatedFrom, from)
		}
	}
	c := find(t, res, "orders", s.d["C"])
	wantArt := []string{artTag(s.d["C"], "att"), artTag(s.d["C"], "sig")}
	var gotArt []string
	for _, a := range c.Artifacts {
		gotArt = append(gotArt, a.Tag)
		if a.Digest == "" || a.Subject != s.d["C"] {
			t.Errorf("artifact %+v: no manifest digest or wrong subject", a)
		}
	}
	if !slices.Equal(sortedCopy(gotArt), wantArt) {
		t.Errorf("C's artifacts %q, want %q", gotArt, wantArt)
	}
	n := find(t, res, "orders", s.d["N"])
	if !n.Index || !slices.Equal(sortedCopy(n.DeleteChildren), sortedCopy(s.children)) {
		t.Errorf("N: index %v, deletes children %q, want %q", n.Index, n.DeleteChildren, s.children)
	}
	if u := find(t, res, "orders", s.d["U"]); len(u.Tags) != 0 || len(u.Artifacts) != 1 {
		t.Errorf("U (untagged, signed): %+v", u)
	}
	var orders Repository
	for _, r := range res.Repositories {
		if r.Service == "orders" {
			orders = r
		}
	}
	var orphans []string
	for _, a := range orders.Orphans {
		orphans = append(orphans, a.Tag)
	}
	if want := []string{artTag(s.d["L"], "att"), artTag(s.d["L"], "sig")}; !slices.Equal(sortedCopy(orphans), want) {
		t.Errorf("orphans %q, want %q", orphans, want)
	}
	// Newest first, unknown age last.
	if first, last := orders.Images[0], orders.Images[len(orders.Images)-1]; first.Digest != s.d["G"] || last.Digest != s.d["J"] {
		t.Errorf("order: first %s last %s", first.Digest, last.Digest)
	}
	if kept, deleted, orph := res.Counts(); kept != 13 || deleted != 7 || orph != 2 {
		t.Errorf("counts: kept %d deleted %d orphans %d, want 13 7 2", kept, deleted, orph)
	}
	if res.GitOpsCommit == "" || len(res.Repositories) != 3 {
		t.Errorf("result: %+v", res)
	}
}

func TestDryRunDeletesNothing(t *testing.T) {
	s := newScene(t, nil)
	before := s.snapshot(s.refs())
	res, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	rep := Report(res, nil)
	if !rep.DryRun || rep.Kind != "prune" || rep.Count(report.Pruned) != 9 || rep.Count(report.Kept) != 13 || !rep.OK() {
		t.Errorf("report: dry %v kind %s pruned %d kept %d", rep.DryRun, rep.Kind, rep.Count(report.Pruned), rep.Count(report.Kept))
	}
	if text := Describe(res, nil); !strings.Contains(text, "would delete 6 image(s) and 2 orphan(s)") || !strings.Contains(text, "delete sha256:") {
		t.Errorf("description:\n%s", text)
	}
	after := s.snapshot(s.refs())
	if len(before) != len(after) {
		t.Fatalf("the dry run changed the registry: %d → %d references", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the dry run changed %s: %s → %s", k, v, after[k])
		}
	}
	if n := s.deletes.Load(); n != 0 {
		t.Errorf("the dry run sent %d DELETE requests", n)
	}
}

func TestApplyDeletesTheRest(t *testing.T) {
	s := newScene(t, nil)
	res, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(s.ctx, s.reg, res)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	s.checkApplied(t, res, out)

	// Only the image tags went: the tags of kept images are all there.
	tags := s.tags("orders")
	for _, keep := range []string{commit("a"), commit("b"), commit("f"), commit("9"), commit("8"), commit("7"), "v1.0.0", commit("6"), commit("5"), commit("3"),
		artTag(s.d["A"], "sig"), artTag(s.d["A"], "att"), artTag(s.d["B"], "sig")} {
		if !slices.Contains(tags, keep) {
			t.Errorf("orders:%s was deleted", keep)
		}
	}
	for _, gone := range []string{commit("c"), commit("d"), commit("e"), commit("4"), commit("2"),
		artTag(s.d["C"], "sig"), artTag(s.d["C"], "att"), artTag(s.d["N"], "sig"), artTag(s.d["U"], "sig"),
		artTag(s.d["L"], "sig"), artTag(s.d["L"], "att")} {
		if slices.Contains(tags, gone) {
			t.Errorf("orders:%s is still there", gone)
		}
	}

	// Running again finds nothing more to delete.
	again, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	if kept, deleted, orphans := again.Counts(); deleted != 0 || orphans != 0 || kept != 13 {
		t.Errorf("second plan: kept %d deleted %d orphans %d", kept, deleted, orphans)
	}
	if out, err := Apply(s.ctx, s.reg, again); err != nil || len(out.Deleted) != 0 {
		t.Errorf("second apply: %v, deleted %q", err, out.Deleted)
	}
}

// checkApplied checks that what the plan deletes is gone and what it keeps
// is there.
func (s *scene) checkApplied(t *testing.T, res *Result, out *Outcome) {
	t.Helper()
	refs := s.refs()
	for _, name := range []string{"C", "D", "D2", "N", "R", "U", "Y", "N/0", "N/1"} {
		if s.exists(refs[name]) {
			t.Errorf("%s (%s) still exists", name, refs[name])
		}
		if _, err := s.reg.Resolve(s.ctx, refs[name]); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("resolving the deleted %s: %v, want ErrNotFound", name, err)
		}
	}
	for _, name := range []string{"A", "B", "E", "G", "H", "I", "J", "M", "Q", "X", "Zc", "Zd", "Ze"} {
		if !s.exists(refs[name]) {
			t.Errorf("%s (%s) was deleted", name, refs[name])
		}
	}
	if slices.Contains(s.tags("catalog"), commit("b")) || slices.Contains(s.tags("catalog"), artTag(s.d["Y"], "sig")) {
		t.Errorf("catalog's Y kept a tag: %q", s.tags("catalog"))
	}
	if !slices.Contains(s.tags("catalog"), artTag(s.d["X"], "sig")) {
		t.Errorf("catalog's X lost its signature: %q", s.tags("catalog"))
	}
	rep := Report(res, out)
	if rep.DryRun || !rep.OK() || rep.Count(report.Pruned) != 9 || rep.Count(report.Kept) != 13 {
		t.Errorf("report: %+v", rep)
	}
	if len(out.Failed) != 0 || len(out.Refused) != 0 {
		t.Errorf("outcome: %+v", out)
	}
}

// A registry that deletes only by digest (tags go with their manifest)
// gets the manifests deleted first, and ends in the same state.
func TestApplyOnRegistryWithoutTagDeletion(t *testing.T) {
	s := newScene(t, digestOnlyDeletes)
	res, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(s.ctx, s.reg, res)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	s.checkApplied(t, res, out)
	if !slices.Equal(out.TagDeleteUnsupported, []string{s.host}) {
		t.Errorf("TagDeleteUnsupported %q", out.TagDeleteUnsupported)
	}
	for _, gone := range []string{commit("c"), artTag(s.d["C"], "sig"), artTag(s.d["C"], "att"), artTag(s.d["L"], "sig")} {
		if slices.Contains(s.tags("orders"), gone) {
			t.Errorf("orders:%s is still there", gone)
		}
	}
	if rep := Report(res, out); !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "cannot delete a tag on its own") }) {
		t.Errorf("notes: %q", rep.Notes)
	}
}

func TestApplyOnRegistryRefusingDeletion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		want   string
	}{
		{"disabled", http.StatusMethodNotAllowed, "UNSUPPORTED", "REGISTRY_STORAGE_DELETE_ENABLED=true"},
		{"forbidden", http.StatusForbidden, "DENIED", "give them delete rights"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, refuseDeletes(tc.status, tc.code))
			old := f.now.Add(-100 * day)
			c := f.push("orders", spec{seed: 1, label: old, tags: []string{commit("c")}, sign: true})
			d := f.push("orders", spec{seed: 2, label: old, tags: []string{commit("d")}})
			f.ready()
			before := f.snapshot(map[string]string{"C": f.repo("orders") + "@" + c, "D": f.repo("orders") + "@" + d})
			o := f.options()
			o.Keep = 0
			res, err := Plan(f.ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, deleted, _ := res.Counts(); deleted != 2 {
				t.Fatalf("planned %d deletions, want 2", deleted)
			}
			out, err := Apply(f.ctx, f.reg, res)
			if !errors.Is(err, ErrDeletionRefused) || !strings.Contains(err.Error(), "registry "+f.host) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v", err)
			}
			if len(out.Deleted) != 0 || out.Refused[f.host] == "" || len(out.Failed) != 2 {
				t.Errorf("outcome: %+v", out)
			}
			// It stopped at the refusal: nothing was tried on the second image.
			if n := f.deletes.Load(); n > 2 {
				t.Errorf("%d DELETE requests after the refusal, want at most 2", n)
			}
			after := f.snapshot(map[string]string{"C": f.repo("orders") + "@" + c, "D": f.repo("orders") + "@" + d})
			if len(after) != len(before) {
				t.Errorf("registry changed: %v → %v", before, after)
			}
			rep := Report(res, out)
			if rep.OK() || rep.Count(report.Failed) != 2 || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, tc.want) }) {
				t.Errorf("report: ok %v failed %d notes %q", rep.OK(), rep.Count(report.Failed), rep.Notes)
			}
			for _, svc := range rep.Services {
				if svc.Status == report.Failed && (svc.Stage != "delete" || !strings.Contains(svc.Error, f.host)) {
					t.Errorf("failed entry %+v", svc)
				}
			}
		})
	}
}

func TestPlanRefusesWithoutSafeInputs(t *testing.T) {
	f := newFixture(t, nil)
	f.ready()
	for name, mut := range map[string]func(*Options){
		"no age":        func(o *Options) { o.OlderThan = 0 },
		"negative keep": func(o *Options) { o.Keep = -1 },
		"no gitops":     func(o *Options) { o.RepoURL = "" },
		"no registry":   func(o *Options) { o.RegistryAddress = "" },
		"unknown":       func(o *Options) { o.Services = []string{"billing"} },
	} {
		o := f.options()
		mut(&o)
		if _, err := Plan(f.ctx, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A GitOps repository that cannot be read stops the plan.
	o := f.options()
	o.RepoURL = t.TempDir() + "/missing.git"
	if _, err := Plan(f.ctx, o); err == nil || !strings.Contains(err.Error(), "reading what the environments run") {
		t.Errorf("missing GitOps repository: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for tag, want := range map[string]TagKind{
		commit("a"):                                   CommitTag,
		strings.Repeat("ab", 32):                      CommitTag,
		"main-abcdef0-20260102030405":                 SortableTag,
		"feature-x.y_z-0123456-20251231235959":        SortableTag,
		"main-abcdef0-20261302030405":                 Other, // month 13
		"input-" + strings.Repeat("0", 32):            InputTag,
		"sha256-" + strings.Repeat("a", 64) + ".sig":  SignatureTag,
		"sha256-" + strings.Repeat("a", 64) + ".att":  AttestationTag,
		"sha256-" + strings.Repeat("a", 64) + ".sbom": SBOMTag,
		"sha256-" + strings.Repeat("a", 64):           ReferrersTag,
		"sha256-" + strings.Repeat("a", 63):           Other,
		"sha256-" + strings.Repeat("a", 64) + ".x":    Other,
		"latest":                           Other,
		"v1.2.3":                           Other,
		"prod":                             Other,
		strings.Repeat("a", 39):            Other,
		"input-" + strings.Repeat("0", 31): Other,
	} {
		if got, _, _ := Classify(tag); got != want {
			t.Errorf("Classify(%q) = %s, want %s", tag, got, want)
		}
	}
	_, at, _ := Classify("main-abcdef0-20260102030405")
	if !at.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("sortable time %v", at)
	}
	_, _, subject := Classify("sha256-" + strings.Repeat("b", 64) + ".att")
	if subject != "sha256:"+strings.Repeat("b", 64) {
		t.Errorf("subject %q", subject)
	}
}
