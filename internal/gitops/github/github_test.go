package github

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
			if "o:"+p["head"].(string) == r.URL.Query().Get("head") {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && r.URL.Path == "/api/v3/repos/o/r/pulls":
		p := map[string]any{"number": len(s.prs) + 1, "html_url": "https://ghe/pr", "head": in["head"], "title": in["title"], "state": "open"}
		s.prs = append(s.prs, p)
		if s.race {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"message":"Validation Failed","errors":[{"message":"A pull request already exists for o:b."}]}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	case r.Method == "PATCH" && r.URL.Path == "/api/v3/repos/o/r/pulls/1":
		s.prs[0]["title"] = in["title"]
		json.NewEncoder(w).Encode(s.prs[0])
	default:
		http.NotFound(w, r)
	}
}

func newClient(t *testing.T, s *server, token string) *Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New("o/r", token, WithBaseURL(srv.URL+"/api/v3/"), WithRetries(3, 0))
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
		if _, err := New(r, "t"); !errors.Is(err, ErrInvalidRepository) {
			t.Errorf("New(%q) = %v", r, err)
		}
	}
	if _, err := New("o/r", "t", WithBaseURL("ftp://x")); err == nil {
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
