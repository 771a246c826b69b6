package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil"
)

// TestDaggerCallFixture loads testdata/daggermod with the dagger CLI (the
// Go SDK runtime: codegen, go build in the engine, offline) and calls two of
// its functions: one computed by the root module's internal package, one
// running a container from inside the module.
func TestDaggerCallFixture(t *testing.T) {
	cli := daggerCLI(t)
	mod := filepath.Join(testutil.RepoRoot(t), "e2e", "testdata", "daggermod")

	call := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"call", "--progress=plain", "-m", mod}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("dagger call %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		t.Logf("dagger call %s: %s", strings.Join(args, " "), time.Since(start).Round(10*time.Millisecond))
		return stdout.String()
	}

	if out, want := call("greet", "--name", runID), "hello, "+runID+", from internal/greet"; !strings.Contains(out, want) {
		t.Errorf("greet printed %q, want it to contain %q", out, want)
	}
	if out := call("kernel"); strings.TrimSpace(out) != "Linux" {
		t.Errorf("kernel printed %q, want %q", out, "Linux")
	}
}
