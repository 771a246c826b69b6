package images

import (
	"context"
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/hack/engine/internal/layer"
)

//go:embed postgres-entrypoint.sh
var postgresEntrypoint []byte

//go:embed redis-entrypoint.sh
var redisEntrypoint []byte

// Label keys set on every harness image.
const (
	LabelSource  = "org.opencontainers.image.source"
	LabelDesc    = "org.opencontainers.image.description"
	LabelVersion = "org.opencontainers.image.version"
	// LabelGoModSeed holds the key of the Go module seed (a hash of the
	// repository's go.mod/go.sum files) in the Go images.
	LabelGoModSeed = "slipway.harness.gomod-seed"
)

// TrivyVersion is the Trivy release hack/tools/trivy pins, and the tag of
// the harness's aquasec/trivy image.
const TrivyVersion = "0.70.0"

// GoProxyDir is where the golang image keeps its module proxy tree.
const GoProxyDir = "/usr/local/share/slipway/goproxy"

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
const goPath = "/go/bin:/usr/local/go/bin:" + defaultPath

// Image is a built image and the Docker Hub names it is pushed under.
type Image struct {
	// Names are ordinary Docker Hub references ("golang:1.26-alpine").
	Names []string
	// Image is the image itself.
	Image v1.Image
}

// Recipe builds one image.
type Recipe struct {
	// Names the image is pushed under.
	Names []string
	// Build returns the image.
	Build func(b *Builder, ctx context.Context) (v1.Image, error)
	// NeedsTrivy marks the image made from the built Trivy CLI: skipped when
	// the harness was given none (make demo does not build Trivy).
	NeedsTrivy bool
	// HostOnly marks an image served for the engine's own platform only:
	// what the engine runs itself (the Dockerfile frontend, the scanner),
	// never a FROM line of a service's image.
	HostOnly bool
}

// Catalog is every base image of the harness, in build order.
func Catalog() []Recipe {
	return []Recipe{
		{Names: []string{"busybox:1.37", "alpine:3.22"}, Build: (*Builder).busyboxImage},
		{Names: []string{"golang:1.26-alpine"}, Build: (*Builder).golangImage},
		{Names: []string{"debian:bookworm-slim"}, Build: (*Builder).debianImage},
		{Names: []string{"python:3.11-slim-bookworm"}, Build: (*Builder).pythonImage},
		{Names: []string{"node:18-bookworm-slim"}, Build: (*Builder).nodeImage},
		{Names: []string{"rust:1-slim-bookworm"}, Build: (*Builder).rustImage},
		{Names: []string{"postgres:15-bookworm"}, Build: (*Builder).postgresImage},
		{Names: []string{"redis:7.0-bookworm"}, Build: (*Builder).redisImage},
		{Names: []string{"docker/dockerfile:1"}, Build: (*Builder).dockerfileFrontendImage, HostOnly: true},
		{Names: []string{"aquasec/trivy:" + TrivyVersion}, Build: (*Builder).trivyImage, NeedsTrivy: true, HostOnly: true},
	}
}

// assemble stacks layers over an empty image of b's architecture and sets
// its configuration. The creation time is fixed so that the digest depends
// on content only.
func (b *Builder) assemble(layers []v1.Layer, cfg v1.Config) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", b.arch()
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = cfg
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	cf.Config.Labels[LabelSource] = "https://github.com/slipwayci/slipway (hack/engine)"
	return mutate.ConfigFile(img, cf)
}

func (b *Builder) busyboxImage(ctx context.Context) (v1.Image, error) {
	l, err := b.BusyboxLayer(ctx)
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{l}, v1.Config{
		Env: []string{"PATH=" + defaultPath},
		Cmd: []string{"sh"},
		Labels: map[string]string{
			LabelDesc: "Debian's static busybox with root, nobody and nonroot (65532) users and a CA bundle; no package manager",
		},
	})
}

func (b *Builder) golangImage(ctx context.Context) (v1.Image, error) {
	bb, err := b.BusyboxLayer(ctx)
	if err != nil {
		return nil, err
	}
	goroot, err := b.GoRootLayer(ctx)
	if err != nil {
		return nil, err
	}
	proxy, seed, err := b.SeedLayer(ctx, "goproxy", GoProxyDir)
	if err != nil {
		return nil, err
	}
	dirs, err := b.cached("gopath", key("gopath v1"), func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "go", Mode: fs.ModeDir | 0o777},
			{Path: "go/bin", Mode: fs.ModeDir | 0o777},
			{Path: "go/src", Mode: fs.ModeDir | 0o777},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{bb, goroot, proxy, dirs}, v1.Config{
		Env: []string{
			"PATH=" + goPath,
			"GOLANG_VERSION=" + strings.TrimPrefix(b.GoVersion, "go"),
			"GOPATH=/go",
			"GOTOOLCHAIN=local",
			"CGO_ENABLED=0",
			"GOFLAGS=-buildvcs=false",
			"GOPROXY=file://" + GoProxyDir,
			"GOSUMDB=off",
		},
		WorkingDir: "/go",
		Cmd:        []string{"sh"},
		Labels: map[string]string{
			LabelDesc:      "busybox + the host's Go toolchain (" + b.GoVersion + ") + an offline module proxy seeded from the repository's go.mod files",
			LabelVersion:   b.GoVersion,
			LabelGoModSeed: seed.Key,
		},
	})
}

func (b *Builder) debianImage(ctx context.Context) (v1.Image, error) {
	l, err := b.DebianLayer(ctx)
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{l}, v1.Config{
		Env:    []string{"PATH=" + defaultPath},
		Cmd:    []string{"bash"},
		Labels: map[string]string{LabelDesc: "Debian " + Suite + " minbase, slimmed like debian:" + Suite + "-slim"},
	})
}

func (b *Builder) debianDerived(ctx context.Context, d Derived, extra ...v1.Layer) ([]v1.Layer, error) {
	base, err := b.DebianLayer(ctx)
	if err != nil {
		return nil, err
	}
	l, err := b.DerivedLayer(ctx, d)
	if err != nil {
		return nil, err
	}
	return append([]v1.Layer{base, l}, extra...), nil
}

func (b *Builder) pythonImage(ctx context.Context) (v1.Image, error) {
	layers, err := b.debianDerived(ctx, Derived{
		Name:     "python3.11",
		Packages: []string{"python3.11", "python3-pip", "python3-venv", "ca-certificates"},
		// Like the Docker Hub image: python/pip on PATH, and pip allowed to
		// install into the image's Python.
		Post: `ln -s /usr/bin/python3 /usr/local/bin/python
ln -s /usr/bin/pip3 /usr/local/bin/pip
rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED`,
	})
	if err != nil {
		return nil, err
	}
	return b.assemble(layers, v1.Config{
		Env:    []string{"PATH=" + defaultPath, "LANG=C.UTF-8", "PYTHON_VERSION=3.11"},
		Cmd:    []string{"python3"},
		Labels: map[string]string{LabelDesc: "Debian " + Suite + " slim with Debian's python3.11 and pip"},
	})
}

func (b *Builder) nodeImage(ctx context.Context) (v1.Image, error) {
	layers, err := b.debianDerived(ctx, Derived{
		Name:     "nodejs",
		Packages: []string{"nodejs", "npm", "ca-certificates"},
		Post:     `node --version >/usr/local/share/node-version`,
	})
	if err != nil {
		return nil, err
	}
	return b.assemble(layers, v1.Config{
		Env:    []string{"PATH=" + defaultPath, "LANG=C.UTF-8"},
		Cmd:    []string{"node"},
		Labels: map[string]string{LabelDesc: "Debian " + Suite + " slim with Debian's nodejs (18) and npm"},
	})
}

func (b *Builder) rustImage(ctx context.Context) (v1.Image, error) {
	layers, err := b.debianDerived(ctx, Derived{
		Name:     "rust",
		Packages: []string{"rustc", "cargo", "ca-certificates"},
		// Like the Docker Hub image: CARGO_HOME under /usr/local/cargo.
		Post: `mkdir -p /usr/local/cargo/bin /usr/local/cargo/registry
rustc --version >/usr/local/share/rust-version`,
	})
	if err != nil {
		return nil, err
	}
	return b.assemble(layers, v1.Config{
		Env:    []string{"PATH=/usr/local/cargo/bin:" + defaultPath, "LANG=C.UTF-8", "CARGO_HOME=/usr/local/cargo"},
		Cmd:    []string{"bash"},
		Labels: map[string]string{LabelDesc: "Debian " + Suite + " slim with Debian's rustc (1.63) and cargo, for rust:1-slim-bookworm"},
	})
}

func (b *Builder) postgresImage(ctx context.Context) (v1.Image, error) {
	entry, err := b.cached("postgres-entrypoint", key("postgres entrypoint v1", string(postgresEntrypoint)), func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: postgresEntrypoint},
			{Path: "docker-entrypoint-initdb.d", Mode: fs.ModeDir | 0o755},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	layers, err := b.debianDerived(ctx, Derived{
		Name:     "postgresql-15",
		Packages: []string{"postgresql-15"},
		// Debian's package creates a "main" cluster; the entrypoint runs
		// initdb in PGDATA instead, on first start.
		Post: `rm -rf /etc/postgresql/15/main /var/lib/postgresql/15/main
mkdir -p /var/lib/postgresql/data /var/run/postgresql
chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 3777 /var/run/postgresql`,
	}, entry)
	if err != nil {
		return nil, err
	}
	return b.assemble(layers, v1.Config{
		Env: []string{
			"PATH=/usr/lib/postgresql/15/bin:" + defaultPath,
			"LANG=C.UTF-8",
			"PG_MAJOR=15",
			"PGDATA=/var/lib/postgresql/data",
		},
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"postgres"},
		ExposedPorts: map[string]struct{}{"5432/tcp": {}},
		StopSignal:   "SIGINT",
		Volumes:      map[string]struct{}{"/var/lib/postgresql/data": {}},
		Labels:       map[string]string{LabelDesc: "Debian " + Suite + " slim with Debian's postgresql-15 and an entrypoint like the Docker Hub image's"},
	})
}

func (b *Builder) redisImage(ctx context.Context) (v1.Image, error) {
	entry, err := b.cached("redis-entrypoint", key("redis entrypoint v1", string(redisEntrypoint)), func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: redisEntrypoint},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	layers, err := b.debianDerived(ctx, Derived{
		Name:     "redis-server",
		Packages: []string{"redis-server"},
		Post: `mkdir -p /data
chown redis:redis /data`,
	}, entry)
	if err != nil {
		return nil, err
	}
	return b.assemble(layers, v1.Config{
		Env:          []string{"PATH=" + defaultPath},
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"redis-server"},
		WorkingDir:   "/data",
		ExposedPorts: map[string]struct{}{"6379/tcp": {}},
		Labels:       map[string]string{LabelDesc: "Debian " + Suite + " slim with Debian's redis-server (7.0) and an entrypoint like the Docker Hub image's"},
	})
}

// dockerfileFrontendImage is BuildKit's Dockerfile frontend, laid out like
// Docker Hub's docker/dockerfile image: a Dockerfile starting with
// "# syntax=docker/dockerfile:1" makes the engine run it.
func (b *Builder) dockerfileFrontendImage(context.Context) (v1.Image, error) {
	if b.DockerfileFrontend == "" {
		return nil, fmt.Errorf("no Dockerfile frontend binary given (hack/build.sh frontend builds it)")
	}
	bin, err := os.ReadFile(b.DockerfileFrontend)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile frontend: %w", err)
	}
	l, err := b.cached("dockerfile-frontend", key("dockerfile frontend v1", string(bin)), func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "bin/dockerfile-frontend", Mode: 0o755, Data: bin},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{l}, v1.Config{
		Entrypoint: []string{"/bin/dockerfile-frontend"},
		Labels: map[string]string{
			LabelDesc:                             "BuildKit's Dockerfile frontend (hack/tools/dockerfile-frontend)",
			"moby.buildkit.frontend.network.none": "true",
			"moby.buildkit.frontend.caps":         "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
		},
	})
}

// trivyImage is the Trivy CLI on the busybox base, laid out like Docker
// Hub's aquasec/trivy image: /usr/local/bin/trivy, entrypoint "trivy".
func (b *Builder) trivyImage(ctx context.Context) (v1.Image, error) {
	if b.Trivy == "" {
		return nil, fmt.Errorf("no Trivy binary given (hack/build.sh trivy builds it)")
	}
	st, err := os.Stat(b.Trivy)
	if err != nil {
		return nil, fmt.Errorf("the Trivy binary: %w", err)
	}
	bb, err := b.BusyboxLayer(ctx)
	if err != nil {
		return nil, err
	}
	// The binary's name holds the hash of its build inputs (go.mod, go.sum,
	// flags, Go version), so it keys the layer without reading 300 MB.
	k := key("trivy v1", filepath.Base(b.Trivy), fmt.Sprint(st.Size()))
	l, err := b.cached("trivy", k, func() (layer.Spec, func(), error) {
		return layer.Spec{Entries: []layer.Entry{
			{Path: "usr/local/bin/trivy", Mode: 0o755, Source: b.Trivy},
			{Path: "root/.cache/trivy", Mode: fs.ModeDir | 0o755},
		}}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return b.assemble([]v1.Layer{bb, l}, v1.Config{
		Env:        []string{"PATH=" + defaultPath},
		Entrypoint: []string{"trivy"},
		Labels: map[string]string{
			LabelDesc:    "Trivy " + TrivyVersion + " built from its Go module (hack/tools/trivy) on the busybox base",
			LabelVersion: TrivyVersion,
		},
	})
}
