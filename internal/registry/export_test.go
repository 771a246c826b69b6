package registry_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// An exported image reads back (as the pipeline's archives are read) with
// the very digest it has in the registry.
func TestExportOCITarball(t *testing.T) {
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 7, Labels: map[string]string{"a": "b"}})
	d, err := c.PushImage(ctx, img, host+"/shop/orders:x")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := c.ExportOCITarball(ctx, d.String(), file); err != nil {
		t.Fatal(err)
	}
	back, _, cleanup, err := registry.OpenArchive(file)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	got, err := back.Digest()
	if err != nil || got.String() != d.DigestStr() {
		t.Fatalf("read back %s (%v), want %s", got, err, d.DigestStr())
	}
	if err := c.ExportOCITarball(ctx, host+"/shop/orders@sha256:0000000000000000000000000000000000000000000000000000000000000000", file); err == nil {
		t.Fatal("exporting a missing image succeeded")
	}
}
