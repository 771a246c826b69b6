package testutil

import (
	"os"
	"path/filepath"
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
