package modseed

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindModulesSkipsToolsAndHiddenDirs(t *testing.T) {
	root := t.TempDir()
	for _, m := range []string{"go.mod", "ci/go.mod", "services/api/go.mod", "e2e/testdata/mod/go.mod",
		"hack/engine/go.mod", ".git/x/go.mod", "_old/go.mod", "web/node_modules/x/go.mod"} {
		write(t, root, m, "module x\n")
	}
	got, err := FindModules(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ci/go.mod", "e2e/testdata/mod/go.mod", "go.mod", "services/api/go.mod"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FindModules = %v, want %v", got, want)
	}
}

// TestBuildIsKeyedByGoModFiles seeds a repository whose modules have no
// requirements (no network), checks that a second build reuses the seed and
// that editing a go.mod changes the key.
func TestBuildIsKeyedByGoModFiles(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	write(t, root, "go.mod", "module example.com/root\n\ngo 1.25.0\n")
	write(t, root, "ci/go.mod", "module example.com/root/ci\n\ngo 1.25.0\n\nrequire example.com/root v0.0.0\n\nreplace example.com/root => ../\n")
	ctx := context.Background()

	s1, err := Build(ctx, Options{RepoRoot: root, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s1.Modules, []string{"ci/go.mod", "go.mod"}) {
		t.Errorf("seeded modules = %v", s1.Modules)
	}
	if _, err := os.Stat(filepath.Join(cache, s1.Key, ".complete")); err != nil {
		t.Fatalf("seed not marked complete: %v", err)
	}
	s2, err := Build(ctx, Options{RepoRoot: root, CacheDir: cache, Logf: func(string, ...any) {
		t.Error("a second build with unchanged go.mod files did work")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Key != s1.Key || s2.Dir != s1.Dir {
		t.Errorf("second build = %+v, want %+v", s2, s1)
	}
	write(t, root, "ci/go.mod", "module example.com/root/ci\n\ngo 1.25.0\n")
	s3, err := Build(ctx, Options{RepoRoot: root, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if s3.Key == s1.Key {
		t.Error("editing ci/go.mod did not change the seed key")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/!burnt!sushi/toml": "github.com/BurntSushi/toml",
		"golang.org/x/sync":            "golang.org/x/sync",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
