package registry

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
	if err := tarDir(dir, file); err != nil {
		return fmt.Errorf("exporting %s to %s: %w", d, file, err)
	}
	return nil
}

// tarDir packs the files under dir into the tar file.
func tarDir(dir, file string) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	werr := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if e.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if werr != nil {
		out.Close()
		return werr
	}
	if err := tw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
