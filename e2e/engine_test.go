package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger.io/dagger"
)

// harnessEnvFile is where `hack/engine.sh up` writes the client exports.
const harnessEnvFile = "/run/slipway-engine/env"

func TestMain(m *testing.M) {
	if os.Getenv("SLIPWAY_E2E") == "1" {
		if err := loadHarnessEnv(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
		}
	}
	os.Exit(m.Run())
}

// loadHarnessEnv sets the client variables from the harness's env file when
// the caller did not set them (so `SLIPWAY_E2E=1 go test ./e2e/` works right
// after `hack/engine.sh up`).
func loadHarnessEnv() error {
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") != "" {
		return nil
	}
	file := os.Getenv("SLIPWAY_ENGINE_ENV")
	if file == "" {
		file = harnessEnvFile
	}
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || os.Getenv(k) != "" {
			continue
		}
		os.Setenv(k, strings.Trim(v, `"'`))
	}
	return sc.Err()
}

// daggerCLI returns the dagger CLI the SDK will use, skipping the test
// without SLIPWAY_E2E=1 and failing it when no engine can be reached.
func daggerCLI(t testing.TB) string {
	t.Helper()
	if os.Getenv("SLIPWAY_E2E") != "1" {
		t.Skip("end-to-end test: set SLIPWAY_E2E=1 (make e2e brings an engine up)")
	}
	if cli := os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"); cli != "" {
		return cli
	}
	if cli, err := exec.LookPath("dagger"); err == nil {
		return cli
	}
	t.Fatal("SLIPWAY_E2E=1 but no Dagger engine is reachable: run `hack/engine.sh up` " +
		"(or set _EXPERIMENTAL_DAGGER_RUNNER_HOST and _EXPERIMENTAL_DAGGER_CLI_BIN, or install the dagger CLI with Docker)")
	return ""
}

// lockedBuffer collects the SDK's progress output for failure reports.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// connect opens a Dagger session for the test; its progress output is
// printed only if the test fails.
func connect(t *testing.T) (context.Context, *dagger.Client) {
	t.Helper()
	daggerCLI(t)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	t.Cleanup(cancel)
	out := &lockedBuffer{}
	c, err := dagger.Connect(ctx, dagger.WithLogOutput(out))
	if err != nil {
		t.Fatalf("connecting to the Dagger engine (%s): %v\n%s", os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST"), err, out)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("dagger session output:\n%s", out)
		}
	})
	return ctx, c
}

// runID is unique to this test process: it keeps results of earlier runs
// (cache volumes, cached execs, tags) from making a test pass.
var runID = fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
