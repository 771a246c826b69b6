package registry

import (
	"context"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// bigImage writes a 104 MiB image (4 layers of 26 MiB of random,
// incompressible bytes) to an OCI layout in dir and returns it read back
// from there, so that digests and compression are computed once.
func bigImage(b *testing.B, dir string) v1.Image {
	b.Helper()
	img := registrytest.Image(b, registrytest.ImageSpec{Seed: 1000, Layers: 4, LayerSize: 26 << 20})
	registrytest.WriteOCILayout(b, dir, img)
	p, err := layout.FromPath(dir)
	if err != nil {
		b.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		b.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		b.Fatal(err)
	}
	out, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkCopy100MB copies a 104 MiB image by digest within one registry
// (blobs scoped per repository, as in production registries) and across two
// registries, and reports the blob bytes uploaded per copy as counted by a
// counting proxy in front of the destination. The goal within one registry is
// 0 layer bytes: every blob is mounted from the source repository.
func BenchmarkCopy100MB(b *testing.B) {
	ctx := context.Background()
	img := bigImage(b, b.TempDir())
	layerBytes := blobBytes(b, img)

	srcCounter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	srcHost := registrytest.Serve(b, srcCounter)
	dstCounter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	dstHost := registrytest.Serve(b, dstCounter)
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	src, err := c.PushImage(ctx, img, srcHost+"/dev/big:v1")
	if err != nil {
		b.Fatal(err)
	}

	seq := 0 // destination repositories are always new
	for _, bc := range []struct {
		name    string
		counter *registrytest.Counter
		host    string
	}{
		{"within-registry", srcCounter, srcHost},
		{"across-registries", dstCounter, dstHost},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.counter.Reset()
			b.SetBytes(layerBytes)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				dst := fmt.Sprintf("%s/%s/big%d", bc.host, bc.name, seq)
				if _, err := c.Copy(ctx, src.String(), dst, "v1"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := bc.counter.Stats()
			n := float64(b.N)
			b.ReportMetric(float64(st.UploadBytes)/n, "upload-bytes/op")
			b.ReportMetric(float64(st.Mounts)/n, "mounts/op")
			b.ReportMetric(float64(layerBytes), "image-bytes")
		})
	}
}
