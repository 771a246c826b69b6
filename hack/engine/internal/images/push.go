package images

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MirrorRef maps a Docker Hub reference ("alpine:3.22", "bitnami/x:1") to
// its place in a registry mirroring docker.io ("HOST/library/alpine:3.22").
func MirrorRef(registry, hubName string) (name.Reference, error) {
	ref, err := name.ParseReference(hubName)
	if err != nil {
		return nil, fmt.Errorf("parsing image name %q: %w", hubName, err)
	}
	if ref.Context().RegistryStr() != name.DefaultRegistry {
		return nil, fmt.Errorf("image name %q is not a Docker Hub name", hubName)
	}
	repo := ref.Context().RepositoryStr() // "library/alpine" for official images
	mirrored := registry + "/" + repo
	if !strings.Contains(ref.Identifier(), ":") {
		mirrored += ":" + ref.Identifier()
	} else {
		mirrored += "@" + ref.Identifier()
	}
	return name.ParseReference(mirrored, name.Insecure)
}

// Index is the OCI image index of imgs, one entry per image with the
// platform its configuration names, as Docker Hub serves multi-platform
// images.
func Index(imgs ...v1.Image) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			MediaType: mt,
			Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex), nil
}

// Artifact is what Push writes: a v1.Image or a v1.ImageIndex.
type Artifact interface {
	Digest() (v1.Hash, error)
}

// Push writes an image or an index under every name into the mirror
// registry, unless the name already points at the same digest. It reports
// whether anything was written.
func Push(ctx context.Context, registry string, art Artifact, names []string) (bool, error) {
	want, err := art.Digest()
	if err != nil {
		return false, fmt.Errorf("computing digest: %w", err)
	}
	wrote := false
	for _, n := range names {
		ref, err := MirrorRef(registry, n)
		if err != nil {
			return wrote, err
		}
		if d, err := remote.Head(ref, remote.WithContext(ctx)); err == nil && d.Digest == want {
			continue
		}
		switch a := art.(type) {
		case v1.ImageIndex:
			err = remote.WriteIndex(ref, a, remote.WithContext(ctx))
		case v1.Image:
			err = remote.Write(ref, a, remote.WithContext(ctx))
		default:
			err = fmt.Errorf("cannot push a %T", art)
		}
		if err != nil {
			return wrote, fmt.Errorf("pushing %s: %w", ref, err)
		}
		wrote = true
	}
	return wrote, nil
}
