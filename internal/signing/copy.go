package signing

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry"
)

// CopySignatures copies the signatures (".sig") and attestations (".att") of
// the image digestRef names, and the Sigstore bundles referring to it, into
// dstRepo, by digest, so that the image copied
// there with registry.Client.Copy verifies in its new repository. What does
// not exist is skipped; the destination's tags are replaced. It returns the
// tags written in dstRepo. Call it after copying the image: signatures must
// never name an image that is not there.
func CopySignatures(ctx context.Context, c *registry.Client, digestRef, dstRepo string) ([]string, error) {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return nil, fmt.Errorf("copying signatures: %w", err)
	}
	dst, err := c.ParseRepository(dstRepo)
	if err != nil {
		return nil, fmt.Errorf("copying signatures of %s: %w", d, err)
	}
	if ok, err := c.Exists(ctx, dst.Digest(d.DigestStr()).String()); err != nil {
		return nil, err
	} else if !ok {
		return nil, &registry.Error{Op: "copying signatures to", Ref: dst.Digest(d.DigestStr()).String(), Kind: registry.ErrNotFound,
			Hint: "copy the image before its signatures"}
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("copying signatures of %s: %w", d, err)
	}
	var written []string
	for _, suffix := range []string{"sig", "att"} {
		tag := sigTagName(h, suffix)
		src := d.Context().Tag(tag).String()
		ok, err := c.Exists(ctx, src)
		if err != nil {
			return written, err
		}
		if !ok {
			continue
		}
		if _, err := c.Copy(ctx, src, dst.Name(), tag); err != nil {
			return written, err
		}
		written = append(written, dst.Tag(tag).String())
	}
	// Sigstore bundles (keyless signatures and attestations), stored again
	// as referrers of the same digest in dstRepo.
	bundles, err := readBundles(ctx, c, d)
	if err != nil {
		return written, err
	}
	for _, b := range bundles {
		ref, err := writeBundle(ctx, c, dst.Digest(d.DigestStr()), b.json, b.predicateType, time.Now())
		if err != nil {
			return written, err
		}
		written = append(written, ref.String())
	}
	return written, nil
}
