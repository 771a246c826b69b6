package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Copy copies the image src names into repository dstRepo, by digest, and
// points tags (bare tag names) at it there. src should be a digest
// reference; a tag is resolved first and the digest it names is copied, so
// that a tag moving meanwhile cannot change what lands. The copy keeps the
// digest: manifests are copied byte for byte, so labels, annotations and
// every platform of an index survive.
//
// Within one registry, layers are mounted from the source repository rather
// than uploaded again; blobs the destination already has are skipped. Across
// registries, blobs are streamed from source to destination. It returns the
// digest reference in dstRepo.
func (c *Client) Copy(ctx context.Context, src, dstRepo string, tags ...string) (name.Digest, error) {
	sr, err := c.ParseReference(src)
	if err != nil {
		return name.Digest{}, fmt.Errorf("copying: %w", err)
	}
	dr, err := c.ParseRepository(dstRepo)
	if err != nil {
		return name.Digest{}, fmt.Errorf("copying %s: %w", sr, err)
	}
	sd, ok := sr.(name.Digest)
	if !ok {
		sd, err = c.resolve(ctx, sr)
		if err != nil {
			return name.Digest{}, fmt.Errorf("copying: %w", err)
		}
	}
	desc, err := remote.Get(sd, c.RemoteOptions(ctx)...)
	if err != nil {
		return name.Digest{}, Classify("copying", sd.String(), err)
	}
	dst := dr.Digest(sd.DigestStr())
	if desc.Digest.String() != sd.DigestStr() {
		return name.Digest{}, fmt.Errorf("copying %s: the registry returned a manifest with digest %s", sd, desc.Digest)
	}
	popts, wait := c.progressOptions(dst.String())
	// remote.Push writes the referenced blobs (mounting them from the
	// source repository where the registries are the same) and children
	// of an index, then the manifest bytes unchanged.
	err = remote.Push(dst, desc, append(c.RemoteOptions(ctx), popts...)...)
	wait()
	if err != nil {
		return name.Digest{}, Classify(fmt.Sprintf("copying %s to", sd), dst.String(), err)
	}
	for _, t := range tags {
		nt, err := name.NewTag(dr.Name()+":"+t, c.NameOptions(dr.Name())...)
		if err != nil {
			return name.Digest{}, fmt.Errorf("copying %s: %w: tag %q: %v", sd, ErrBadReference, t, err)
		}
		if err := c.putTag(ctx, nt, desc); err != nil {
			return name.Digest{}, err
		}
	}
	c.log.Info("copied image", "from", sd.String(), "to", dst.String(), "tags", len(tags))
	return dst, nil
}
