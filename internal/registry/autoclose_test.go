package registry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// tarball.WriteToFile of a pulled image with more layers than download
// slots: without AutoCloseLayers it waits forever (go-containerregistry
// v0.21 holds a slot per unclosed layer reader); with it, it finishes.
func TestAutoCloseLayersLetsTarballWriteFinish(t *testing.T) {
	host := registrytest.New(t)
	c, err := New(WithJobs(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 9, Layers: 5, LayerSize: 4096}), host+"/a/b:1")
	if err != nil {
		t.Fatal(err)
	}
	write := func(wrap bool, timeout time.Duration) error {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		img, err := remote.Image(d, c.RemoteOptions(cctx)...)
		if err != nil {
			return err
		}
		if wrap {
			img = AutoCloseLayers(img)
		}
		return tarball.WriteToFile(filepath.Join(t.TempDir(), "i.tar"), d, img)
	}
	if err := write(false, 2*time.Second); err == nil {
		t.Log("go-containerregistry no longer waits on unclosed layer readers: AutoCloseLayers may be dropped")
	}
	if err := write(true, time.Minute); err != nil {
		t.Fatalf("with AutoCloseLayers: %v", err)
	}
}
