package vuln

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/registry"
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
	img, idx, cleanup, err := registry.OpenArchive(file)
	if err != nil {
		return nil, cleanup, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	if idx == nil {
		return img, cleanup, nil
	}
	img, err = pickImage(idx, platform)
	if err != nil {
		return nil, cleanup, fmt.Errorf("%w: %s: %v", ErrBadArchive, file, err)
	}
	return img, cleanup, nil
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
