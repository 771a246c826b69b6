// Command demo runs the engine smoke pipeline that `make demo` shows until
// slipway's own module exists: build the two-stage Dockerfile of
// e2e/testdata/dockerbuild, run the image, publish it to the local registry
// under a tag made of the current commit, and read the digest back from the
// registry.
//
// It needs an engine (hack/engine.sh up; its exports in the environment).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "e2e", "testdata", "dockerbuild")
	if _, err := os.Stat(filepath.Join(src, "Dockerfile")); err != nil {
		return fmt.Errorf("run the demo from the repository root: %w", err)
	}
	rev := "dev"
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}

	c, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		return fmt.Errorf("connecting to the Dagger engine: %w", err)
	}
	defer c.Close()

	start := time.Now()
	ctr := c.Host().Directory(src).DockerBuild().
		WithLabel("org.opencontainers.image.revision", rev).
		WithLabel("org.opencontainers.image.source", "https://github.com/slipwayci/slipway")
	out, err := ctr.WithExec([]string{"/usr/local/bin/hello"}).Stdout(ctx)
	if err != nil {
		return fmt.Errorf("building and running e2e/testdata/dockerbuild: %w", err)
	}
	fmt.Printf("\nbuilt e2e/testdata/dockerbuild (%s); it prints:\n%s", time.Since(start).Round(time.Millisecond), indent(out))

	reg := os.Getenv("SLIPWAY_LOCAL_REGISTRY")
	if reg == "" {
		fmt.Println("SLIPWAY_LOCAL_REGISTRY is not set: not publishing (the harness engine sets it)")
		return nil
	}
	tag := reg + "/slipway-demo/hello:" + rev
	addr, err := ctr.Publish(ctx, tag)
	if err != nil {
		return fmt.Errorf("publishing %s: %w", tag, err)
	}
	ref, err := name.ParseReference(tag)
	if err != nil {
		return err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading %s back: %w", tag, err)
	}
	fmt.Printf("published %s\nregistry says %s -> %s (%d bytes manifest)\n", addr, tag, desc.Digest, desc.Size)
	if !strings.HasSuffix(addr, "@"+desc.Digest.String()) {
		return fmt.Errorf("the registry's digest %s differs from the published %s", desc.Digest, addr)
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(lines, "\n    ") + "\n"
}
