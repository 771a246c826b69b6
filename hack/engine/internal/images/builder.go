// Package images builds the harness's base images from Debian packages and
// the host's Go toolchain, and pushes them to the local registry under the
// Docker Hub names that Dockerfiles and the pipeline's defaults use.
//
// Every layer is cached as a gzipped tar under the cache directory, keyed by
// its recipe, so that a warm run only hashes nothing and pushes nothing.
package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/hack/engine/internal/layer"
	"github.com/slipwayci/slipway/hack/engine/internal/modseed"
)

// Builder makes the layers of the base images.
type Builder struct {
	// Cache is the directory holding cached layers and root filesystems.
	Cache string
	// RepoRoot is the repository whose Go modules are seeded.
	RepoRoot string
	// GoRoot is the Go installation copied into the Go images.
	GoRoot string
	// GoVersion is GoRoot's version ("go1.26.8").
	GoVersion string
	// DebianMirror and DebianSecurityMirror are the apt sources for the Debian images.
	DebianMirror, DebianSecurityMirror string
	// SDKModules are seeded in addition to the repository's modules.
	SDKModules []string
	// DockerfileFrontend is the built BuildKit Dockerfile frontend binary.
	DockerfileFrontend string
	// Trivy is the built Trivy CLI (hack/tools/trivy); its file name carries
	// the key of its build inputs.
	Trivy string
	// Logf reports progress.
	Logf func(format string, args ...any)
	// Arch is the architecture of the images built ("arm64"); empty means
	// the host's. A foreign architecture's Debian packages are installed
	// under user-mode QEMU (binfmt_misc, registered by hack/engine.sh).
	Arch string

	seed *modseed.Seed
}

// arch is the architecture the builder makes images for.
func (b *Builder) arch() string {
	if b.Arch == "" {
		return runtime.GOARCH
	}
	return b.Arch
}

// foreign reports whether b builds for another architecture than the host's.
func (b *Builder) foreign() bool { return b.arch() != runtime.GOARCH }

// archSuffix tells a foreign architecture's cache entries apart; the
// host's keep the names they always had.
func (b *Builder) archSuffix() string {
	if !b.foreign() {
		return ""
	}
	return "-" + b.arch()
}

// ForArch returns a builder of the same images for another architecture,
// sharing the module seed.
func (b *Builder) ForArch(arch string) *Builder {
	c := *b
	c.Arch = arch
	return &c
}

// NewBuilder returns a builder using the Go toolchain found on PATH.
func NewBuilder(cache, repoRoot string, logf func(string, ...any)) (*Builder, error) {
	out, err := exec.Command("go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT GOVERSION: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return nil, fmt.Errorf("go env GOROOT GOVERSION: unexpected output %q", out)
	}
	return &Builder{
		Cache:                cache,
		RepoRoot:             repoRoot,
		GoRoot:               f[0],
		GoVersion:            f[1],
		DebianMirror:         envOr("SLIPWAY_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
		DebianSecurityMirror: envOr("SLIPWAY_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security"),
		Logf:                 logf,
	}, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (b *Builder) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

// key hashes recipe parts into a short cache key.
func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// cached returns the layer named name-key, building it from spec() on a miss.
func (b *Builder) cached(name, k string, spec func() (layer.Spec, func(), error)) (v1.Layer, error) {
	file := filepath.Join(b.Cache, "layers", name+"-"+k+".tar.gz")
	if _, err := os.Stat(file); err == nil {
		return layer.Cached(file, layer.Spec{})
	}
	start := time.Now()
	s, cleanup, err := spec()
	if err != nil {
		return nil, fmt.Errorf("preparing layer %s: %w", name, err)
	}
	if cleanup != nil {
		defer cleanup()
	}
	l, err := layer.Cached(file, s)
	if err != nil {
		return nil, err
	}
	size, _ := l.Size()
	b.logf("  layer %s: %.1f MB in %s", name, float64(size)/1e6, time.Since(start).Round(100*time.Millisecond))
	return l, nil
}

// Seed returns the Go module seed of the repository (computed once per run).
func (b *Builder) Seed(ctx context.Context) (*modseed.Seed, error) {
	if b.seed != nil {
		return b.seed, nil
	}
	s, err := modseed.Build(ctx, modseed.Options{
		RepoRoot:   b.RepoRoot,
		CacheDir:   filepath.Join(b.Cache, "modseed"),
		SDKModules: b.SDKModules,
		Logf:       b.Logf,
	})
	if err != nil {
		return nil, err
	}
	b.seed = s
	return s, nil
}

// Prune removes cached layers and module seeds unused for longer than maxAge.
func (b *Builder) Prune(maxAge time.Duration) error {
	n, err := layer.Prune(filepath.Join(b.Cache, "layers"), maxAge)
	if err != nil {
		return fmt.Errorf("pruning cached layers: %w", err)
	}
	m, err := modseed.Prune(filepath.Join(b.Cache, "modseed"), maxAge)
	if err != nil {
		return fmt.Errorf("pruning module seeds: %w", err)
	}
	if n+m > 0 {
		b.logf("pruned %d cached layers and %d module seeds unused for %s", n, m, maxAge)
	}
	return nil
}

// GoRootLayer is the host's Go installation at /usr/local/go; for a
// foreign architecture, the same release with its commands cross-compiled.
func (b *Builder) GoRootLayer(ctx context.Context) (v1.Layer, error) {
	if b.foreign() {
		return b.crossGoRootLayer(ctx)
	}
	k := key("goroot v1", b.GoVersion, b.GoRoot, runtime.GOARCH)
	return b.cached("goroot-"+b.GoVersion, k, func() (layer.Spec, func(), error) {
		return layer.Spec{Trees: []layer.Tree{{Dir: b.GoRoot, Prefix: "usr/local/go", RootOwned: true}}}, nil, nil
	})
}

// SeedLayer is the Go module seed at prefix (a download tree).
func (b *Builder) SeedLayer(ctx context.Context, name, prefix string) (v1.Layer, *modseed.Seed, error) {
	s, err := b.Seed(ctx)
	if err != nil {
		return nil, nil, err
	}
	l, err := b.cached(name, key("seed v1", s.Key, prefix), func() (layer.Spec, func(), error) {
		return layer.Spec{Trees: []layer.Tree{{Dir: s.Dir, Prefix: prefix, RootOwned: true}}}, nil, nil
	})
	return l, s, err
}

// crossGoRootLayer is the host's Go release for b's architecture: its
// sources and standard library as they are, bin/ and pkg/tool/ rebuilt by
// cross-compiling the host toolchain's own commands.
func (b *Builder) crossGoRootLayer(ctx context.Context) (v1.Layer, error) {
	k := key("goroot cross v1", b.GoVersion, b.GoRoot, b.arch())
	return b.cached("goroot-"+b.GoVersion+b.archSuffix(), k, func() (layer.Spec, func(), error) {
		out := filepath.Join(b.Cache, "goroot-"+b.arch()+"-"+k+".work")
		if err := os.RemoveAll(out); err != nil {
			return layer.Spec{}, nil, err
		}
		hostTools := filepath.Join(b.GoRoot, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
		ents, err := os.ReadDir(hostTools)
		if err != nil {
			return layer.Spec{}, nil, err
		}
		var tools []string
		for _, e := range ents {
			tools = append(tools, "cmd/"+e.Name())
		}
		b.logf("  cross-compiling the Go %s toolchain for linux/%s", b.GoVersion, b.arch())
		build := func(dir string, pkgs ...string) error {
			args := append([]string{"build", "-trimpath", "-o", dir + "/"}, pkgs...)
			cmd := exec.CommandContext(ctx, filepath.Join(b.GoRoot, "bin", "go"), args...)
			cmd.Dir = filepath.Join(b.GoRoot, "src")
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+b.arch(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
			if o, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %s for linux/%s: %w\n%s", strings.Join(pkgs, " "), b.arch(), err, o)
			}
			return nil
		}
		if err := build(filepath.Join(out, "bin"), "cmd/go", "cmd/gofmt"); err != nil {
			return layer.Spec{}, nil, err
		}
		if err := build(filepath.Join(out, "pkg", "tool", "linux_"+b.arch()), tools...); err != nil {
			return layer.Spec{}, nil, err
		}
		hostOnly := func(rel string, _ fs.DirEntry) bool {
			return rel == "bin" || strings.HasPrefix(rel, "bin/") || rel == "pkg/tool" || strings.HasPrefix(rel, "pkg/tool/")
		}
		return layer.Spec{Trees: []layer.Tree{
			{Dir: b.GoRoot, Prefix: "usr/local/go", RootOwned: true, Skip: hostOnly},
			{Dir: out, Prefix: "usr/local/go", RootOwned: true},
		}}, func() { os.RemoveAll(out) }, nil
	})
}
