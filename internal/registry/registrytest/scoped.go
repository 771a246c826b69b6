package registrytest

import (
	"net/http"
	"strings"
	"sync"
)

// RepoScoped wraps a registry so that blobs are visible only in the
// repositories they were uploaded to or mounted into, as in the
// distribution registry and the hosted registries. go-containerregistry's
// registry keeps one global blob store, where every blob is visible from
// every repository; without this wrapper a copy within one registry would
// never exercise cross-repository mounting.
//
// A POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other> succeeds
// (201 Created, nothing uploaded) when the blob is linked to <other>;
// otherwise the mount parameters are dropped and an ordinary upload starts.
func RepoScoped(next http.Handler) http.Handler {
	return &scoped{next: next, links: map[string]map[string]bool{}}
}

type scoped struct {
	next  http.Handler
	mu    sync.Mutex
	links map[string]map[string]bool // repo -> digest -> linked
}

func (s *scoped) linked(repo, digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[repo][digest]
}

func (s *scoped) link(repo, digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links[repo] == nil {
		s.links[repo] = map[string]bool{}
	}
	s.links[repo][digest] = true
}

func (s *scoped) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, rest, ok := splitBlobPath(r.URL.Path)
	if !ok {
		s.next.ServeHTTP(w, r)
		return
	}
	switch {
	case strings.HasPrefix(rest, "uploads"):
		q := r.URL.Query()
		if r.Method == http.MethodPost && q.Get("mount") != "" {
			d, from := q.Get("mount"), q.Get("from")
			if from != "" && s.linked(from, d) {
				s.link(repo, d)
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
				w.Header().Set("Docker-Content-Digest", d)
				w.WriteHeader(http.StatusCreated)
				return
			}
			q.Del("mount")
			q.Del("from")
			q.Del("origin")
			r.URL.RawQuery = q.Encode()
		}
		digest := q.Get("digest")
		rec := &statusRecorder{ResponseWriter: w}
		s.next.ServeHTTP(rec, r)
		if digest != "" && rec.status == http.StatusCreated {
			s.link(repo, digest)
		}
	default:
		// GET, HEAD or DELETE of /v2/<repo>/blobs/<digest>.
		if !s.linked(repo, rest) {
			writeRegistryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to repository")
			return
		}
		s.next.ServeHTTP(w, r)
	}
}
