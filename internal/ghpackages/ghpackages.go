// Package ghpackages deletes container image versions from GitHub Packages
// (ghcr.io) through GitHub's REST API: ghcr.io, like Docker Hub, does not
// delete through the registry API. A package version is one manifest
// (named by its digest) with its tags; deleting it deletes them all.
//
// Endpoints used (docs.github.com/rest/packages/packages):
//
//	GET    /orgs/{org}/packages/container/{name}/versions      (or /users/{user}/…)
//	DELETE /orgs/{org}/packages/container/{name}/versions/{id} (or /user/… for one's own)
package ghpackages

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/slipwayci/slipway/internal/forge"
)

// DefaultBaseURL is github.com's API; GitHub Enterprise Server's is
// https://<host>/api/v3.
const DefaultBaseURL = forge.DefaultBaseURL

// Errors a deletion can end in.
var (
	// ErrNotFound: no such package or version (already gone counts).
	ErrNotFound = errors.New("package version not found")
	// ErrForbidden: the token may not delete (it needs delete:packages,
	// or the package's admin role).
	ErrForbidden = errors.New("the token may not delete package versions")
)

// Client deletes versions of ghcr.io packages.
type Client struct {
	api *forge.API

	mu sync.Mutex
	// owners caches whether an owner is an organization ("orgs") or a
	// user ("users").
	owners map[string]string
	// versions caches each package's digest → version id.
	versions map[string]map[string]int64
}

// New returns a client for the API at base ("" is github.com's),
// authenticating with token (sent as a bearer token, never logged).
func New(base, token string, opts ...forge.Option) (*Client, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	if token == "" {
		return nil, errors.New("deleting from ghcr.io needs a GitHub token (the registry password) with delete:packages")
	}
	api, err := forge.NewAPI(forge.GitHub, token, append([]forge.Option{forge.WithBaseURL(base)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{api: api, owners: map[string]string{}, versions: map[string]map[string]int64{}}, nil
}

// Package splits a ghcr.io repository (ghcr.io/acme/shop/orders) into its
// owner (acme) and package name (shop/orders).
func Package(repository string) (owner, name string, err error) {
	rest := repository
	if i := strings.IndexByte(rest, '/'); i >= 0 && strings.ContainsAny(rest[:i], ".:") {
		rest = rest[i+1:]
	}
	owner, name, ok := strings.Cut(rest, "/")
	if !ok || owner == "" || name == "" {
		return "", "", fmt.Errorf("%q is not a ghcr.io repository of the form ghcr.io/<owner>/<package>", repository)
	}
	return owner, name, nil
}

// DeleteDigest deletes the package version of the repository whose
// manifest is digest (and with it all its tags).
func (c *Client) DeleteDigest(ctx context.Context, repository, digest string) error {
	owner, name, err := Package(repository)
	if err != nil {
		return err
	}
	kind, id, err := c.version(ctx, owner, name, digest)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/%s/%s/packages/container/%s/versions/%d", kind, url.PathEscape(owner), url.PathEscape(name), id)
	if kind == "users" {
		// A user's own packages are deleted through /user/…
		path = fmt.Sprintf("/user/packages/container/%s/versions/%d", url.PathEscape(name), id)
	}
	if err := c.do(ctx, http.MethodDelete, path, nil); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.versions[owner+"/"+name], digest)
	c.mu.Unlock()
	return nil
}

// version finds the version id of digest, listing the package's versions
// once (owner as an organization, else as a user).
func (c *Client) version(ctx context.Context, owner, name, digest string) (string, int64, error) {
	key := owner + "/" + name
	c.mu.Lock()
	kind, ids := c.owners[owner], c.versions[key]
	c.mu.Unlock()
	if ids == nil {
		var err error
		kind, ids, err = c.list(ctx, owner, name, kind)
		if err != nil {
			return "", 0, err
		}
		c.mu.Lock()
		c.owners[owner], c.versions[key] = kind, ids
		c.mu.Unlock()
	}
	id, ok := ids[digest]
	if !ok {
		return kind, 0, fmt.Errorf("ghcr.io/%s/%s@%s: %w", owner, name, digest, ErrNotFound)
	}
	return kind, id, nil
}

// list reads every version of a package: digest → id.
func (c *Client) list(ctx context.Context, owner, name, kind string) (string, map[string]int64, error) {
	kinds := []string{"orgs", "users"}
	if kind != "" {
		kinds = []string{kind}
	}
	var last error
	for _, k := range kinds {
		ids := map[string]int64{}
		for page := 1; page <= 100; page++ {
			var versions []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			}
			q := url.Values{"per_page": {"100"}, "page": {strconv.Itoa(page)}, "state": {"active"}}
			path := fmt.Sprintf("/%s/%s/packages/container/%s/versions?%s", k, url.PathEscape(owner), url.PathEscape(name), q.Encode())
			if err := c.do(ctx, http.MethodGet, path, &versions); err != nil {
				last = err
				break
			}
			for _, v := range versions {
				ids[v.Name] = v.ID
			}
			if len(versions) < 100 {
				return k, ids, nil
			}
		}
		if last == nil {
			return k, ids, nil
		}
		if !errors.Is(last, ErrNotFound) {
			return "", nil, last
		}
	}
	return "", nil, last
}

// do sends one request; 404 is ErrNotFound, 401/403 ErrForbidden.
func (c *Client) do(ctx context.Context, method, path string, out any) error {
	err := c.api.Do(ctx, method, path, nil, out, true)
	var ae *forge.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, forge.ErrUnauthorized):
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return err
}
