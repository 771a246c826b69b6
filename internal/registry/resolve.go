package registry

import (
	"context"
	"errors"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Resolve returns the digest reference (repo@sha256:...) that ref (a tag or
// a digest) names now. For a multi-platform image it is the index digest.
func (c *Client) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	return c.resolve(ctx, r)
}

func (c *Client) resolve(ctx context.Context, r name.Reference) (name.Digest, error) {
	desc, err := remote.Head(r, c.RemoteOptions(ctx)...)
	if err == nil {
		return r.Context().Digest(desc.Digest.String()), nil
	}
	cerr := Classify("resolving", r.Name(), err)
	if errors.Is(cerr, ErrInvalid) {
		// Some registries answer HEAD on manifests badly (405, 400); GET is
		// the authoritative request.
		if d, gerr := remote.Get(r, c.RemoteOptions(ctx)...); gerr == nil {
			return r.Context().Digest(d.Digest.String()), nil
		}
	}
	return name.Digest{}, cerr
}

// Exists reports whether ref (a tag or a digest) exists. A missing
// repository, tag or digest is (false, nil); every other failure is an error.
func (c *Client) Exists(ctx context.Context, ref string) (bool, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return false, err
	}
	_, err = remote.Head(r, c.RemoteOptions(ctx)...)
	if err == nil {
		return true, nil
	}
	err = Classify("checking", r.Name(), err)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Child is one platform's image of an image index.
type Child struct {
	// Platform is "os/arch[/variant]" (arm64's v8 left out).
	Platform string
	// Ref is the image's digest reference in the index's repository.
	Ref string
}

// Digest is the child's digest ("sha256:…").
func (c Child) Digest() string { return c.Ref[strings.LastIndex(c.Ref, "@")+1:] }

// Children lists the platform images of the index digestRef names, in
// index order, leaving out entries that are not images for a platform
// (attestation manifests); for a single image it returns nil.
func (c *Client) Children(ctx context.Context, digestRef string) ([]Child, error) {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return nil, Classify("reading", d.String(), err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Child
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		out = append(out, Child{Platform: PlatformString(*m.Platform), Ref: d.Context().Digest(m.Digest.String()).String()})
	}
	return out, nil
}

// PlatformString writes a platform as slipway's configuration does:
// "os/arch", with the variant unless it is arm64's v8 ("linux/arm/v7").
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" && !(p.Architecture == "arm64" && p.Variant == "v8") {
		s += "/" + p.Variant
	}
	return s
}
