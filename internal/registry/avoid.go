package registry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Build avoidance.
//
// A service's input digest (a sha256 over everything its image is built from)
// names the image that a build of those inputs produces. When the image is
// published it gets two marks:
//
//   - the tag InputTag(digest): "input-" and the first 32 hex digits (128
//     bits) of the digest, a short, valid tag that finds the image with one
//     request;
//   - the image config label InputDigestLabel ("dev.slipway.input-digest")
//     holding the whole digest ("sha256:<64 hex>"), set at build time, so it
//     is covered by the image digest and any signature over it.
//
// FindByInputDigest trusts a tag only if the label of the image it names
// holds the whole input digest: a tag moved by hand, a prefix collision or an
// image built without the label is not reused. For an index, every platform
// image must carry the label.
const (
	// InputDigestLabel is the image config label holding the input digest.
	InputDigestLabel = "dev.slipway.input-digest"
	// InputTagPrefix starts every input tag.
	InputTagPrefix = "input-"
	inputTagHexLen = 32
)

// NormalizeInputDigest accepts "sha256:<64 hex>" or bare 64 hex digits and
// returns the "sha256:<64 hex>" form in lower case.
func NormalizeInputDigest(d string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(d))
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return "", fmt.Errorf("input digest %q: want sha256:<64 hex digits>", d)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("input digest %q: want sha256:<64 hex digits>", d)
	}
	return "sha256:" + s, nil
}

// InputTag returns the tag under which the image built from inputDigest is
// published: "input-" and the first 32 hex digits of the digest.
func InputTag(inputDigest string) (string, error) {
	d, err := NormalizeInputDigest(inputDigest)
	if err != nil {
		return "", err
	}
	return InputTagPrefix + strings.TrimPrefix(d, "sha256:")[:inputTagHexLen], nil
}

// FindByInputDigest looks in repo for an image already published for
// inputDigest. It returns the image's digest reference and true when the
// input tag exists and every image under it carries InputDigestLabel with the
// whole digest. No tag is (zero, false, nil). A tag whose image's label is
// missing or different is not trusted: (zero, false, err) with err wrapping
// ErrInputMismatch, for the caller to log before building anyway. Other
// failures (credentials, registry down) are errors too.
//
// Callers reusing the image should still verify its signature: the label
// proves what the image claims to be built from, not who published it.
func (c *Client) FindByInputDigest(ctx context.Context, repo, inputDigest string) (name.Digest, bool, error) {
	want, err := NormalizeInputDigest(inputDigest)
	if err != nil {
		return name.Digest{}, false, fmt.Errorf("build avoidance in %s: %w", repo, err)
	}
	r, err := c.ParseRepository(repo)
	if err != nil {
		return name.Digest{}, false, fmt.Errorf("build avoidance: %w", err)
	}
	tagName, _ := InputTag(want)
	tag := r.Tag(tagName)
	desc, err := remote.Get(tag, c.RemoteOptions(ctx)...)
	if err != nil {
		err = Classify("looking up", tag.String(), err)
		if errors.Is(err, ErrNotFound) {
			return name.Digest{}, false, nil
		}
		return name.Digest{}, false, err
	}
	dig := r.Digest(desc.Digest.String())
	if err := c.checkInputLabel(desc, want); err != nil {
		if !errors.Is(err, ErrInputMismatch) {
			return name.Digest{}, false, Classify("reading the image config of", dig.String(), err)
		}
		return name.Digest{}, false, fmt.Errorf("build avoidance: %s (now %s) is not trusted: %w", tag, dig.DigestStr(), err)
	}
	c.log.Info("build avoidance: found image for input digest", "tag", tag.String(), "digest", dig.String())
	return dig, true, nil
}

// checkInputLabel verifies that every image under desc carries want.
func (c *Client) checkInputLabel(desc *remote.Descriptor, want string) error {
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		images := 0
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() || isAttestationManifest(m) {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return err
			}
			if err := checkImageLabel(img, want); err != nil {
				return fmt.Errorf("platform image %s: %w", m.Digest, err)
			}
			images++
		}
		if images == 0 {
			return fmt.Errorf("%w: the index holds no platform image", ErrInputMismatch)
		}
		return nil
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return err
		}
		return checkImageLabel(img, want)
	default:
		return fmt.Errorf("%w: %s is not an image", ErrInputMismatch, desc.MediaType)
	}
}

func checkImageLabel(img v1.Image, want string) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the image config: %w", err)
	}
	got, ok := cf.Config.Labels[InputDigestLabel]
	switch {
	case !ok:
		return fmt.Errorf("%w: label %s is missing", ErrInputMismatch, InputDigestLabel)
	case got != want:
		return fmt.Errorf("%w: label %s is %q, want %q", ErrInputMismatch, InputDigestLabel, got, want)
	}
	return nil
}

// isAttestationManifest recognises the unknown/unknown attestation entries
// BuildKit adds to indexes.
func isAttestationManifest(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}
