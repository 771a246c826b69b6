package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// githubStandIn answers the three pull-request endpoints slipway uses, as
// GitHub's REST API documents them (docs.github.com/rest/pulls/pulls:
// "List pull requests", "Create a pull request", "Update a pull request"),
// and records every request. Anything outside that contract (another
// endpoint, a missing header, an unknown parameter or field, a missing
// required field) is answered as GitHub would refuse it and recorded as a
// violation.
type githubStandIn struct {
	owner, repo, token string
	mu                 sync.Mutex
	calls              []string
	violations         []string
	prs                []map[string]any
}

var (
	listParams   = []string{"state", "head", "base", "sort", "direction", "per_page", "page"}
	createFields = []string{"title", "head", "head_repo", "base", "body", "maintainer_can_modify", "draft", "issue"}
	updateFields = []string{"title", "body", "state", "base", "maintainer_can_modify"}
)

func (g *githubStandIn) refuse(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	g.violations = append(g.violations, msg)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (g *githubStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		g.refuse(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || r.Header.Get("User-Agent") == "" {
		g.refuse(w, http.StatusBadRequest, "headers: Accept %q, X-GitHub-Api-Version %q, User-Agent %q", r.Header.Get("Accept"), r.Header.Get("X-GitHub-Api-Version"), r.Header.Get("User-Agent"))
		return
	}
	pulls := "/repos/" + g.owner + "/" + g.repo + "/pulls"
	one := regexp.MustCompile("^" + regexp.QuoteMeta(pulls) + `/(\d+)$`)
	var in map[string]any
	if r.Method != http.MethodGet {
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
			g.refuse(w, http.StatusBadRequest, "%s %s: the body must be JSON", r.Method, r.URL.Path)
			return
		}
	}
	unknown := func(allowed []string) string {
		for k := range in {
			if !slices.Contains(allowed, k) {
				return k
			}
		}
		return ""
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == pulls:
		for k := range r.URL.Query() {
			if !slices.Contains(listParams, k) {
				g.refuse(w, http.StatusBadRequest, "list: unknown parameter %q", k)
				return
			}
		}
		// head is documented as "user:ref-name".
		head, state := r.URL.Query().Get("head"), r.URL.Query().Get("state")
		if head != "" && !strings.HasPrefix(head, g.owner+":") {
			g.refuse(w, http.StatusUnprocessableEntity, "list: head %q is not owner:branch", head)
			return
		}
		out := []map[string]any{}
		for _, p := range g.prs {
			if (head == "" || g.owner+":"+p["head"].(map[string]any)["ref"].(string) == head) && (state == "" || state == "all" || p["state"] == state) {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && r.URL.Path == pulls:
		if k := unknown(createFields); k != "" {
			g.refuse(w, http.StatusUnprocessableEntity, "create: unknown field %q", k)
			return
		}
		head, _ := in["head"].(string)
		base, _ := in["base"].(string)
		if head == "" || base == "" || in["title"] == nil {
			g.refuse(w, http.StatusUnprocessableEntity, "create: title, head and base are required")
			return
		}
		for _, p := range g.prs {
			if p["state"] == "open" && p["head"].(map[string]any)["ref"] == head {
				w.WriteHeader(http.StatusUnprocessableEntity)
				json.NewEncoder(w).Encode(map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"message": "A pull request already exists for " + g.owner + ":" + head + "."}}})
				return
			}
		}
		n := len(g.prs) + 1
		p := map[string]any{"number": n, "html_url": fmt.Sprintf("https://github.example/%s/%s/pull/%d", g.owner, g.repo, n), "state": "open",
			"title": in["title"], "body": in["body"], "head": map[string]any{"ref": head}, "base": map[string]any{"ref": base}}
		g.prs = append(g.prs, p)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	case r.Method == http.MethodPatch && one.MatchString(r.URL.Path):
		if k := unknown(updateFields); k != "" {
			g.refuse(w, http.StatusUnprocessableEntity, "update: unknown field %q", k)
			return
		}
		n, _ := strconv.Atoi(one.FindStringSubmatch(r.URL.Path)[1])
		if n < 1 || n > len(g.prs) {
			g.refuse(w, http.StatusNotFound, "update: no pull request %d", n)
			return
		}
		p := g.prs[n-1]
		for _, k := range []string{"title", "body", "state"} {
			if v, ok := in[k]; ok {
				p[k] = v
			}
		}
		if st, ok := in["state"]; ok && st != "open" && st != "closed" {
			g.refuse(w, http.StatusUnprocessableEntity, "update: state %q", st)
			return
		}
		if b, ok := in["base"].(string); ok {
			p["base"] = map[string]any{"ref": b}
		}
		json.NewEncoder(w).Encode(p)
	default:
		g.refuse(w, http.StatusNotFound, "not an endpoint slipway may use: %s %s", r.Method, r.URL.Path)
	}
}

func (g *githubStandIn) state() (prs []map[string]any, calls, violations []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, _ := json.Marshal(g.prs)
	json.Unmarshal(b, &prs)
	return prs, slices.Clone(g.calls), slices.Clone(g.violations)
}

// TestModulePullRequestsOnGitHub runs ci through the real engine with dev
// in pull-request mode, against a GitOps repository served by git
// http-backend and a GitHub API stand-in that holds slipway to the
// documented contract. The first run opens dev's one pull request from
// slipway/dev; a run after a change replaces the branch's content and
// updates that pull request (no second one); once main holds the images
// (merged), the next run closes it and deletes the branch. main is never
// written by slipway.
func TestModulePullRequestsOnGitHub(t *testing.T) {
	ip := bridgeAddr(t)
	const token = "gh-e2e-token-do-not-leak"
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
	r := newSlipwayRun(t)
	git := newGitServerAt(t, ip, token, filepath.Join(r.fixture, "deploy"), "acme/gitops.git")
	gh := &githubStandIn{owner: "acme", repo: "gitops", token: token}
	api := "http://" + serveOn(t, ip, gh)
	r.edit("slipway.yaml", func(s string) string {
		s = strings.Replace(s, `  repo: ""`, fmt.Sprintf("  repo: %q\n  githubAPI: %q", git.url, api), 1)
		return strings.Replace(s, "    autoDeploy: true          # `ci` deploys every green build here\n",
			"    autoDeploy: true          # `ci` deploys every green build here\n    mode: pull-request\n", 1)
	})
	r.commit("dev deploys through pull requests on GitHub")
	r.moduleArgs = []string{"--gitops-token", "env://SLIPWAY_E2E_GITOPS_TOKEN", "--source-url", "https://github.example/acme/shop"}
	main := git.commits(t)

	r.mustCall("ci")
	rep := r.lastReport()
	if len(rep.Deployments) != 1 || rep.Deployments[0].PullRequest != "https://github.example/acme/gitops/pull/1" || rep.Deployments[0].Branch != "slipway/dev" || rep.Deployments[0].PullRequestState != "open" {
		t.Fatalf("first run's deployments: %+v", rep.Deployments)
	}
	prs, _, _ := gh.state()
	orders := byName(rep)["orders"].Digest
	if len(prs) != 1 || prs[0]["base"].(map[string]any)["ref"] != "main" || !strings.Contains(prs[0]["body"].(string), orders) ||
		!strings.Contains(prs[0]["body"].(string), "](https://github.example/acme/shop/commit/"+rep.Commit+")") {
		t.Fatalf("pull requests: %v", prs)
	}
	if got := git.commits(t); !slices.Equal(got, main) {
		t.Fatalf("main moved: %v", got)
	}
	if f := gitIn(t, git.bare, "show", "slipway/dev:deploy/overlays/dev/kustomization.yaml"); !strings.Contains(f, orders) {
		t.Fatalf("slipway/dev does not deploy orders at %s:\n%s", orders, f)
	}

	// A change to orders: the same pull request, the branch replaced.
	if err := os.WriteFile(filepath.Join(r.fixture, "services/orders/CHANGELOG.md"), []byte("a change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("orders changes")
	r.mustCall("ci")
	rep = r.lastReport()
	orders2 := byName(rep)["orders"].Digest
	if orders2 == orders || rep.Deployments[0].PullRequest != "https://github.example/acme/gitops/pull/1" {
		t.Fatalf("second run: orders %s → %s, deployments %+v", orders, orders2, rep.Deployments)
	}
	prs, calls, _ := gh.state()
	if len(prs) != 1 || !strings.Contains(prs[0]["body"].(string), orders2) || strings.Contains(prs[0]["body"].(string), orders) {
		t.Fatalf("the pull request was not replaced: %v", prs)
	}
	if f := gitIn(t, git.bare, "show", "slipway/dev:deploy/overlays/dev/kustomization.yaml"); !strings.Contains(f, orders2) || strings.Contains(f, orders) {
		t.Fatalf("slipway/dev was not replaced:\n%s", f)
	}
	posts := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "POST ") {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d pull requests created: %q", posts, calls)
	}

	// Someone merges it (the stand-in does not see how): the next run
	// finds dev's branch holding the images, closes the pull request and
	// deletes its branch.
	gitIn(t, git.bare, "update-ref", "refs/heads/main", "refs/heads/slipway/dev")
	r.mustCall("ci")
	rep = r.lastReport()
	if d := rep.Deployments; len(d) != 1 || d[0].Changed || d[0].PullRequestState != "closed" {
		t.Fatalf("after the merge: %+v", d)
	}
	prs, _, violations := gh.state()
	if prs[0]["state"] != "closed" {
		t.Fatalf("the pull request is %v", prs[0]["state"])
	}
	if refs := strings.TrimSpace(gitIn(t, git.bare, "for-each-ref", "--format=%(refname)", "refs/heads/")); refs != "refs/heads/main" {
		t.Fatalf("branches after the close: %s", refs)
	}
	if len(violations) > 0 {
		t.Fatalf("requests outside GitHub's documented contract: %q", violations)
	}
	r.mu.Lock()
	seen := r.seen.String()
	r.mu.Unlock()
	if strings.Contains(seen, token) {
		t.Error("the token appears in the output")
	}
}
