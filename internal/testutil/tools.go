// Package testutil holds helpers shared by the project's tests: locating the
// repository and building the pinned third-party CLIs that compatibility tests
// run (the stock cosign verifier, kustomize, actionlint, ...).
//
// Every tool lives in its own Go module under hack/tools/<name>/ (go.mod,
// go.sum and a tools.go importing the command), with a one-line file named
// "pkg" holding the import path of the command to build. Binaries are cached
// outside the repository, keyed by the tool module's go.mod and go.sum, so a
// warm run does not rebuild them.
package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// RepoRoot returns the top of the repository (the directory holding the root
// go.mod and .ci/), found by walking up from the test's working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := findRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ".ci", "run")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repository root not found above the working directory (looked for .ci/run next to go.mod)")
		}
		dir = parent
	}
}

// CacheDir is where built tools and other reusable test artefacts are kept:
// $SLIPWAY_CACHE, else $XDG_CACHE_HOME/slipway, else ~/.cache/slipway.
func CacheDir() (string, error) {
	if d := os.Getenv("SLIPWAY_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "slipway"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "slipway"), nil
}

var toolMu sync.Mutex

// Tool returns the path of the named tool binary, building it from
// hack/tools/<name> on first use. Builds are serialised with a file lock so
// that parallel test binaries do not build the same tool twice.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := BuildTool(name)
	if err != nil {
		tb.Fatalf("building tool %s: %v", name, err)
	}
	return path
}

// BuildTool is Tool without a testing.TB, for benchmarks and commands.
func BuildTool(name string) (string, error) {
	root, err := findRoot()
	if err != nil {
		return "", err
	}
	modDir := filepath.Join(root, "hack", "tools", name)
	pkgBytes, err := os.ReadFile(filepath.Join(modDir, "pkg"))
	if err != nil {
		return "", fmt.Errorf("hack/tools/%s/pkg: %w", name, err)
	}
	pkg := strings.TrimSpace(string(pkgBytes))
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "pkg"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", fmt.Errorf("hack/tools/%s/%s: %w", name, f, err)
		}
		h.Write(b)
	}
	h.Write([]byte(runtime.Version()))
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(cache, "tools")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, name+"-"+hex.EncodeToString(h.Sum(nil))[:12])

	toolMu.Lock()
	defer toolMu.Unlock()
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", bin, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in hack/tools/%s: %v\n%s", pkg, name, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}
