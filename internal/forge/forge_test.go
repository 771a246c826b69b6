package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// server is a minimal pull-request API; fail5xx makes the first n list
// calls answer 502.
type server struct {
	mu      sync.Mutex
	prs     []map[string]any
	calls   []string
	fail5xx int
	race    bool // POST answers 422 after creating the PR behind our back
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.String())
	if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-GitHub-Api-Version") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Bad credentials"}`))
		return
	}
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v3/repos/o/r/pulls":
		if s.fail5xx > 0 {
			s.fail5xx--
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		out := []map[string]any{}
		for _, p := range s.prs {
			if "o:"+p["head"].(map[string]any)["ref"].(string) == r.URL.Query().Get("head") {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && r.URL.Path == "/api/v3/repos/o/r/pulls":
		p := map[string]any{"number": len(s.prs) + 1, "html_url": "https://ghe/pr", "head": map[string]any{"ref": in["head"]}, "title": in["title"], "state": "open"}
		s.prs = append(s.prs, p)
		if s.race {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"message":"Validation Failed","errors":[{"message":"A pull request already exists for o:b."}]}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	case r.Method == "PATCH" && r.URL.Path == "/api/v3/repos/o/r/pulls/1":
		if st, ok := in["state"]; ok {
			s.prs[0]["state"] = st
		} else {
			s.prs[0]["title"] = in["title"]
		}
		json.NewEncoder(w).Encode(s.prs[0])
	default:
		http.NotFound(w, r)
	}
}

func newClient(t *testing.T, s *server, token string) *Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(GitHub, "o/r", token, WithBaseURL(srv.URL+"/api/v3/"), WithRetries(3, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnsurePullRequest(t *testing.T) {
	s := &server{fail5xx: 2}
	c := newClient(t, s, "tok")
	pr, err := c.EnsurePullRequest(context.Background(), NewPullRequest{Head: "b", Base: "main", Title: "one"})
	if err != nil || !pr.Created || pr.Number != 1 || pr.URL != "https://ghe/pr" {
		t.Fatalf("create = %+v, %v", pr, err)
	}
	pr, err = c.EnsurePullRequest(context.Background(), NewPullRequest{Head: "b", Base: "main", Title: "two"})
	if err != nil || pr.Created || pr.Number != 1 || pr.Title != "two" {
		t.Fatalf("update = %+v, %v", pr, err)
	}
	if len(s.prs) != 1 {
		t.Fatalf("%d PRs", len(s.prs))
	}
	if !strings.Contains(s.calls[0], "head=o%3Ab") || !strings.Contains(s.calls[0], "state=open") {
		t.Fatalf("list call = %s", s.calls[0])
	}
}

func TestEnsurePullRequestRace(t *testing.T) {
	s := &server{race: true}
	c := newClient(t, s, "tok")
	pr, err := c.EnsurePullRequest(context.Background(), NewPullRequest{Head: "b", Base: "main", Title: "t"})
	if err != nil || pr.Created || pr.Number != 1 {
		t.Fatalf("pr = %+v, %v", pr, err)
	}
}

func TestUnauthorized(t *testing.T) {
	c := newClient(t, &server{}, "secret-value")
	_, err := c.EnsurePullRequest(context.Background(), NewPullRequest{Head: "b", Base: "main"})
	var ae *APIError
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "/repos/o/r/pulls") || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, r := range []string{"", "o", "o/r/x", "o r/x"} {
		if _, err := New(GitHub, r, "t"); !errors.Is(err, ErrInvalidRepository) {
			t.Errorf("New(%q) = %v", r, err)
		}
	}
	if _, err := New(GitHub, "o/r", "t", WithBaseURL("ftp://x")); err == nil {
		t.Error("ftp base URL accepted")
	}
}

func TestRepositoryFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/acme/gitops.git":        "acme/gitops",
		"https://ghe.example.com/acme/gitops":       "acme/gitops",
		"git@github.com:acme/gitops.git":            "acme/gitops",
		"ssh://git@github.com/acme/gitops.git":      "acme/gitops",
		"https://x-access-token@github.com/a/b.git": "a/b",
	} {
		got, err := RepositoryFromURL(in)
		if err != nil || got != want {
			t.Errorf("RepositoryFromURL(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := RepositoryFromURL("gitops"); err == nil {
		t.Error("a path without owner accepted")
	}
}

// giteaServer speaks the part of Gitea's API slipway uses: open pull
// requests listed page by page (no head filter), 409 for a second pull
// request of a head, "token" authorization.
type giteaServer struct {
	mu    sync.Mutex
	prs   []map[string]any
	calls []string
}

func (s *giteaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.String())
	if r.Header.Get("Authorization") != "token tok" {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"token is required"}`))
		return
	}
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	const prefix = "/api/v1/repos/o/r/pulls"
	switch {
	case r.Method == "GET" && r.URL.Path == prefix:
		out := []map[string]any{}
		for _, p := range s.prs {
			if p["state"] == r.URL.Query().Get("state") {
				out = append(out, p)
			}
		}
		// One per page, to exercise paging.
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page >= 1 && page <= len(out) {
			out = out[page-1 : page]
		} else {
			out = nil
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && r.URL.Path == prefix:
		for _, p := range s.prs {
			if p["head"].(map[string]any)["ref"] == in["head"] && p["state"] == "open" {
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(`{"message":"pull request already exists for these targets"}`))
				return
			}
		}
		p := map[string]any{"number": len(s.prs) + 1, "html_url": fmt.Sprintf("https://gitea/o/r/pulls/%d", len(s.prs)+1), "head": map[string]any{"ref": in["head"]}, "title": in["title"], "state": "open"}
		s.prs = append(s.prs, p)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, prefix+"/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, prefix+"/"))
		p := s.prs[n-1]
		for _, k := range []string{"title", "state"} {
			if v, ok := in[k]; ok {
				p[k] = v
			}
		}
		json.NewEncoder(w).Encode(p)
	default:
		http.NotFound(w, r)
	}
}

func TestGiteaPullRequests(t *testing.T) {
	s := &giteaServer{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(Gitea, "o/r", "tok", WithBaseURL(srv.URL+"/api/v1"), WithRetries(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Another environment's pull request is open first: finding ours
	// needs the second page.
	if _, err := c.EnsurePullRequest(ctx, NewPullRequest{Head: "slipway/dev", Base: "main", Title: "dev"}); err != nil {
		t.Fatal(err)
	}
	pr, err := c.EnsurePullRequest(ctx, NewPullRequest{Head: "slipway/prod", Base: "main", Title: "one"})
	if err != nil || !pr.Created || pr.Number != 2 || pr.Head.Ref != "slipway/prod" {
		t.Fatalf("create = %+v, %v", pr, err)
	}
	pr, err = c.EnsurePullRequest(ctx, NewPullRequest{Head: "slipway/prod", Base: "main", Title: "two"})
	if err != nil || pr.Created || pr.Number != 2 || pr.Title != "two" {
		t.Fatalf("update = %+v, %v", pr, err)
	}
	closed, err := c.ClosePullRequest(ctx, "slipway/prod")
	if err != nil || closed == nil || closed.State != "closed" || closed.Number != 2 {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if again, err := c.ClosePullRequest(ctx, "slipway/prod"); err != nil || again != nil {
		t.Fatalf("closing a closed one = %+v, %v", again, err)
	}
	if len(s.prs) != 2 {
		t.Fatalf("%d pull requests", len(s.prs))
	}
	bad, _ := New(Gitea, "o/r", "nope", WithBaseURL(srv.URL+"/api/v1"), WithRetries(1, 0))
	_, err = bad.EnsurePullRequest(ctx, NewPullRequest{Head: "x", Base: "main"})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "Gitea API GET /repos/o/r/pulls") {
		t.Fatalf("unauthorized: %v", err)
	}
}

func TestGitHubClose(t *testing.T) {
	s := &server{}
	c := newClient(t, s, "tok")
	if _, err := c.EnsurePullRequest(context.Background(), NewPullRequest{Head: "b", Base: "main", Title: "t"}); err != nil {
		t.Fatal(err)
	}
	closed, err := c.ClosePullRequest(context.Background(), "b")
	if err != nil || closed == nil || closed.State != "closed" {
		t.Fatalf("close = %+v, %v", closed, err)
	}
}

func TestKindsAndAPIBase(t *testing.T) {
	for in, want := range map[string]Kind{"": GitHub, "GitHub": GitHub, "gitea": Gitea, "forgejo": Gitea} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("gitlab"); err == nil {
		t.Error("gitlab accepted")
	}
	for in, want := range map[string]string{
		"https://git.example.com/acme/gitops.git":   "https://git.example.com/api/v1",
		"http://127.0.0.1:3000/acme/gitops.git":     "http://127.0.0.1:3000/api/v1",
		"git@git.example.com:acme/gitops.git":       "https://git.example.com/api/v1",
		"ssh://git@git.example.com:2222/acme/g.git": "https://git.example.com/api/v1",
	} {
		if got, err := APIBase(Gitea, in); err != nil || got != want {
			t.Errorf("APIBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := APIBase(GitHub, "git@github.com:a/b.git"); got != DefaultBaseURL {
		t.Errorf("GitHub base = %q", got)
	}
}
