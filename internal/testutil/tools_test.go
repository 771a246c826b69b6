package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRepoRootFindsCIEntryPoint(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, ".ci", "run")); err != nil {
		t.Fatalf("RepoRoot returned %s, which has no .ci/run: %v", root, err)
	}
}

func TestCacheDirHonoursOverride(t *testing.T) {
	t.Setenv("SLIPWAY_CACHE", "/nonexistent/slipway-cache")
	d, err := CacheDir()
	if err != nil || d != "/nonexistent/slipway-cache" {
		t.Fatalf("CacheDir() = %q, %v; want the SLIPWAY_CACHE value", d, err)
	}
}

func TestBuildToolUnknownToolNamesTheFile(t *testing.T) {
	_, err := BuildTool("no-such-tool")
	if err == nil {
		t.Fatal("BuildTool of an unknown tool succeeded")
	}
	if want := "hack/tools/no-such-tool/pkg"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

// TestToolPathMatchesTheHarness: hack/build.sh builds Trivy for the
// harness's image into the file testutil.Tool uses, so that a machine
// builds it once; both must compute the same key.
func TestToolPathMatchesTheHarness(t *testing.T) {
	want, err := ToolPath("trivy")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(RepoRoot(t), "hack", "build.sh"), "trivy-path")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/build.sh trivy-path: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("hack/build.sh puts trivy at %s, testutil.Tool at %s", got, want)
	}
}

// TestToolPathKeysOwnSources: a tool that is the project's own code is
// rebuilt when its sources change.
func TestToolPathKeysOwnSources(t *testing.T) {
	before, err := ToolPath("trivy-db")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(RepoRoot(t), "hack", "tools", "trivy-db")
	for _, f := range []string{"go.mod", "go.sum", "pkg", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "main.go" {
			b = append(b, []byte("\n// edited\n")...)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	o1, err := toolOptions(src)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := toolOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(o1.hashed, o2.hashed) {
		t.Fatalf("editing main.go does not change the key of %s", before)
	}
}
