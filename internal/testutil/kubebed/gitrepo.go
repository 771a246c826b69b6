package kubebed

import (
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GitRepo is a bare repository a GitOps controller fetches, served over
// git's smart HTTP protocol (git http-backend as a CGI program), and a work
// tree that pushes to it.
type GitRepo struct {
	Bare, Work string
}

// NewGitRepo makes an empty repository whose branch is main.
func NewGitRepo(t testing.TB) *GitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	r := &GitRepo{Bare: filepath.Join(root, "srv", "gitops.git"), Work: filepath.Join(root, "work")}
	Git(t, root, "init", "--quiet", "--bare", "-b", "main", r.Bare)
	Git(t, root, "init", "--quiet", "-b", "main", r.Work)
	Git(t, r.Work, "remote", "add", "origin", r.Bare)
	return r
}

// Commit writes files (path → content), commits and pushes them to main,
// and returns the commit.
func (r *GitRepo) Commit(t testing.TB, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, r.Work, "add", "-A")
	Git(t, r.Work, "commit", "--quiet", "-m", "deploy")
	Git(t, r.Work, "push", "--quiet", "origin", "main")
	return strings.TrimSpace(Git(t, r.Work, "rev-parse", "HEAD"))
}

// IsAncestor reports whether ancestor is commit or one of its ancestors.
func (r *GitRepo) IsAncestor(ancestor, commit string) bool {
	cmd := exec.Command("git", "merge-base", "--is-ancestor", ancestor, commit)
	cmd.Dir = r.Work
	return cmd.Run() == nil
}

// Serve serves the bare repository on host until the test ends, behind
// basic authentication when password is not empty, and returns its URL.
func (r *GitRepo) Serve(t testing.TB, host, user, password string) string {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Bare), "GIT_HTTP_EXPORT_ALL=1"},
	}
	h := http.Handler(backend)
	if password != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			backend.ServeHTTP(w, req)
		})
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/" + filepath.Base(r.Bare)
}

// Git runs git in dir with a fixed identity and no user configuration,
// and returns its output; it fails the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=kubebed", "GIT_AUTHOR_EMAIL=kubebed@example.invalid",
		"GIT_COMMITTER_NAME=kubebed", "GIT_COMMITTER_EMAIL=kubebed@example.invalid",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
