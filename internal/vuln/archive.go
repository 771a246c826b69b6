package vuln

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

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrBadArchive: an image archive is neither an OCI layout tarball nor a
// `docker save` tarball, or holds no image for the wanted platform.
var ErrBadArchive = errors.New("bad image archive")

// archiveTag is the name the image gets in a docker archive written for a
// scanner; scanners show it, nothing resolves it.
const archiveTag = "slipway.local/scan:image"

// WriteDockerArchive writes the image held in the archive file in to out in
// `docker save` format (manifest.json), the only archive format
// osv-scanner's --archive reads. in may be an OCI image layout packed as a
// tar (what Dagger's Container.asTarball writes), optionally gzipped, or
// already a docker archive. When in holds several images (a multi-platform
// index), platform ("linux/amd64", "linux/arm64/v8") picks one; it may be
// empty when there is only one. It returns the digest of the image's
// manifest in an OCI archive, the digest the image is pushed under; a
// docker archive keeps no manifest, and then the digest is that of the
// manifest rebuilt from it.
func WriteDockerArchive(in, out, platform string) (v1.Hash, error) {
	img, cleanup, err := readArchive(in, platform)
	defer cleanup()
	if err != nil {
		return v1.Hash{}, err
	}
	h, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%w: %s: %v", ErrBadArchive, in, err)
	}
	tag, _ := name.NewTag(archiveTag)
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		_ = os.Remove(tmp)
		return v1.Hash{}, fmt.Errorf("writing the docker archive %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the docker archive %s: %w", out, err)
	}
	return h, nil
}

func readArchive(file, platform string) (v1.Image, func(), error) {
	nop := func() {}
	names, gz, err := tarNames(file)
	if err != nil {
		return nil, nop, err
	}
	switch {
	case names["index.json"]:
		dir, err := os.MkdirTemp("", "slipway-scan-")
		if err != nil {
			return nil, nop, fmt.Errorf("unpacking %s: %w", file, err)
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		if err := untar(file, gz, dir); err != nil {
			return nil, cleanup, err
		}
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return nil, cleanup, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
		}
		img, err := pickImage(idx, platform)
		if err != nil {
			return nil, cleanup, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
		}
		return img, cleanup, nil
	case names["manifest.json"]:
		img, err := tarball.Image(func() (io.ReadCloser, error) { return openTar(file, gz) }, nil)
		if err != nil {
			return nil, nop, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
		}
		return img, nop, nil
	}
	return nil, nop, fmt.Errorf("%w: %s has neither index.json (OCI layout) nor manifest.json (docker save)", ErrBadArchive, file)
}

// pickImage finds the one image of an index (descending into nested
// indexes), or the one for platform.
func pickImage(idx v1.ImageIndex, platform string) (v1.Image, error) {
	var want *v1.Platform
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %v", platform, err)
		}
		want = p
	}
	type cand struct {
		img  v1.Image
		plat *v1.Platform
	}
	var found []cand
	var walk func(v1.ImageIndex, int) error
	walk = func(ix v1.ImageIndex, depth int) error {
		if depth > 4 {
			return errors.New("indexes nested too deep")
		}
		m, err := ix.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			switch {
			case d.MediaType.IsIndex():
				child, err := ix.ImageIndex(d.Digest)
				if err != nil {
					return err
				}
				if err := walk(child, depth+1); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				img, err := ix.Image(d.Digest)
				if err != nil {
					return err
				}
				plat := d.Platform
				if plat == nil {
					if cf, err := img.ConfigFile(); err == nil {
						plat = cf.Platform()
					}
				}
				if plat != nil && plat.OS == "unknown" {
					continue // attestation manifests
				}
				found = append(found, cand{img, plat})
			}
		}
		return nil
	}
	if err := walk(idx, 0); err != nil {
		return nil, err
	}
	var match []cand
	for _, c := range found {
		if want == nil || (c.plat != nil && c.plat.Satisfies(*want)) {
			match = append(match, c)
		}
	}
	switch {
	case len(match) == 1:
		return match[0].img, nil
	case len(match) == 0 && want != nil:
		return nil, fmt.Errorf("no image for platform %s (%d image(s) in the archive)", platform, len(found))
	case len(match) == 0:
		return nil, errors.New("no image in the archive")
	}
	return nil, fmt.Errorf("%d images in the archive: say which platform to scan", len(match))
}

func openTar(file string, gz bool) (io.ReadCloser, error) {
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
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// tarNames lists the cleaned entry names of a tar and says whether it is
// gzip-compressed.
func tarNames(file string) (map[string]bool, bool, error) {
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
	rc, err := openTar(file, gz)
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, gz, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
		}
		names[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
}

// untar extracts the regular files and directories of an archive into dir,
// refusing entries that would land outside it.
func untar(file string, gz bool, dir string) error {
	rc, err := openTar(file, gz)
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
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
		}
		n := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if n == "." {
			continue
		}
		if path.IsAbs(n) || n == ".." || strings.HasPrefix(n, "../") {
			return fmt.Errorf("%w: %s: entry %q points outside the archive", ErrBadArchive, file, h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(n))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(f, tr)
			if err := f.Close(); cerr == nil {
				cerr = err
			}
			if cerr != nil {
				return fmt.Errorf("unpacking %s: %w", file, cerr)
			}
		}
	}
}
