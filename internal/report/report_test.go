package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

const sha = "0123456789abcdef0123456789abcdef01234567"

func sample() *Report {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	return &Report{
		Kind: "ci", Project: "shop", Commit: sha, Branch: "main", Registry: "registry:5000",
		Started: t0, Finished: t0.Add(83 * time.Second),
		Services: []Service{
			{Name: "orders", Status: Built, Repository: "registry:5000/shop/orders", Digest: "sha256:" + strings.Repeat("a", 64),
				Tags: []string{sha}, UnitTests: "passed", IntegrationTests: "passed", Smoke: "passed",
				Signature: "registry:5000/shop/orders:sha256-" + strings.Repeat("a", 64) + ".sig", Attestations: []string{"https://slsa.dev/provenance/v1"},
				Vulnerabilities: map[string]int{"HIGH": 1, "LOW": 3}, SizeBytes: 5_400_000,
				Durations: []Timing{{"test", 20 * time.Second}, {"build", 10 * time.Second}}},
			{Name: "catalog", Status: Reused, Repository: "registry:5000/shop/catalog", Digest: "sha256:" + strings.Repeat("b", 64), Tags: []string{sha}},
			{Name: "notify", Status: Failed, Stage: "test", UnitTests: "failed", Error: "unit tests failed (exit 1)\nnot ok 2 - queue and list notifications"},
		},
		Deployments: []Deployment{
			{Environment: "dev", Services: []string{"orders", "catalog"}, Changed: true, Commit: "fedcba9876543210fedcba9876543210fedcba98",
				Diff: "--- a/overlays/dev/kustomization.yaml\n+++ b/overlays/dev/kustomization.yaml\n@@ -1 +1 @@\n-    newTag: bootstrap\n+    digest: sha256:aaaa\n"},
			{Environment: "staging", Changed: false},
		},
		Notes: []string{"no signing key was given: images are unsigned and cannot be promoted to staging or prod"},
	}
}

func TestMarkdownGolden(t *testing.T) {
	r := sample()
	r.Sort()
	golden(t, "ci.md", r.Markdown())
}

func TestTextGolden(t *testing.T) {
	r := sample()
	r.Sort()
	golden(t, "ci.txt", r.Text())
}

func TestJSONRoundTripAndVerdict(t *testing.T) {
	r := sample()
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.OK() || back.Count(Built) != 1 || back.Services[0].Durations[0].Elapsed != 20*time.Second {
		t.Fatalf("round trip lost data: %+v", back)
	}
	back.Services = back.Services[:2]
	if !back.OK() {
		t.Fatal("report without failures is not OK")
	}
	back.Deployments[1].Error = "push rejected"
	if back.OK() {
		t.Fatal("a failed deployment must fail the report")
	}
}

func TestStepSummary(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	if wrote, err := sample().AppendStepSummary(); wrote || err != nil {
		t.Fatalf("wrote=%v err=%v without GITHUB_STEP_SUMMARY", wrote, err)
	}
	path := filepath.Join(t.TempDir(), "summary.md")
	os.WriteFile(path, []byte("earlier step\n"), 0o644)
	t.Setenv("GITHUB_STEP_SUMMARY", path)
	if wrote, err := sample().AppendStepSummary(); !wrote || err != nil {
		t.Fatalf("wrote=%v err=%v", wrote, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "earlier step\n## slipway ci failed") {
		t.Fatalf("summary not appended:\n%s", b)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "-", 999: "999 B", 5_400_000: "5.4 MB", 2_500_000_000: "2.50 GB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPruneGolden(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	r := &Report{Kind: "prune", Project: "shop", Registry: "ghcr.io/acme", Started: t0, Finished: t0.Add(4 * time.Second),
		Services: []Service{
			{Name: "orders", Status: Kept, Repository: "ghcr.io/acme/shop/orders", Digest: "sha256:" + strings.Repeat("a", 64), Tags: []string{sha},
				Reason: "runs in prod (deploy/overlays/prod/kustomization.yaml)"},
			{Name: "orders", Status: Pruned, Repository: "ghcr.io/acme/shop/orders", Digest: "sha256:" + strings.Repeat("b", 64), Tags: []string{sha[:39] + "8"},
				Reason: "built 90d ago (label), older than 720h0m0s; nothing in the GitOps repository names it; not among the newest 10; with its signature, attestations"},
			{Name: "orders", Status: Failed, Stage: "delete", Repository: "ghcr.io/acme/shop/orders", Digest: "sha256:" + strings.Repeat("c", 64),
				Reason: "built 95d ago (label), older than 720h0m0s", Error: "not deleted: registry ghcr.io refuses deletion"},
		},
		Notes: []string{"registry ghcr.io refused to delete ghcr.io/acme/shop/orders:" + sha + " (HTTP 403 DENIED): give the credentials delete rights"},
	}
	golden(t, "prune.md", r.Markdown())
	golden(t, "prune.txt", r.Text())
}

func TestRunLevelErrorFailsTheReport(t *testing.T) {
	r := &Report{Kind: "promote", Services: []Service{{Name: "orders", Status: Built, Digest: "sha256:" + strings.Repeat("a", 64)}}}
	if !r.OK() {
		t.Fatal("a report without failures is not OK")
	}
	r.Error = "deploy/overlays/qa/kustomization.yaml: file does not exist"
	if r.OK() {
		t.Error("a report with a run-level error is OK")
	}
	for what, text := range map[string]string{"text": r.Text(), "markdown": r.Markdown()} {
		if !strings.Contains(text, r.Error) || !strings.Contains(text, "FAILED") && !strings.Contains(text, "failed") {
			t.Errorf("the %s rendering does not show the failure:\n%s", what, text)
		}
	}
}

func TestNotScannedIsShown(t *testing.T) {
	r := &Report{Kind: "ci", Services: []Service{
		{Name: "api", Status: Built, Digest: "sha256:" + strings.Repeat("a", 64), Scan: "not scanned: no osv-scanner vulnerability database: offline"},
		{Name: "web", Status: Built, Digest: "sha256:" + strings.Repeat("b", 64), Vulnerabilities: map[string]int{}, Scan: "scanned under dev's policy"},
	}}
	text := r.Text()
	if !strings.Contains(text, "api      built      sha256:aaaaaaaaaaaa  unsigned  not scanned") || strings.Contains(strings.Split(text, "\n")[2], "not scanned") {
		t.Errorf("text:\n%s", text)
	}
	if md := r.Markdown(); !strings.Contains(md, "| not scanned |") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestDiffsAndFailures(t *testing.T) {
	r := &Report{Kind: Promote,
		Services: []Service{{Name: "orders", Status: Refused, Stage: "verify", Error: "no signature\nby this key"}, {Name: "catalog", Status: Promoted}},
		Deployments: []Deployment{
			{Environment: "prod", Diff: "-image: a\n+image: b"},
			{Environment: "", Diff: "+pin: orders\n"},
			{Environment: "staging", Error: "push rejected"},
		}}
	if got, want := r.Diffs(), "\n--- gitops diff (prod) ---\n-image: a\n+image: b\n\n--- gitops diff (state) ---\n+pin: orders\n"; got != want {
		t.Errorf("Diffs() = %q, want %q", got, want)
	}
	if got, want := r.Failures(), "\nservice orders failed at verify:\n  no signature\n  by this key\n\ngitops staging failed:\n  push rejected\n"; got != want {
		t.Errorf("Failures() = %q, want %q", got, want)
	}
	if (&Report{}).Diffs() != "" || (&Report{}).Failures() != "" {
		t.Error("an empty report renders diffs or failures")
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	_, err := ParseKind("deploy2")
	if err == nil || !strings.Contains(err.Error(), `kind "deploy2" is not one of ci, deploy, promote, rollback, pin, unpin, reject, prune`) {
		t.Errorf("ParseKind(deploy2): %v", err)
	}
}

func TestPlatformsRendered(t *testing.T) {
	r := &Report{Kind: CI, Services: []Service{{Name: "catalog", Status: Built, Digest: "sha256:" + strings.Repeat("a", 64), TestPlatform: "linux/amd64",
		Platforms: []PlatformImage{{Platform: "linux/amd64", SizeBytes: 41_200_000}, {Platform: "linux/arm64", SizeBytes: 40_100_000, Emulated: true}}}}}
	want := "platforms: linux/amd64 41.2 MB, linux/arm64 40.1 MB (emulated); tests ran on linux/amd64"
	if got := r.Text(); !strings.Contains(got, want) {
		t.Errorf("text report lacks %q:\n%s", want, got)
	}
	if got := r.Markdown(); !strings.Contains(got, "linux/arm64 40.1 MB (emulated)") {
		t.Errorf("markdown report lacks the platforms:\n%s", got)
	}
}
