package registry

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is what an archive holds: one image or one image index.
type artifact struct {
	img v1.Image
	idx v1.ImageIndex
}

func (a artifact) digest() (v1.Hash, error) {
	if a.idx != nil {
		return a.idx.Digest()
	}
	return a.img.Digest()
}

// taggable returns the artifact as something go-containerregistry can push.
func (a artifact) manifest() interface{ RawManifest() ([]byte, error) } {
	if a.idx != nil {
		return a.idx
	}
	return a.img
}

// loadLayout reads an OCI image layout directory (oci-layout, index.json,
// blobs/). index.json must name one image or one index; several images
// with distinct platforms are pushed as a new index of those images.
func loadLayout(dir string) (artifact, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return artifact{}, fmt.Errorf("%w: %s is not an OCI image layout: %v", ErrBadArchive, dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return artifact{}, fmt.Errorf("%w: reading %s: %v", ErrBadArchive, filepath.Join(dir, "index.json"), err)
	}
	switch n := len(im.Manifests); {
	case n == 0:
		return artifact{}, fmt.Errorf("%w: %s lists no image", ErrBadArchive, filepath.Join(dir, "index.json"))
	case n == 1:
		d := im.Manifests[0]
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return artifact{}, fmt.Errorf("%w: reading index %s from %s: %v", ErrBadArchive, d.Digest, dir, err)
			}
			return artifact{idx: child}, nil
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return artifact{}, fmt.Errorf("%w: reading image %s from %s: %v", ErrBadArchive, d.Digest, dir, err)
			}
			return artifact{img: img}, nil
		default:
			return artifact{}, fmt.Errorf("%w: %s names a %s, not an image or index", ErrBadArchive, filepath.Join(dir, "index.json"), d.MediaType)
		}
	default:
		adds := make([]mutate.IndexAddendum, 0, n)
		seen := map[string]bool{}
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() || d.Platform == nil {
				return artifact{}, fmt.Errorf("%w: %s lists %d entries and %s is not an image with a platform; export a single image or an index", ErrBadArchive, filepath.Join(dir, "index.json"), n, d.Digest)
			}
			p := d.Platform.String()
			if seen[p] {
				return artifact{}, fmt.Errorf("%w: %s lists two images for platform %s", ErrBadArchive, filepath.Join(dir, "index.json"), p)
			}
			seen[p] = true
			img, err := idx.Image(d.Digest)
			if err != nil {
				return artifact{}, fmt.Errorf("%w: reading image %s from %s: %v", ErrBadArchive, d.Digest, dir, err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: d.Platform, MediaType: d.MediaType}})
		}
		out := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
		return artifact{idx: out}, nil
	}
}

// OpenArchive reads an image archive file, as PushTarball does: an OCI
// layout packed as a tar (what Dagger's asTarball writes), optionally
// gzip-compressed, or a `docker save` tarball. It returns the image, or the
// index when the archive holds several images; cleanup removes what was
// unpacked. Errors wrap ErrBadArchive.
func OpenArchive(file string) (img v1.Image, idx v1.ImageIndex, cleanup func(), err error) {
	a, cleanup, err := loadTarball(file)
	return a.img, a.idx, cleanup, err
}

// loadTarball reads an image archive file: an OCI layout packed as a tar
// (what Dagger's Container.export and asTarball produce: oci-layout,
// index.json, blobs/sha256/...), optionally gzip-compressed, or a
// `docker save` tarball (manifest.json) holding one image. An OCI archive is
// unpacked into a temporary directory that cleanup removes.
func loadTarball(file string) (a artifact, cleanup func(), err error) {
	cleanup = func() {}
	names, gz, err := scanTar(file)
	if err != nil {
		return artifact{}, cleanup, err
	}
	switch {
	case names["index.json"]:
		dir, err := os.MkdirTemp("", "slipway-oci-")
		if err != nil {
			return artifact{}, cleanup, fmt.Errorf("unpacking %s: %w", file, err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		if err := extractTar(file, gz, dir); err != nil {
			cleanup()
			return artifact{}, func() {}, err
		}
		a, err := loadLayout(dir)
		if err != nil {
			cleanup()
			return artifact{}, func() {}, fmt.Errorf("%s: %w", file, err)
		}
		return a, cleanup, nil
	case names["manifest.json"]:
		opener := func() (io.ReadCloser, error) { return openMaybeGzip(file, gz) }
		img, err := tarball.Image(opener, nil)
		if err != nil {
			return artifact{}, cleanup, fmt.Errorf("%w: %s: reading docker save archive: %v", ErrBadArchive, file, err)
		}
		return artifact{img: img}, cleanup, nil
	default:
		return artifact{}, cleanup, fmt.Errorf("%w: %s has neither index.json (OCI layout) nor manifest.json (docker save)", ErrBadArchive, file)
	}
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error {
	_ = g.Reader.Close()
	return g.f.Close()
}

func openMaybeGzip(file string, gz bool) (io.ReadCloser, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	if !gz {
		return f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
	}
	return gzipFile{zr, f}, nil
}

// scanTar lists the entry names of a tar (cleaned, without "./") and says
// whether it is gzip-compressed.
func scanTar(file string) (map[string]bool, bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false, fmt.Errorf("opening the image archive: %w", err)
	}
	magic := make([]byte, 2)
	_, rerr := io.ReadFull(f, magic)
	f.Close()
	if rerr != nil {
		return nil, false, fmt.Errorf("%w: %s is too short to be a tar archive", ErrBadArchive, file)
	}
	gz := magic[0] == 0x1f && magic[1] == 0x8b
	rc, err := openMaybeGzip(file, gz)
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: reading tar: %v", ErrBadArchive, file, err)
		}
		names[cleanEntry(h.Name)] = true
	}
	return names, gz, nil
}

func cleanEntry(n string) string {
	n = path.Clean(strings.TrimPrefix(n, "./"))
	return strings.TrimPrefix(n, "/")
}

// extractTar unpacks regular files and directories of file into dir,
// refusing entries that would land outside dir and links of any kind.
func extractTar(file string, gz bool, dir string) error {
	rc, err := openMaybeGzip(file, gz)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: reading tar: %v", ErrBadArchive, file, err)
		}
		n := cleanEntry(h.Name)
		if n == "." {
			continue
		}
		if n == ".." || strings.HasPrefix(n, "../") {
			return fmt.Errorf("%w: %s: entry %q points outside the archive", ErrBadArchive, file, h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(n))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("unpacking %s: %w", file, err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("unpacking %s: %w", file, err)
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return fmt.Errorf("unpacking %s: %w", file, err)
			}
			_, cerr := io.Copy(out, tr)
			if err := out.Close(); cerr == nil {
				cerr = err
			}
			if cerr != nil {
				return fmt.Errorf("unpacking %s entry %s: %w", file, h.Name, cerr)
			}
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("%w: %s: entry %q is a link, which an OCI image layout never holds", ErrBadArchive, file, h.Name)
		default:
			// Other entry kinds (fifos, devices) have no place in a layout.
			return fmt.Errorf("%w: %s: entry %q has unsupported type %q", ErrBadArchive, file, h.Name, h.Typeflag)
		}
	}
}
