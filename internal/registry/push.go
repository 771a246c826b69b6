package registry

import (
	"bytes"
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

// PushTarball pushes the image held in an archive file: an OCI tarball as
// Dagger's Container.export / asTarball write it (index.json naming one image
// or one multi-platform index), gzip-compressed or not, or a `docker save`
// tarball of one image. See Push for refs. It returns the digest reference in
// the repository of the first ref.
func (c *Client) PushTarball(ctx context.Context, file string, refs ...string) (name.Digest, error) {
	a, cleanup, err := loadTarball(file)
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", file, err)
	}
	defer cleanup()
	return c.push(ctx, a, refs)
}

// PushTarballIndex is PushTarball for a multi-platform release: an archive
// holding one image is pushed as IndexOf that image, so that a service built
// for a single platform publishes an index like one built for several.
func (c *Client) PushTarballIndex(ctx context.Context, file string, refs ...string) (name.Digest, error) {
	a, cleanup, err := loadTarball(file)
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", file, err)
	}
	defer cleanup()
	if a.img != nil {
		if a.idx, err = IndexOf(a.img); err != nil {
			return name.Digest{}, fmt.Errorf("pushing %s: %w", file, err)
		}
		a.img = nil
	}
	return c.push(ctx, a, refs)
}

// IndexOf is the image index of img alone, with the platform its
// configuration names (an OCI index; a Docker manifest list for a Docker
// manifest). The same image always gives the same index.
func IndexOf(img v1.Image) (v1.ImageIndex, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image configuration: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	it := types.OCIImageIndex
	if mt == types.DockerManifestSchema2 {
		it = types.DockerManifestList
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
		Descriptor: v1.Descriptor{MediaType: mt, Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}}), it), nil
}

// PushLayout pushes the image held in an OCI image layout directory. See
// PushTarball.
func (c *Client) PushLayout(ctx context.Context, dir string, refs ...string) (name.Digest, error) {
	a, err := loadLayout(dir)
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", dir, err)
	}
	return c.push(ctx, a, refs)
}

// PushImage pushes an in-memory image. See Push for refs.
func (c *Client) PushImage(ctx context.Context, img v1.Image, refs ...string) (name.Digest, error) {
	return c.push(ctx, artifact{img: img}, refs)
}

// PushIndex pushes an in-memory image index and its images. See Push for
// refs.
func (c *Client) PushIndex(ctx context.Context, idx v1.ImageIndex, refs ...string) (name.Digest, error) {
	return c.push(ctx, artifact{idx: idx}, refs)
}

// Push semantics, shared by PushTarball, PushLayout, PushImage and
// PushIndex: each ref is a tag ("host/repo:tag"), a bare repository
// ("host/repo", pushed by digest only, untagged), or a digest reference that
// must equal the image's digest. Refs may name several repositories and
// registries. Blobs already present are not uploaded again, and a tag that
// already points at the image is not rewritten, so a repeated push changes
// nothing.
func (c *Client) push(ctx context.Context, a artifact, refs []string) (name.Digest, error) {
	if len(refs) == 0 {
		return name.Digest{}, fmt.Errorf("pushing: %w: no destination reference given", ErrBadReference)
	}
	h, err := a.digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing: computing the image digest: %w", err)
	}
	type dest struct {
		repo name.Repository
		tags []name.Tag
	}
	var order []string
	byRepo := map[string]*dest{}
	for _, s := range refs {
		repo, tag, err := c.parsePushRef(s, h)
		if err != nil {
			return name.Digest{}, fmt.Errorf("pushing: %w", err)
		}
		d, ok := byRepo[repo.Name()]
		if !ok {
			d = &dest{repo: repo}
			byRepo[repo.Name()] = d
			order = append(order, repo.Name())
		}
		if tag != nil {
			d.tags = append(d.tags, *tag)
		}
	}
	var first name.Digest
	for i, key := range order {
		d := byRepo[key]
		dig := d.repo.Digest(h.String())
		if i == 0 {
			first = dig
		}
		// Push by digest first: blobs and manifest land before any tag
		// points at them.
		popts, wait := c.progressOptions(dig.String())
		err := remote.Push(dig, a.manifest(), append(c.RemoteOptions(ctx), popts...)...)
		wait()
		if err != nil {
			return name.Digest{}, Classify("pushing", dig.String(), err)
		}
		for _, t := range d.tags {
			if err := c.putTag(ctx, t, a.manifest()); err != nil {
				return name.Digest{}, err
			}
		}
		c.log.Info("pushed image", "digest", dig.String(), "tags", len(d.tags))
	}
	return first, nil
}

// putTag points tag at m unless it already does.
func (c *Client) putTag(ctx context.Context, t name.Tag, m remote.Taggable) error {
	raw, err := m.RawManifest()
	if err != nil {
		return fmt.Errorf("tagging %s: %w", t, err)
	}
	want, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("tagging %s: %w", t, err)
	}
	if desc, err := remote.Head(t, c.RemoteOptions(ctx)...); err == nil && desc.Digest == want {
		return nil
	}
	if err := remote.Tag(t, m, c.RemoteOptions(ctx)...); err != nil {
		return Classify("tagging", t.String(), err)
	}
	return nil
}

// parsePushRef splits a push destination into its repository and optional
// tag; a digest must equal h.
func (c *Client) parsePushRef(s string, h v1.Hash) (name.Repository, *name.Tag, error) {
	opts := c.NameOptions(s)
	if strings.Contains(s, "@") {
		d, err := name.NewDigest(s, opts...)
		if err != nil {
			return name.Repository{}, nil, fmt.Errorf("%w: %q: %v", ErrBadReference, s, err)
		}
		if d.DigestStr() != h.String() {
			return name.Repository{}, nil, fmt.Errorf("%w: %q names digest %s but the image is %s", ErrBadReference, s, d.DigestStr(), h)
		}
		return d.Context(), nil, nil
	}
	if strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":") {
		t, err := name.NewTag(s, opts...)
		if err != nil {
			return name.Repository{}, nil, fmt.Errorf("%w: %q: %v", ErrBadReference, s, err)
		}
		return t.Context(), &t, nil
	}
	r, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, nil, fmt.Errorf("%w: %q is neither host/repo, host/repo:tag nor host/repo@digest: %v", ErrBadReference, s, err)
	}
	return r, nil, nil
}
