// Package publish puts a built image into a registry in the order that
// keeps the registry honest: push by digest (untagged), sign, and only then
// tag. A tag therefore never points at an image of a signed pipeline whose
// signature is missing, and a failed step leaves no tag behind. Reusing an
// image built from the same inputs (build avoidance) follows the same order.
//
// Before the first write it also refuses a denylisted digest, and a commit's
// tag (the bare full SHA) that already names another digest: that tag moves
// only with Force, and the result records the move.
package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

// Options describe one service's publication.
type Options struct {
	// Registry is the client every request goes through (auth, retries).
	Registry *registry.Client
	// Signer signs the image; nil publishes it unsigned.
	Signer *signing.Signer
	// Service, Commit and RunID are recorded in the signature's annotations.
	Service string
	Commit  string
	RunID   string
	// InputDigest is the service's input digest: the image also gets its
	// input tag, so that later runs find and reuse it.
	InputDigest string
	// Tags are the tags to give the image (the commit SHA, ...).
	Tags []string
	// Attestations are in-toto predicates attested after the signature and
	// before any tag (they need a Signer).
	Attestations []Predicate
	// Denied, when set, says whether a digest is denylisted (and why): such
	// an image is not signed, attested or tagged.
	Denied func(digest string) (reason string, denied bool)
	// Force lets the commit's tag (the tag equal to Commit) move to this
	// image when it already names another digest. Other tags always move.
	Force bool
	// Children are, for a multi-platform index, the predicates to attest
	// on each platform's own image, by platform ("linux/arm64"). Every
	// image of an index is signed before the index, and the index before
	// any tag; a platform named here must be in the index.
	Children map[string][]Predicate
	// Index publishes an archive holding a single image as an index of
	// that image: a service built for one platform (of images.platforms)
	// publishes an index like one built for several.
	Index bool
}

// ErrDenylisted means the image's digest is on the denylist.
var ErrDenylisted = errors.New("image is denylisted")

// DirtySuffix ends the commit tag of a build from uncommitted changes (see
// plan.DirtySuffix); such a tag is not guarded.
const DirtySuffix = "-dirty"

// ErrCommitTagTaken means the commit's tag already names another digest and
// Force was not given.
var ErrCommitTagTaken = errors.New("the commit's tag already names another image")

// Predicate is one in-toto predicate to attest.
type Predicate struct {
	// Type is the predicate type URI (signing.Predicate*).
	Type string
	// Body is the predicate JSON.
	Body []byte
}

func (o Options) validate() error {
	switch {
	case o.Registry == nil:
		return errors.New("no registry client")
	case o.Service == "":
		return errors.New("no service name")
	case len(o.Tags) == 0:
		return fmt.Errorf("service %s: no tag to publish under", o.Service)
	case (len(o.Attestations) > 0 || len(o.Children) > 0) && o.Signer == nil:
		return fmt.Errorf("service %s: attestations need a signing key", o.Service)
	}
	return nil
}

// Tarball publishes the image in an OCI (or docker-save) tarball, as a
// Dagger container export writes it, to repo.
func Tarball(ctx context.Context, file, repo string, o Options) (*report.Service, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	push := o.Registry.PushTarball
	if o.Index {
		push = o.Registry.PushTarballIndex
	}
	d, err := push(ctx, file, repo)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", o.Service, err)
	}
	return finish(ctx, d.String(), o)
}

// Existing gives an image already in the registry (digestRef, found by its
// input digest) this run's tags, after signing it for this commit.
func Existing(ctx context.Context, digestRef string, o Options) (*report.Service, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if _, err := o.Registry.ParseDigest(digestRef); err != nil {
		return nil, fmt.Errorf("service %s: %w", o.Service, err)
	}
	return finish(ctx, digestRef, o)
}

func finish(ctx context.Context, digestRef string, o Options) (*report.Service, error) {
	d, err := o.Registry.ParseDigest(digestRef)
	if err != nil {
		return nil, err
	}
	out := &report.Service{Name: o.Service, Repository: d.Context().Name(), Digest: d.DigestStr()}
	if o.Denied != nil {
		if why, denied := o.Denied(d.DigestStr()); denied {
			return nil, fmt.Errorf("service %s: %w: %s; it is not signed, tagged or deployed", o.Service, ErrDenylisted, why)
		}
	}
	moved, err := checkCommitTag(ctx, d, o)
	if err != nil {
		return nil, err
	}
	out.Moved = moved
	if out.Platforms, err = children(ctx, d, o); err != nil {
		return nil, err
	}
	if o.Signer != nil {
		res, err := o.Signer.Sign(ctx, digestRef, map[string]string{
			signing.AnnotationSourceCommit: o.Commit,
			signing.AnnotationService:      o.Service,
			signing.AnnotationRunID:        o.RunID,
		})
		if err != nil {
			return nil, fmt.Errorf("service %s: signing %s (the image stays untagged): %w", o.Service, digestRef, err)
		}
		out.Signature = res.Ref
		for _, a := range o.Attestations {
			if _, err := o.Signer.Attest(ctx, digestRef, a.Type, a.Body); err != nil {
				return nil, fmt.Errorf("service %s: attesting %s for %s (the image stays untagged): %w", o.Service, a.Type, digestRef, err)
			}
			out.Attestations = append(out.Attestations, a.Type)
		}
	}
	tags := append([]string{}, o.Tags...)
	if o.InputDigest != "" {
		it, err := registry.InputTag(o.InputDigest)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", o.Service, err)
		}
		tags = append(tags, it)
	}
	if err := o.Registry.Tag(ctx, digestRef, tags...); err != nil {
		return nil, fmt.Errorf("service %s: tagging %s: %w", o.Service, digestRef, err)
	}
	out.Tags = o.Tags
	if size, err := imageSize(ctx, o.Registry, digestRef); err == nil {
		out.SizeBytes = size
	}
	return out, nil
}

// checkCommitTag looks at what the commit's tag names now. Absent or the
// same digest: nil. Another digest: ErrCommitTagTaken, or with Force the
// move that tagging will make. A dirty build's tag ("<sha>-dirty") names
// whatever was last built from uncommitted changes on that commit, which
// is not one tree: it moves freely.
func checkCommitTag(ctx context.Context, d name.Digest, o Options) (*report.TagMove, error) {
	if o.Commit == "" || !slices.Contains(o.Tags, o.Commit) || strings.HasSuffix(o.Commit, DirtySuffix) {
		return nil, nil
	}
	tag := d.Context().Tag(o.Commit)
	cur, err := o.Registry.Resolve(ctx, tag.String())
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("service %s: reading what %s names before tagging: %w", o.Service, tag, err)
	case cur.DigestStr() == d.DigestStr():
		return nil, nil
	case !o.Force:
		return nil, fmt.Errorf("service %s: %w: %s names %s; refusing to move it to %s (a commit's tag names one image; --force moves it)",
			o.Service, ErrCommitTagTaken, tag, cur.DigestStr(), d.DigestStr())
	}
	return &report.TagMove{Tag: o.Commit, From: cur.DigestStr(), To: d.DigestStr()}, nil
}

// imageSize is the compressed size of the image: config plus layers (for an
// index, of its first image).
func imageSize(ctx context.Context, c *registry.Client, digestRef string) (int64, error) {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return 0, err
	}
	desc, err := remote.Get(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return 0, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return 0, err
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) == 0 {
			return 0, err
		}
		return imageSize(ctx, c, d.Context().Digest(m.Manifests[0].Digest.String()).String())
	}
	img, err := desc.Image()
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size, nil
}

// children signs (and attests) every platform image of the index d names,
// before the index itself is signed; for an image it returns nil.
func children(ctx context.Context, d name.Digest, o Options) ([]report.PlatformImage, error) {
	kids, err := o.Registry.Children(ctx, d.String())
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", o.Service, err)
	}
	// Every platform asked for is there before anything is signed.
	seen := map[string]bool{}
	for _, k := range kids {
		seen[k.Platform] = true
	}
	for plat := range o.Children {
		if !seen[plat] {
			if len(kids) == 0 {
				return nil, fmt.Errorf("service %s: %s is a single image, but predicates were given for its %s image", o.Service, d, plat)
			}
			return nil, fmt.Errorf("service %s: the index %s holds no %s image", o.Service, d, plat)
		}
	}
	var out []report.PlatformImage
	for _, k := range kids {
		pi := report.PlatformImage{Platform: k.Platform, Digest: k.Digest()}
		if size, err := imageSize(ctx, o.Registry, k.Ref); err == nil {
			pi.SizeBytes = size
		}
		if o.Signer != nil {
			res, err := o.Signer.Sign(ctx, k.Ref, map[string]string{
				signing.AnnotationSourceCommit: o.Commit,
				signing.AnnotationService:      o.Service,
				signing.AnnotationRunID:        o.RunID,
				signing.AnnotationPlatform:     k.Platform,
			})
			if err != nil {
				return nil, fmt.Errorf("service %s: signing the %s image %s (nothing is tagged): %w", o.Service, k.Platform, k.Ref, err)
			}
			pi.Signature = res.Ref
			for _, a := range o.Children[k.Platform] {
				if _, err := o.Signer.Attest(ctx, k.Ref, a.Type, a.Body); err != nil {
					return nil, fmt.Errorf("service %s: attesting %s for the %s image %s (nothing is tagged): %w", o.Service, a.Type, k.Platform, k.Ref, err)
				}
			}
		}
		out = append(out, pi)
	}
	return out, nil
}
