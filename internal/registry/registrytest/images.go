package registrytest

import (
	mrand "math/rand"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/internal/tardir"
)

// ImageSpec describes a test image.
type ImageSpec struct {
	// Layers is the number of layers (default 2), each of LayerSize bytes
	// of random content (default 1024) before compression.
	Layers    int
	LayerSize int64
	// Labels are set in the image config.
	Labels map[string]string
	// Platform defaults to linux/amd64.
	Platform *v1.Platform
	// Seed makes the content reproducible; different seeds give different
	// images.
	Seed int64
}

// Image builds an image with OCI media types, as BuildKit (and so Dagger)
// produces them.
func Image(tb testing.TB, spec ImageSpec) v1.Image {
	tb.Helper()
	if spec.Layers == 0 {
		spec.Layers = 2
	}
	if spec.LayerSize == 0 {
		spec.LayerSize = 1024
	}
	if spec.Platform == nil {
		spec.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	src := mrand.NewSource(spec.Seed)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := 0; i < spec.Layers; i++ {
		l, err := random.Layer(spec.LayerSize, types.OCILayer, random.WithSource(src))
		if err != nil {
			tb.Fatalf("random layer: %v", err)
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			tb.Fatalf("appending a layer: %v", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = spec.Platform.OS, spec.Platform.Architecture, spec.Platform.Variant
	cf.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatalf("setting the config: %v", err)
	}
	return img
}

// Index builds a multi-platform OCI index of the given images, each
// described with its config's platform.
func Index(tb testing.TB, imgs ...v1.Image) v1.ImageIndex {
	tb.Helper()
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			tb.Fatalf("config: %v", err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
}

// WriteOCILayout writes img (a v1.Image or v1.ImageIndex) as an OCI image
// layout in dir, the way BuildKit's OCI exporter lays it out: index.json
// with one descriptor (the image, with its platform, or the index). If dir
// already holds a layout, img is appended to its index.json.
func WriteOCILayout(tb testing.TB, dir string, img any) {
	tb.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		tb.Fatalf("writing layout %s: %v", dir, err)
	}
	ann := layout.WithAnnotations(map[string]string{"org.opencontainers.image.created": "2025-01-01T00:00:00Z"})
	switch v := img.(type) {
	case v1.Image:
		cf, err := v.ConfigFile()
		if err != nil {
			tb.Fatalf("config: %v", err)
		}
		plat := layout.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
		if err := p.AppendImage(v, ann, plat); err != nil {
			tb.Fatalf("writing the image to %s: %v", dir, err)
		}
	case v1.ImageIndex:
		if err := p.AppendIndex(v, ann); err != nil {
			tb.Fatalf("writing the index to %s: %v", dir, err)
		}
	default:
		tb.Fatalf("WriteOCILayout: %T is neither an image nor an index", img)
	}
}

// WriteOCITarball writes img (a v1.Image or v1.ImageIndex) to file in the
// format of Dagger's Container.export and asTarball: an OCI image layout
// packed as an uncompressed tar (oci-layout, index.json, blobs/sha256/...).
func WriteOCITarball(tb testing.TB, file string, img any) {
	tb.Helper()
	dir := tb.TempDir()
	WriteOCILayout(tb, dir, img)
	if err := tardir.Write(dir, file); err != nil {
		tb.Fatalf("packing %s: %v", file, err)
	}
}

// WriteDockerTarball writes img to file in `docker save` format, tagged tag.
func WriteDockerTarball(tb testing.TB, file, tag string, img v1.Image) {
	tb.Helper()
	t, err := name.NewTag(tag)
	if err != nil {
		tb.Fatalf("tag %q: %v", tag, err)
	}
	if err := tarball.WriteToFile(file, t, img); err != nil {
		tb.Fatalf("writing %s: %v", file, err)
	}
}
