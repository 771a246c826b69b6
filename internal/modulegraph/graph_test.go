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
// packages they depend on in all.
func heavyDeps(t *testing.T, root string, pkgs []string) ([]string, int) {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
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
