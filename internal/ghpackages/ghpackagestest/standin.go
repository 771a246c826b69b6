// Package ghpackagestest is a stand-in for the part of GitHub's packages
// REST API that slipway uses, held to its documented contract
// (docs.github.com/rest/packages/packages: "List package versions for a
// package owned by an organization / a user", "Delete package version for
// an organization / the authenticated user"). Requests outside it are
// refused as GitHub would and recorded as violations.
package ghpackagestest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Version is one package version: a manifest digest and its tags.
type Version struct {
	ID     int64
	Digest string
	Tags   []string
}

// StandIn serves the API for one owner, an organization or a user.
type StandIn struct {
	Owner string
	// Org: the owner is an organization (else a user, the token's own).
	Org   bool
	Token string
	// OnDelete runs when a version is deleted (to delete the manifest from
	// the registry behind it); an error answers 500.
	OnDelete func(pkg string, v Version) error

	mu         sync.Mutex
	next       int64
	packages   map[string][]Version
	calls      []string
	violations []string
}

// Add records a version of a package (name as GitHub shows it: shop/orders).
func (s *StandIn) Add(pkg, digest string, tags ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packages == nil {
		s.packages = map[string][]Version{}
	}
	s.next++
	s.packages[pkg] = append(s.packages[pkg], Version{ID: 1000 + s.next, Digest: digest, Tags: tags})
}

// Versions are a package's remaining versions.
func (s *StandIn) Versions(pkg string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.packages[pkg])
}

// Calls and Violations are what was asked, and what broke the contract.
func (s *StandIn) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Violations are the requests outside the documented contract.
func (s *StandIn) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

var (
	orgVersions  = regexp.MustCompile(`^/orgs/([^/]+)/packages/container/([^/]+)/versions$`)
	orgVersion   = regexp.MustCompile(`^/orgs/([^/]+)/packages/container/([^/]+)/versions/(\d+)$`)
	userVersions = regexp.MustCompile(`^/users/([^/]+)/packages/container/([^/]+)/versions$`)
	ownVersion   = regexp.MustCompile(`^/user/packages/container/([^/]+)/versions/(\d+)$`)
	listParams   = []string{"page", "per_page", "state"}
)

func (s *StandIn) fail(w http.ResponseWriter, status int, violation bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if violation {
		s.violations = append(s.violations, msg)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		s.fail(w, http.StatusUnauthorized, false, "Bad credentials")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		s.fail(w, http.StatusBadRequest, true, "headers: Accept %q, X-GitHub-Api-Version %q", r.Header.Get("Accept"), r.Header.Get("X-GitHub-Api-Version"))
		return
	}
	// The package name is one path segment: shop/orders is shop%2Forders.
	path := r.URL.EscapedPath()
	name := func(escaped string) string { n, _ := url.PathUnescape(escaped); return n }
	switch {
	case r.Method == http.MethodGet && (orgVersions.MatchString(path) || userVersions.MatchString(path)):
		for k := range r.URL.Query() {
			if !slices.Contains(listParams, k) {
				s.fail(w, http.StatusBadRequest, true, "list: unknown parameter %q", k)
				return
			}
		}
		m, org := orgVersions.FindStringSubmatch(path), true
		if m == nil {
			m, org = userVersions.FindStringSubmatch(path), false
		}
		if m[1] != s.Owner || org != s.Org {
			s.fail(w, http.StatusNotFound, false, "Not Found")
			return
		}
		vs, ok := s.packages[name(m[2])]
		if !ok {
			s.fail(w, http.StatusNotFound, false, "Package not found.")
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		if page < 1 {
			page = 1
		}
		if per < 1 || per > 100 {
			per = 30
		}
		out := []map[string]any{}
		for i := (page - 1) * per; i < len(vs) && i < page*per; i++ {
			out = append(out, map[string]any{"id": vs[i].ID, "name": vs[i].Digest,
				"metadata": map[string]any{"package_type": "container", "container": map[string]any{"tags": vs[i].Tags}}})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodDelete && (orgVersion.MatchString(path) || ownVersion.MatchString(path)):
		var pkg, id string
		if m := orgVersion.FindStringSubmatch(path); m != nil {
			if !s.Org || m[1] != s.Owner {
				s.fail(w, http.StatusNotFound, false, "Not Found")
				return
			}
			pkg, id = name(m[2]), m[3]
		} else {
			if s.Org {
				// /user/… deletes the token owner's own packages only.
				s.fail(w, http.StatusNotFound, false, "Package not found.")
				return
			}
			m := ownVersion.FindStringSubmatch(path)
			pkg, id = name(m[1]), m[2]
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		vs := s.packages[pkg]
		i := slices.IndexFunc(vs, func(v Version) bool { return v.ID == n })
		if i < 0 {
			s.fail(w, http.StatusNotFound, false, "Package version not found.")
			return
		}
		if s.OnDelete != nil {
			if err := s.OnDelete(pkg, vs[i]); err != nil {
				s.fail(w, http.StatusInternalServerError, false, "%v", err)
				return
			}
		}
		s.packages[pkg] = slices.Delete(vs, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	default:
		s.fail(w, http.StatusNotFound, true, "not an endpoint slipway may use: %s %s", r.Method, path)
	}
}

// PackageOf is the package name of a repository under owner's namespace
// (host/owner/shop/orders → shop/orders).
func PackageOf(repository, owner string) string {
	_, rest, _ := strings.Cut(repository, "/"+owner+"/")
	return rest
}
