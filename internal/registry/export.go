package registry

import (
	"context"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/tardir"
)

// ExportOCITarball writes the image (or index) digestRef names to file as an
// OCI image layout packed in an uncompressed tar: the format of Dagger's
// Container.asTarball, which Container.import reads back. It lets the
// pipeline scan an image that is already in the registry exactly like one
// it has just built.
func (c *Client) ExportOCITarball(ctx context.Context, digestRef, file string) error {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return err
	}
	desc, err := remote.Get(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return Classify("exporting", d.String(), err)
	}
	dir, err := os.MkdirTemp("", "slipway-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Classify("exporting", d.String(), err)
		}
		err = p.AppendIndex(idx)
		if err != nil {
			return Classify("exporting", d.String(), err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return Classify("exporting", d.String(), err)
		}
		var opts []layout.Option
		if cf, err := img.ConfigFile(); err == nil {
			opts = append(opts, layout.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			return Classify("exporting", d.String(), err)
		}
	}
	if err := tardir.Write(dir, file); err != nil {
		return fmt.Errorf("exporting %s to %s: %w", d, file, err)
	}
	return nil
}
