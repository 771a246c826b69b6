// Command harness is the Go half of slipway's offline engine harness
// (hack/engine.sh is the other): it serves the local registry, builds and
// pushes the base images, and writes the Go SDK runtime image the engine
// loads by digest.
//
//	harness registry -addr 127.0.0.1:5099 -data DIR
//	harness images   -registry 127.0.0.1:5099 -repo ROOT -cache DIR -frontend PATH -trivy PATH [-only NAME,...]
//	harness gosdk    -repo ROOT -cache DIR -codegen PATH -out DIR
//	harness seed     -repo ROOT -cache DIR
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/hack/engine/internal/images"
	"github.com/slipwayci/slipway/hack/engine/internal/modseed"
	"github.com/slipwayci/slipway/hack/engine/internal/registry"
)

// sdkModules are seeded besides the repository's modules: a new Dagger
// module's go.mod starts from the Go SDK's requirements, at the engine
// version dagger.json names (the repository's one Dagger pin).
func sdkModules(repo string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(repo, "dagger.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the Dagger pin: %w", err)
	}
	var mod struct {
		EngineVersion string `json:"engineVersion"`
	}
	if err := json.Unmarshal(b, &mod); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(repo, "dagger.json"), err)
	}
	if !strings.HasPrefix(mod.EngineVersion, "v") {
		return nil, fmt.Errorf("%s: engineVersion %q is not a release (vX.Y.Z)", filepath.Join(repo, "dagger.json"), mod.EngineVersion)
	}
	return []string{"dagger.io/dagger@" + mod.EngineVersion}, nil
}

// start is when the calling script began (its _t0, in Unix seconds), so
// that the harness's log lines continue the script's clock.
var start = func() time.Time {
	if s, err := strconv.ParseInt(os.Getenv("_t0"), 10, 64); err == nil {
		return time.Unix(s, 0)
	}
	return time.Now()
}()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%4.0fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: harness registry|images|gosdk|seed [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "registry":
		err = runRegistry(ctx, os.Args[2:])
	case "images":
		err = runImages(ctx, os.Args[2:])
	case "gosdk":
		err = runGoSDK(ctx, os.Args[2:])
	case "seed":
		err = runSeed(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want registry, images, gosdk or seed)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func runRegistry(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:5099", "listen address (loopback only)")
	data := fs.String("data", "", "state directory (blobs and manifest journal)")
	fs.Parse(args)
	if *data == "" {
		return errors.New("-data is required")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parsing -addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: the harness registry listens on loopback only", *addr)
	}
	h, err := registry.New(*data, log.New(os.Stderr, "registry: ", log.LstdFlags))
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	logf("registry serving %s from %s", *addr, *data)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func commonFlags(fs *flag.FlagSet) (repo, cache *string) {
	repo = fs.String("repo", ".", "repository root (its go.mod files are seeded)")
	cache = fs.String("cache", "", "cache directory for layers and root filesystems")
	return
}

func newBuilder(repo, cache string) (*images.Builder, error) {
	if cache == "" {
		return nil, errors.New("-cache is required")
	}
	b, err := images.NewBuilder(cache, repo, logf)
	if err != nil {
		return nil, err
	}
	if b.SDKModules, err = sdkModules(repo); err != nil {
		return nil, err
	}
	return b, nil
}

func runImages(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ExitOnError)
	reg := fs.String("registry", "127.0.0.1:5099", "registry mirroring docker.io")
	only := fs.String("only", "", "comma-separated image names to build (default: all)")
	frontend := fs.String("frontend", "", "the built BuildKit Dockerfile frontend (for docker/dockerfile:1)")
	trivy := fs.String("trivy", "", "the built Trivy CLI (for aquasec/trivy; without it that image is skipped)")
	foreign := fs.String("foreign-arches", "", "comma-separated architectures (arm64) whose variants are added to each image, making it a multi-platform index; their Debian packages install under user-mode QEMU")
	repo, cache := commonFlags(fs)
	fs.Parse(args)
	b, err := newBuilder(*repo, *cache)
	if err != nil {
		return err
	}
	b.DockerfileFrontend = *frontend
	b.Trivy = *trivy
	var arches []string
	for _, a := range strings.Split(*foreign, ",") {
		switch a = strings.TrimSpace(a); {
		case a == "" || a == runtime.GOARCH:
		case a == "arm64" || a == "amd64":
			arches = append(arches, a)
		default:
			return fmt.Errorf("-foreign-arches: %q is not amd64 or arm64", a)
		}
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	for _, r := range images.Catalog() {
		if len(want) > 0 && !anyIn(r.Names, want) {
			continue
		}
		if r.NeedsTrivy && b.Trivy == "" {
			logf("%-40s skipped (no -trivy: built only for the tests that scan with Trivy)", strings.Join(r.Names, ", "))
			continue
		}
		t := time.Now()
		img, err := r.Build(b, ctx)
		if err != nil {
			return fmt.Errorf("building %s: %w", strings.Join(r.Names, ", "), err)
		}
		var art images.Artifact = img
		plats := "linux/" + runtime.GOARCH
		if !r.HostOnly && len(arches) > 0 {
			all := []v1.Image{img}
			for _, a := range arches {
				fi, err := r.Build(b.ForArch(a), ctx)
				if err != nil {
					return fmt.Errorf("building %s for linux/%s: %w", strings.Join(r.Names, ", "), a, err)
				}
				all = append(all, fi)
				plats += ",linux/" + a
			}
			if art, err = images.Index(all...); err != nil {
				return err
			}
		}
		d, err := art.Digest()
		if err != nil {
			return err
		}
		wrote, err := images.Push(ctx, *reg, art, r.Names)
		if err != nil {
			return err
		}
		state := "up to date"
		if wrote {
			state = "pushed"
		}
		logf("%-40s %s %s %s (%s)", strings.Join(r.Names, ", "), d.String()[:19], plats, state, time.Since(t).Round(100*time.Millisecond))
	}
	return b.Prune(pruneAge)
}

// pruneAge is how long an unused cached layer or module seed is kept.
const pruneAge = 14 * 24 * time.Hour

func anyIn(names []string, want map[string]bool) bool {
	for _, n := range names {
		if want[n] {
			return true
		}
	}
	return false
}

func runGoSDK(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gosdk", flag.ExitOnError)
	codegen := fs.String("codegen", "", "the built Dagger codegen binary")
	out := fs.String("out", "", "OCI layout directory (the engine's builtin content store)")
	repo, cache := commonFlags(fs)
	fs.Parse(args)
	if *codegen == "" || *out == "" {
		return errors.New("-codegen and -out are required")
	}
	b, err := newBuilder(*repo, *cache)
	if err != nil {
		return err
	}
	img, err := b.GoSDKImage(ctx, *codegen)
	if err != nil {
		return fmt.Errorf("building the Go SDK image: %w", err)
	}
	d, err := images.WriteLayout(*out, img)
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}

func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	repo, cache := commonFlags(fs)
	fs.Parse(args)
	b, err := newBuilder(*repo, *cache)
	if err != nil {
		return err
	}
	s, err := b.Seed(ctx)
	if err != nil {
		return err
	}
	mods, err := modseed.Describe(s.Dir)
	if err != nil {
		return err
	}
	fmt.Printf("key %s\ndir %s\nmodules of %s: %d zips\n", s.Key, s.Dir, strings.Join(s.Modules, ", "), len(mods))
	return nil
}
