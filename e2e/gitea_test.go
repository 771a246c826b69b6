package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil"
)

// gitea is a Gitea server (code.gitea.io/gitea v1.25.2, hack/tools/gitea)
// run by a test on the engine's bridge, with one admin user and its token.
type gitea struct {
	url, user, token string
}

// startGitea starts Gitea on ip with a fresh SQLite database and stops it
// (by its PID) when the test ends.
func startGitea(t *testing.T, ip string) *gitea {
	t.Helper()
	bin := testutil.Tool(t, "gitea")
	// The API needs no web assets, but Gitea reads its templates and
	// locales from the static root: the module's source.
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "code.gitea.io/gitea")
	list.Dir = filepath.Join(testutil.RepoRoot(t), "hack", "tools", "gitea")
	list.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	static, err := list.Output()
	if err != nil {
		t.Fatalf("locating Gitea's module: %v", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	work := t.TempDir()
	ini := filepath.Join(work, "custom", "conf", "app.ini")
	if err := os.MkdirAll(filepath.Dir(ini), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`APP_NAME = slipway-e2e
RUN_MODE = prod
RUN_USER = %s
WORK_PATH = %s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = %s
HTTP_PORT = %d
DOMAIN = %s
ROOT_URL = http://%s:%d/
DISABLE_SSH = true
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %s
APP_DATA_PATH = %s/data

[database]
DB_TYPE = sqlite3
PATH = %s/data/gitea.db

[repository]
ROOT = %s/data/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = e2e-secret-key-%d
INTERNAL_TOKEN = e2e-internal-token-%d

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[log]
MODE = console
LEVEL = warn
ROOT_PATH = %s/log

[cron]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false
`, currentUser(), work, ip, port, ip, ip, port, strings.TrimSpace(string(static)), work, work, work, time.Now().UnixNano(), time.Now().UnixNano(), work)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--work-path", work, "--custom-path", filepath.Join(work, "custom"), "--config", ini}
	var logs bytes.Buffer
	web := exec.Command(bin, append([]string{"web"}, args...)...)
	web.Stdout, web.Stderr = &logs, &logs
	if err := web.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		web.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { web.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			web.Process.Kill()
			<-done
		}
	})
	g := &gitea{url: fmt.Sprintf("http://%s:%d", ip, port), user: "slipway-e2e"}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(g.url + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Gitea did not answer within 2 minutes:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	admin := func(a ...string) string {
		out, err := exec.Command(bin, append(append([]string{"admin", "user"}, a...), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gitea admin user %s: %v\n%s", a[0], err, out)
		}
		return string(out)
	}
	admin("create", "--admin", "--username", g.user, "--password", fmt.Sprintf("pw-%d-Aa1", time.Now().UnixNano()), "--email", "e2e@example.invalid", "--must-change-password=false")
	// As root, Gitea prints a warning before the token: the token is the
	// last line.
	lines := strings.Split(strings.TrimSpace(admin("generate-access-token", "--username", g.user, "--token-name", "slipway", "--scopes", "all", "--raw")), "\n")
	g.token = strings.TrimSpace(lines[len(lines)-1])
	return g
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// api calls Gitea's REST API as the admin; out, when given, receives the
// JSON answer. It returns the status.
func (g *gitea) api(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, g.url+"/api/v1"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type giteaPR struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Body   string `json:"body"`
	Merged bool   `json:"merged"`
	Head   struct {
		Ref string `json:"ref"`
	} `json:"head"`
}

// TestModulePullRequestsOnGitea: a team that hosts its GitOps repository on
// a self-hosted Gitea. ci, through the real engine, opens dev's one pull
// request there (branch slipway/dev), replaces it after a change, and after
// the pull request is merged in Gitea deletes the branch; Gitea's own API
// is asked what it holds.
func TestModulePullRequestsOnGitea(t *testing.T) {
	ip := bridgeAddr(t)
	g := startGitea(t, ip)
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", g.token)
	if st := g.api(t, "POST", "/user/repos", map[string]any{"name": "gitops", "default_branch": "main", "auto_init": false}, nil); st != http.StatusCreated {
		t.Fatalf("creating the repository: HTTP %d", st)
	}
	r := newSlipwayRun(t)
	repoURL := g.url + "/" + g.user + "/gitops.git"
	seed := t.TempDir()
	gitIn(t, seed, "init", "-q", "-b", "main")
	copyTree(t, filepath.Join(r.fixture, "deploy"), filepath.Join(seed, "deploy"))
	gitIn(t, seed, "add", "-A")
	gitIn(t, seed, "commit", "-q", "-m", "seed the GitOps repository")
	gitIn(t, seed, "push", "-q", strings.Replace(repoURL, "http://", "http://"+g.user+":"+g.token+"@", 1), "main")

	r.edit("slipway.yaml", func(s string) string {
		s = strings.Replace(s, `  repo: ""`, fmt.Sprintf("  repo: %q\n  forge: gitea", repoURL), 1)
		return strings.Replace(s, "    autoDeploy: true          # `ci` deploys every green build here\n",
			"    autoDeploy: true          # `ci` deploys every green build here\n    mode: pull-request\n", 1)
	})
	r.commit("dev deploys through pull requests on Gitea")
	r.moduleArgs = []string{"--gitops-token", "env://SLIPWAY_E2E_GITOPS_TOKEN"}
	open := func() []giteaPR {
		var prs []giteaPR
		if st := g.api(t, "GET", "/repos/"+g.user+"/gitops/pulls?state=open", nil, &prs); st != http.StatusOK {
			t.Fatalf("listing pull requests: HTTP %d", st)
		}
		return prs
	}

	r.mustCall("ci")
	rep := r.lastReport()
	orders := byName(rep)["orders"].Digest
	prs := open()
	if len(prs) != 1 || prs[0].Head.Ref != "slipway/dev" || !strings.Contains(prs[0].Body, orders) || rep.Deployments[0].PullRequestState != "open" ||
		!strings.HasPrefix(rep.Deployments[0].PullRequest, g.url+"/"+g.user+"/gitops/pulls/") {
		t.Fatalf("first run: pull requests %+v, deployments %+v", prs, rep.Deployments)
	}
	number := prs[0].Number

	if err := os.WriteFile(filepath.Join(r.fixture, "services/orders/CHANGELOG.md"), []byte("a change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("orders changes")
	r.mustCall("ci")
	orders2 := byName(r.lastReport())["orders"].Digest
	prs = open()
	if len(prs) != 1 || prs[0].Number != number || !strings.Contains(prs[0].Body, orders2) || strings.Contains(prs[0].Body, orders) {
		t.Fatalf("second run: %+v", prs)
	}

	// Merged in Gitea: the next run has nothing to do, and the branch goes.
	// Gitea checks a pull request's mergeability in the background after a
	// push, and answers 405 ("try again later") until it has.
	for deadline := time.Now().Add(time.Minute); ; {
		var msg struct{ Message string }
		st := g.api(t, "POST", fmt.Sprintf("/repos/%s/gitops/pulls/%d/merge", g.user, number), map[string]any{"Do": "merge"}, &msg)
		if st == http.StatusOK {
			break
		}
		if st != http.StatusMethodNotAllowed || time.Now().After(deadline) {
			t.Fatalf("merging: HTTP %d: %s", st, msg.Message)
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.mustCall("ci")
	if d := r.lastReport().Deployments; len(d) != 1 || d[0].Changed {
		t.Fatalf("after the merge: %+v", d)
	}
	if st := g.api(t, "GET", "/repos/"+g.user+"/gitops/branches/slipway%2Fdev", nil, nil); st != http.StatusNotFound {
		t.Errorf("slipway/dev after the merge: HTTP %d, want 404 (deleted)", st)
	}
	if prs := open(); len(prs) != 0 {
		t.Errorf("open pull requests after the merge: %+v", prs)
	}
}
