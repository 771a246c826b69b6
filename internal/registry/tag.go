package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tag points each of tags (bare tag names such as "v1.2.3") in the
// repository of digestRef at the manifest digestRef names. digestRef must be
// a digest reference, so that what gets tagged is exactly what was checked.
// Tags already pointing there are left alone.
func (c *Client) Tag(ctx context.Context, digestRef string, tags ...string) error {
	d, err := c.ParseDigest(digestRef)
	if err != nil {
		return fmt.Errorf("tagging: %w", err)
	}
	if len(tags) == 0 {
		return fmt.Errorf("tagging %s: %w: no tag given", d, ErrBadReference)
	}
	parsed := make([]name.Tag, 0, len(tags))
	for _, t := range tags {
		nt, err := name.NewTag(d.Context().Name()+":"+t, c.NameOptions(d.Context().Name())...)
		if err != nil {
			return fmt.Errorf("tagging %s: %w: tag %q: %v", d, ErrBadReference, t, err)
		}
		parsed = append(parsed, nt)
	}
	desc, err := remote.Get(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return Classify("tagging", d.String(), err)
	}
	for _, t := range parsed {
		if err := c.putTag(ctx, t, desc); err != nil {
			return err
		}
	}
	return nil
}

// ListTags returns the tags of repo, sorted. A repository that does not exist
// has no tags: (nil, nil).
func (c *Client) ListTags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.ParseRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	tags, err := remote.List(r, c.RemoteOptions(ctx)...)
	if err != nil {
		err = Classify("listing tags of", r.Name(), err)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	sort.Strings(tags)
	return tags, nil
}

// Delete removes ref from its registry: a digest reference deletes the
// manifest (and with it every tag pointing at it, on most registries); a tag
// reference removes the tag where the registry supports that. Deleting what
// does not exist returns an error wrapping ErrNotFound.
func (c *Client) Delete(ctx context.Context, ref string) error {
	r, err := c.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("deleting: %w", err)
	}
	if err := remote.Delete(r, c.RemoteOptions(ctx)...); err != nil {
		return Classify("deleting", r.Name(), err)
	}
	c.log.Info("deleted", "ref", r.Name())
	return nil
}
