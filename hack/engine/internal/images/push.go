package images

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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

// Push writes img under every name into the mirror registry, unless the
// name already points at the same digest. It reports whether anything was
// written.
func Push(ctx context.Context, registry string, img v1.Image, names []string) (bool, error) {
	want, err := img.Digest()
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
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return wrote, fmt.Errorf("pushing %s: %w", ref, err)
		}
		wrote = true
	}
	return wrote, nil
}
