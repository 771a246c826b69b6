package modulegraph

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testutil"
)

// heavy are import path prefixes the module must not compile: they belong
// in the worker (cmd/slipway).
var heavy = []string{
	"github.com/go-git/",
	"github.com/sigstore/",
	"github.com/google/go-containerregistry/pkg/v1/remote",
	"github.com/google/go-containerregistry/pkg/crane",
	"github.com/aquasecurity/",
	"github.com/google/osv-scanner",
	"github.com/CycloneDX/",
	"sigs.k8s.io/",
	"k8s.io/",
	"github.com/aws/",
	"cloud.google.com/",
	"github.com/Azure/",
}

// moduleImports lists the project's packages that ci/*.go imports.
func moduleImports(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "ci", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no module source in ci/: %v", err)
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/slipwayci/slipway/internal/") {
				seen[p] = true
			}
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// heavyDeps returns the heavy packages pkgs depend on, and how many
// packages they depend on in all (with "-test": their tests too).
func heavyDeps(t *testing.T, root string, pkgs []string, flags ...string) ([]string, int) {
	t.Helper()
	args := append(append(append([]string{"list", "-deps"}, flags...), "-f", "{{.ImportPath}}"), pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	var bad []string
	for _, d := range deps {
		for _, h := range heavy {
			if strings.HasPrefix(d, h) {
				bad = append(bad, d)
			}
		}
	}
	return bad, len(deps)
}

// TestModuleImportGraphStaysLight: nothing the module imports depends on a
// heavy library.
func TestModuleImportGraphStaysLight(t *testing.T) {
	root := testutil.RepoRoot(t)
	pkgs := moduleImports(t, root)
	if len(pkgs) == 0 {
		t.Fatal("the module imports none of the project's packages: the check would read nothing")
	}
	bad, n := heavyDeps(t, root, pkgs)
	for _, d := range bad {
		t.Errorf("the module (through %s) compiles %s: move what needs it into the worker", strings.Join(pkgs, ", "), d)
	}
	t.Logf("the module imports %d of the project's packages, %d packages in all", len(pkgs), n)
	// The check itself: the worker's git package is heavy.
	if bad, _ := heavyDeps(t, root, []string{"github.com/slipwayci/slipway/internal/gitstate"}); len(bad) == 0 {
		t.Error("internal/gitstate (go-git) is not found heavy: the check cannot fail")
	}
}

// TestModuleTidyStaysLight: the tests of every project package in the
// module's graph stay free of heavy libraries too. On a fresh engine the Go
// SDK runs `go mod tidy` on the module, and tidy downloads what the tests of
// the imported packages import: with cosign and go-git in two of those
// tests it fetched 126 module archives (409 MB), without them 40 (158 MB,
// the SDK's own).
func TestModuleTidyStaysLight(t *testing.T) {
	root := testutil.RepoRoot(t)
	var own []string
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, moduleImports(t, root)...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/slipwayci/slipway/") {
			own = append(own, p)
		}
	}
	if len(own) == 0 {
		t.Fatal("no project package in the module's graph: the check would read nothing")
	}
	bad, n := heavyDeps(t, root, own, "-test")
	seen := map[string]bool{}
	for _, d := range bad {
		if !seen[d] {
			seen[d] = true
			t.Errorf("a test of %s imports %s: the module's go mod tidy downloads it on every fresh engine; test that where the heavy library already is", strings.Join(own, ", "), d)
		}
	}
	t.Logf("%d project packages in the module's graph, %d packages with their tests", len(own), n)
	// The check itself: internal/signing's tests use cosign.
	if bad, _ := heavyDeps(t, root, []string{"github.com/slipwayci/slipway/internal/signing"}, "-test"); len(bad) == 0 {
		t.Error("internal/signing with its tests is not found heavy: the check cannot fail")
	}
}
