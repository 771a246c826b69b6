package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slipwayci/slipway/hack/engine/internal/layer"
)

// GoSDKImage is the runtime image of Dagger's Go SDK: busybox, the host's Go
// toolchain, Dagger's codegen, and a module cache seeded with every
// dependency of the repository's modules and of the SDK itself. The engine
// loads it from its builtin content store by digest, and mounts its
// /go/pkg/mod as the initial content of the SDK's module cache volume.
func (b *Builder) GoSDKImage(ctx context.Context, codegen string) (v1.Image, error) {
	bb, err := b.BusyboxLayer(ctx)
	if err != nil {
		return nil, err
	}
	goroot, err := b.GoRootLayer(ctx)
	if err != nil {
		return nil, err
	}
	modcache, seed, err := b.SeedLayer(ctx, "gosdk-modcache", "go/pkg/mod/cache/download")
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(codegen)
	if err != nil {
		return nil, fmt.Errorf("reading codegen %s: %w", codegen, err)
	}
	extra, err := b.cached("gosdk-codegen", key("gosdk extra v1", string(bin)), func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "usr/local/bin/codegen", Mode: 0o755, Source: codegen},
			{Path: "go", Mode: fs.ModeDir | 0o777},
			{Path: "go/bin", Mode: fs.ModeDir | 0o777},
			{Path: "go/pkg", Mode: fs.ModeDir | 0o755},
			{Path: "go/pkg/mod", Mode: fs.ModeDir | 0o755},
			{Path: "root/.cache", Mode: fs.ModeDir | 0o755},
			{Path: "root/.cache/go-build", Mode: fs.ModeDir | 0o755},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{bb, goroot, modcache, extra}, v1.Config{
		Env: []string{
			"PATH=" + goPath,
			"GOPATH=/go",
			"GOTOOLCHAIN=local",
			"CGO_ENABLED=0",
			"GOFLAGS=-buildvcs=false",
			"GOSUMDB=off",
		},
		WorkingDir: "/",
		Labels: map[string]string{
			LabelDesc:      "Dagger Go SDK runtime for the offline engine (" + b.GoVersion + ", codegen, seeded module cache)",
			LabelVersion:   b.GoVersion,
			LabelGoModSeed: seed.Key,
		},
	})
}

// WriteLayout makes dir an OCI layout holding only img, unless it already
// holds it. It returns the manifest digest.
func WriteLayout(dir string, img v1.Image) (v1.Hash, error) {
	want, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if p, err := layout.FromPath(dir); err == nil {
		if idx, err := p.ImageIndex(); err == nil {
			if m, err := idx.IndexManifest(); err == nil {
				for _, d := range m.Manifests {
					if d.Digest == want {
						return want, nil
					}
				}
			}
		}
	}
	tmp := strings.TrimSuffix(dir, "/") + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("creating OCI layout %s: %w", tmp, err)
	}
	if err := p.AppendImage(img); err != nil {
		return v1.Hash{}, fmt.Errorf("writing image to OCI layout %s: %w", tmp, err)
	}
	old := strings.TrimSuffix(dir, "/") + ".old"
	os.RemoveAll(old)
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return v1.Hash{}, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return v1.Hash{}, err
	}
	os.RemoveAll(old)
	return want, nil
}
