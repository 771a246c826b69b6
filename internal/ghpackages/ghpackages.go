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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is github.com's API; GitHub Enterprise Server's is
// https://<host>/api/v3.
const DefaultBaseURL = "https://api.github.com"

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
	base  string
	token string
	http  *http.Client

	mu sync.Mutex
	// owners caches whether an owner is an organization ("orgs") or a
	// user ("users").
	owners map[string]string
	// versions caches each package's digest → version id.
	versions map[string]map[string]int64
}

// New returns a client for the API at base ("" is github.com's),
// authenticating with token (sent as a bearer token, never logged).
func New(base, token string) (*Client, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("GitHub API base URL %q: want http(s)://host[/path]", base)
	}
	if token == "" {
		return nil, errors.New("deleting from ghcr.io needs a GitHub token (the registry password) with delete:packages")
	}
	return &Client{base: u.String(), token: token, http: &http.Client{Timeout: 60 * time.Second},
		owners: map[string]string{}, versions: map[string]map[string]int64{}}, nil
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

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	display, _, _ := strings.Cut(path, "?")
	var last error
	for try := 1; try <= 3; try++ {
		if try > 1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(try) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		req.Header.Set("User-Agent", "slipway")
		resp, err := c.http.Do(req)
		if err != nil {
			last = fmt.Errorf("GitHub API %s %s: %w", method, display, err)
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &msg)
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("GitHub API %s %s: %w (%s)", method, display, ErrNotFound, msg.Message)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("GitHub API %s %s: HTTP %d: %s: %w", method, display, resp.StatusCode, msg.Message, ErrForbidden)
		case resp.StatusCode >= 500:
			last = fmt.Errorf("GitHub API %s %s: HTTP %d: %s", method, display, resp.StatusCode, msg.Message)
			continue
		case resp.StatusCode >= 300:
			return fmt.Errorf("GitHub API %s %s: HTTP %d: %s", method, display, resp.StatusCode, msg.Message)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("GitHub API %s %s: decoding the answer: %w", method, display, err)
			}
		}
		return nil
	}
	return last
}
