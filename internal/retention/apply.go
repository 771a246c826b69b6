package retention

import (
	"context"
	"errors"
	"fmt"
	"github.com/slipwayci/slipway/internal/ghpackages"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipwayci/slipway/internal/registry"
)

// Outcome is what Apply did.
type Outcome struct {
	// Deleted lists every reference deleted, in order ("repo:tag",
	// "repo@sha256:...").
	Deleted []string `json:"deleted"`
	// Failed maps what could not be (completely) deleted — an image
	// ("repo@sha256:...") or an orphan ("repo:tag") — to why.
	Failed map[string]string `json:"failed,omitempty"`
	// Refused maps a registry host that refuses deletion to what to do
	// about it.
	Refused map[string]string `json:"refused,omitempty"`
	// TagDeleteUnsupported lists registries that cannot delete a tag on its
	// own; there, deleting the manifest removed its tags.
	TagDeleteUnsupported []string `json:"tagDeleteUnsupported,omitempty"`
}

// Err returns nil when everything planned was deleted; otherwise an error
// wrapping ErrDeletionRefused (a registry refuses deletion) and/or
// ErrIncomplete (other failures), naming each.
func (o *Outcome) Err() error {
	var errs []error
	for _, h := range sortedKeys(o.Refused) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrDeletionRefused, o.Refused[h]))
	}
	if len(o.Failed) > 0 {
		var parts []string
		for _, k := range sortedKeys(o.Failed) {
			parts = append(parts, k+": "+o.Failed[k])
		}
		errs = append(errs, fmt.Errorf("%w (%d): %s", ErrIncomplete, len(o.Failed), strings.Join(parts, "; ")))
	}
	return errors.Join(errs...)
}

// errTagUnsupported: the registry answered a tag deletion with "not
// supported"; the manifest's deletion removes the tag there.
var errTagUnsupported = errors.New("the registry does not delete tags on their own")

// deleter deletes through one client and remembers, per registry host,
// what it learnt: deletion refused, tags not deletable on their own.
type deleter struct {
	c     *registry.Client
	out   *Outcome
	noTag map[string]bool
	// packages deletes, for its host, through a registry's own API
	// (GitHub Packages for ghcr.io) instead of the registry API.
	packages     PackageDeleter
	packagesHost string
}

// PackageDeleter deletes an image manifest (and with it its tags) through
// a registry's own API: ghpackages.Client for ghcr.io.
type PackageDeleter interface {
	DeleteDigest(ctx context.Context, repository, digest string) error
}

// ApplyOption configures Apply.
type ApplyOption func(*deleter)

// WithPackageAPI deletes the images of registry host through p (a tag
// cannot be deleted on its own there: each image goes with all its tags).
func WithPackageAPI(host string, p PackageDeleter) ApplyOption {
	return func(d *deleter) { d.packages, d.packagesHost = p, host }
}

// Apply deletes what res plans to delete, image by image, in this order so
// that no image is ever left tagged without its signature:
//
//  1. the image's tags (nobody can pull it by name any more);
//  2. its signature, attestation and SBOM tags, then their manifests;
//  3. the image manifest by digest, then the platform manifests of an index
//     that nothing kept shares.
//
// On a registry that cannot delete a tag on its own (it answers 400/405),
// the manifest is deleted first instead, which removes its tags there, and
// the artifacts after it. Then orphaned artifacts are deleted. What is
// already gone counts as deleted. A failure skips the rest of that image
// (a still-tagged image is found again by the next run) and Apply goes on
// with the others; a registry that refuses deletion (405/UNSUPPORTED, or
// 401/403) gets a message saying what to change, and nothing more is tried
// on it. The error is Outcome.Err.
func Apply(ctx context.Context, c *registry.Client, res *Result, opts ...ApplyOption) (*Outcome, error) {
	if c == nil || res == nil {
		return nil, errors.New("retention: Apply needs a registry client and a plan")
	}
	d := &deleter{c: c, out: &Outcome{Failed: map[string]string{}, Refused: map[string]string{}}, noTag: map[string]bool{}}
	for _, o := range opts {
		o(d)
	}
	if d.packages != nil {
		d.noTag[d.packagesHost] = true
	}
	for _, repo := range res.Repositories {
		host := hostOf(repo.Name)
		for _, im := range repo.Delete() {
			if err := ctx.Err(); err != nil {
				return d.out, err
			}
			key := repo.Name + "@" + im.Digest
			if _, refused := d.out.Refused[host]; refused {
				d.out.Failed[key] = refusedText(host)
				continue
			}
			if err := d.image(ctx, repo.Name, im); err != nil {
				d.out.Failed[key] = failText(host, err)
			}
		}
		for _, a := range repo.Orphans {
			if err := ctx.Err(); err != nil {
				return d.out, err
			}
			key := repo.Name + ":" + a.Tag
			if _, refused := d.out.Refused[host]; refused {
				d.out.Failed[key] = refusedText(host)
				continue
			}
			if err := d.artifact(ctx, repo.Name, a); err != nil {
				d.out.Failed[key] = failText(host, err)
			}
		}
	}
	for h := range d.noTag {
		d.out.TagDeleteUnsupported = append(d.out.TagDeleteUnsupported, h)
	}
	sort.Strings(d.out.TagDeleteUnsupported)
	return d.out, d.out.Err()
}

// refusedText is the failure of everything a refusing registry holds; the
// refusal itself (Outcome.Refused) says what to do.
func refusedText(host string) string {
	return "not deleted: registry " + host + " refuses deletion"
}

func failText(host string, err error) string {
	if errors.Is(err, ErrDeletionRefused) {
		return refusedText(host)
	}
	return err.Error()
}

func (d *deleter) image(ctx context.Context, repo string, im Image) error {
	host := hostOf(repo)
	for _, t := range im.Tags {
		if d.noTag[host] {
			break
		}
		err := d.delete(ctx, repo+":"+t, true)
		if errors.Is(err, errTagUnsupported) {
			break
		}
		if err != nil {
			return err
		}
	}
	manifest := repo + "@" + im.Digest
	manifestDone := false
	if d.noTag[host] {
		if err := d.delete(ctx, manifest, false); err != nil {
			return err
		}
		manifestDone = true
	}
	var failed []string
	for _, a := range im.Artifacts {
		if err := d.artifact(ctx, repo, a); err != nil {
			if errors.Is(err, ErrDeletionRefused) {
				return err
			}
			// The image goes anyway: its artifact is an orphan that the
			// next run deletes.
			failed = append(failed, err.Error())
		}
	}
	if !manifestDone {
		if err := d.delete(ctx, manifest, false); err != nil {
			return err
		}
	}
	for _, child := range im.DeleteChildren {
		if err := d.delete(ctx, repo+"@"+child, false); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// artifact deletes a signature, attestation or SBOM tag, then its manifest.
func (d *deleter) artifact(ctx context.Context, repo string, a Artifact) error {
	if !d.noTag[hostOf(repo)] {
		if err := d.delete(ctx, repo+":"+a.Tag, true); err != nil && !errors.Is(err, errTagUnsupported) {
			return err
		}
	}
	if a.Digest == "" {
		return nil
	}
	return d.delete(ctx, repo+"@"+a.Digest, false)
}

// delete deletes one reference. Gone already is success. A refusal is
// recorded for the registry and returned wrapping ErrDeletionRefused; a
// tag deletion answered "unsupported" returns errTagUnsupported.
func (d *deleter) delete(ctx context.Context, ref string, isTag bool) error {
	host := hostOf(ref)
	if msg, refused := d.out.Refused[host]; refused {
		return fmt.Errorf("%w: %s", ErrDeletionRefused, msg)
	}
	if d.packages != nil && host == d.packagesHost {
		return d.deletePackage(ctx, ref, isTag)
	}
	err := d.c.Delete(ctx, ref)
	switch {
	case err == nil:
		d.out.Deleted = append(d.out.Deleted, ref)
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrForbidden):
		msg := fmt.Sprintf("registry %s refused to delete %s (%s): the credentials may read and push but not delete; "+
			"give them delete rights (GitHub packages: a token with delete:packages, or the package's admin role; "+
			"other registries: a robot account or token allowed to delete) and run prune again", host, ref, statusText(err))
		d.out.Refused[host] = msg
		return fmt.Errorf("%w: %s", ErrDeletionRefused, msg)
	case unsupported(err, isTag):
		if isTag {
			d.noTag[host] = true
			return errTagUnsupported
		}
		msg := fmt.Sprintf("registry %s does not allow deleting images (%s when deleting %s): %s; "+
			"nothing more was deleted there", host, statusText(err), ref, enableHint(host))
		d.out.Refused[host] = msg
		return fmt.Errorf("%w: %s", ErrDeletionRefused, msg)
	}
	return fmt.Errorf("deleting %s: %w", ref, err)
}

// deletePackage deletes one reference through the package API: a manifest
// by digest, with its tags; a tag alone cannot be.
func (d *deleter) deletePackage(ctx context.Context, ref string, isTag bool) error {
	repo, digest, ok := strings.Cut(ref, "@")
	if isTag || !ok {
		return errTagUnsupported
	}
	err := d.packages.DeleteDigest(ctx, repo, digest)
	switch {
	case err == nil:
		d.out.Deleted = append(d.out.Deleted, ref)
		return nil
	case errors.Is(err, ghpackages.ErrNotFound):
		return nil
	case errors.Is(err, ghpackages.ErrForbidden):
		msg := fmt.Sprintf("GitHub refused to delete %s through the packages API (%v): the token needs delete:packages "+
			"(or the package's admin role); run prune again with such a token", ref, err)
		d.out.Refused[hostOf(ref)] = msg
		return fmt.Errorf("%w: %s", ErrDeletionRefused, msg)
	}
	return fmt.Errorf("deleting %s: %w", ref, err)
}

// enableHint says how to make host accept deletions.
func enableHint(host string) string {
	switch host {
	case "ghcr.io":
		return "GitHub's registry does not delete through the registry API at all; prune deletes through GitHub's " +
			"packages REST API when given the registry password (a token with delete:packages) for ghcr.io"
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "Docker Hub does not delete through the registry API; delete tags with Docker Hub's own API instead"
	}
	return "enable deletion (the distribution registry: REGISTRY_STORAGE_DELETE_ENABLED=true, i.e. storage.delete.enabled: true; " +
		"other registries: allow deletes, or lift tag immutability, for this repository) and run prune again"
}

// unsupported reports whether a registry answered a deletion with "not
// supported here": 405 Method Not Allowed, an UNSUPPORTED error code, or,
// for a tag, 400 (registries that delete only by digest reject a tag there).
func unsupported(err error, isTag bool) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusMethodNotAllowed || isTag && terr.StatusCode == http.StatusBadRequest {
		return true
	}
	for _, e := range terr.Errors {
		if e.Code == transport.UnsupportedErrorCode {
			return true
		}
	}
	return false
}

// statusText renders the HTTP status and error codes of a registry error.
func statusText(err error) string {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return "refused"
	}
	s := fmt.Sprintf("HTTP %d", terr.StatusCode)
	for _, e := range terr.Errors {
		s += " " + string(e.Code)
	}
	return s
}

// hostOf returns the registry host of a repository or reference.
func hostOf(ref string) string {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i]
	}
	return ref
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
