// Package testutil holds helpers shared by the project's tests: locating the
// repository and building the pinned third-party CLIs that compatibility tests
// run (the stock cosign verifier, kustomize, actionlint, ...).
//
// Every tool lives in its own Go module under hack/tools/<name>/ (go.mod,
// go.sum and a tools.go importing the command), with a one-line file named
// "pkg" holding the import path of the command to build. Two optional files
// adjust the build: "env" (KEY=VALUE lines added to the go command's
// environment, e.g. GOEXPERIMENT=jsonv2) and "ldflags" (the -ldflags value).
// A tool that is the project's own code (not a blank import of a third-party
// command) keeps its Go sources in the same directory. Binaries are cached
// outside the repository, keyed by those files, so a warm run does not
// rebuild them; the harness (hack/build.sh) computes the same key when it
// needs a tool binary for an image.
package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
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
	t, err := locateTool(name)
	if err != nil {
		return "", err
	}
	modDir, pkg, bin, opt := t.modDir, t.pkg, t.bin, t.opt
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}

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
	args := []string{"build", "-trimpath"}
	if opt.ldflags != "" {
		args = append(args, "-ldflags", opt.ldflags)
	}
	cmd := exec.Command("go", append(args, "-o", tmp, pkg)...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Env = append(cmd.Env, opt.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in hack/tools/%s: %v\n%s", pkg, name, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// ToolPath is where Tool keeps (or will build) the named tool's binary:
// $SLIPWAY_CACHE/tools/<name>-<key>, the key hashing the tool module's
// go.mod, go.sum, pkg, optional env and ldflags files, own Go sources and
// the Go version. It builds nothing.
func ToolPath(name string) (string, error) {
	t, err := locateTool(name)
	if err != nil {
		return "", err
	}
	return t.bin, nil
}

// tool is one tool module and where its binary goes.
type tool struct {
	modDir, pkg, bin string
	opt              toolBuild
}

func locateTool(name string) (tool, error) {
	root, err := findRoot()
	if err != nil {
		return tool{}, err
	}
	t := tool{modDir: filepath.Join(root, "hack", "tools", name)}
	pkgBytes, err := os.ReadFile(filepath.Join(t.modDir, "pkg"))
	if err != nil {
		return tool{}, fmt.Errorf("hack/tools/%s/pkg: %w", name, err)
	}
	t.pkg = strings.TrimSpace(string(pkgBytes))
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "pkg"} {
		b, err := os.ReadFile(filepath.Join(t.modDir, f))
		if err != nil {
			return tool{}, fmt.Errorf("hack/tools/%s/%s: %w", name, f, err)
		}
		h.Write(b)
	}
	t.opt, err = toolOptions(t.modDir)
	if err != nil {
		return tool{}, fmt.Errorf("hack/tools/%s: %w", name, err)
	}
	for _, f := range t.opt.hashed {
		h.Write(f)
	}
	h.Write([]byte(runtime.Version()))
	cache, err := CacheDir()
	if err != nil {
		return tool{}, err
	}
	t.bin = filepath.Join(cache, "tools", name+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	return t, nil
}

// toolBuild is what a tool module's optional files add to its build.
type toolBuild struct {
	env     []string // from "env": KEY=VALUE lines
	ldflags string   // from "ldflags"
	hashed  [][]byte // contents that key the cached binary, in a fixed order
}

// toolOptions reads a tool module's optional "env" and "ldflags" files and,
// for a tool that is the project's own code, its Go sources (so that editing
// them rebuilds it). tools.go files only blank-import a pinned command and
// are covered by go.mod.
func toolOptions(modDir string) (toolBuild, error) {
	var o toolBuild
	for _, f := range []string{"env", "ldflags"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return o, err
		}
		o.hashed = append(o.hashed, b)
		switch f {
		case "env":
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if !strings.Contains(line, "=") {
					return o, fmt.Errorf("env: %q is not KEY=VALUE", line)
				}
				o.env = append(o.env, line)
			}
		case "ldflags":
			o.ldflags = strings.TrimSpace(string(b))
		}
	}
	var srcs []string
	err := filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && d.Name() != "tools.go" {
			srcs = append(srcs, p)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	sort.Strings(srcs)
	for _, p := range srcs {
		b, err := os.ReadFile(p)
		if err != nil {
			return o, err
		}
		rel, _ := filepath.Rel(modDir, p)
		o.hashed = append(o.hashed, []byte(rel+"\n"), b)
	}
	return o, nil
}
