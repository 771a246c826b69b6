package gitops

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/slipwayci/slipway/internal/forge"
)

// dig returns a distinct, well-formed sha256 digest for n.
func dig(n int) string {
	s := sha256.Sum256([]byte(strconv.Itoa(n)))
	return "sha256:" + hex.EncodeToString(s[:])
}

var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
	"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
}

// git runs the git CLI in dir and returns its trimmed output.
func runGit(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// newRemote makes a bare repository (branch main) holding testdata/repo
// inside root, and returns its path.
func newRemote(tb testing.TB, root string) string {
	tb.Helper()
	work := filepath.Join(root, "seed")
	copyTree(tb, filepath.Join("testdata", "repo"), work)
	runGit(tb, work, "init", "-q", "-b", "main")
	runGit(tb, work, "add", "-A")
	runGit(tb, work, "commit", "-q", "-m", "initial layout")
	bare := filepath.Join(root, "gitops.git")
	runGit(tb, root, "clone", "-q", "--bare", work, bare)
	runGit(tb, bare, "config", "http.receivepack", "true")
	return bare
}

func remoteRef(tb testing.TB, bare, branch string) string {
	tb.Helper()
	return runGit(tb, bare, "rev-parse", "refs/heads/"+branch)
}

func remoteFile(tb testing.TB, bare, branch, path string) string {
	tb.Helper()
	return runGit(tb, bare, "show", branch+":"+path)
}

func remoteSubjects(tb testing.TB, bare, branch string) []string {
	tb.Helper()
	return strings.Split(runGit(tb, bare, "log", "--format=%s", branch), "\n")
}

// loadLayout decodes testdata/layout.yaml strictly, as the config package
// will.
func loadLayout(tb testing.TB) Layout {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "layout.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var l Layout
	if err := dec.Decode(&l); err != nil {
		tb.Fatal(err)
	}
	return l
}

// snapshot hashes every file under dir except .git, to show a tree was
// not touched.
func snapshot(tb testing.TB, dir string) string {
	tb.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%x\x00", p, sha256.Sum256(b))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// httpGitServer serves the bare repositories under root with Debian git's
// git http-backend through net/http/cgi on 127.0.0.1, accepting only basic
// auth whose password is token.
func httpGitServer(tb testing.TB, root, token string) *httptest.Server {
	tb.Helper()
	execPath := runGit(tb, root, "--exec-path")
	backend := filepath.Join(execPath, "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		tb.Fatalf("git http-backend not found: %v", err)
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, gitEnv...),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitops"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// sshGitServer is an in-process SSH server on 127.0.0.1 that runs
// git-upload-pack and git-receive-pack on the bare repositories under
// root for the one client key it trusts.
type sshGitServer struct {
	addr       string
	hostKey    []byte // authorized_keys line
	clientKey  []byte // OpenSSH PEM private key
	otherKey   []byte // a key the server does not trust
	listener   net.Listener
	wg         sync.WaitGroup
	root       string
	clientAuth ssh.PublicKey
}

func newSSHGitServer(tb testing.TB, root string) *sshGitServer {
	tb.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		tb.Fatal(err)
	}
	clientPEM, clientPub := newSSHKey(tb)
	otherPEM, _ := newSSHKey(tb)
	s := &sshGitServer{root: root, clientKey: clientPEM, otherKey: otherPEM, clientAuth: clientPub,
		hostKey: ssh.MarshalAuthorizedKey(hostSigner.PublicKey())}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), s.clientAuth.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	s.listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = s.listener.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.listener.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg)
			}()
		}
	}()
	tb.Cleanup(func() { s.listener.Close(); s.wg.Wait() })
	return s
}

func newSSHKey(tb testing.TB) ([]byte, ssh.PublicKey) {
	tb.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(block), sp
}

func (s *sshGitServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, chReqs)
	}
}

func (s *sshGitServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(req.Type == "env", nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			return
		}
		prog, arg, _ := strings.Cut(p.Command, " ")
		arg = strings.Trim(arg, "'")
		if prog != "git-upload-pack" && prog != "git-receive-pack" {
			req.Reply(false, nil)
			return
		}
		dir := filepath.Join(s.root, filepath.Clean("/"+arg))
		req.Reply(true, nil)
		cmd := exec.Command(prog, dir)
		cmd.Env = append(os.Environ(), gitEnv...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		code := 0
		if err := cmd.Run(); err != nil {
			code = 1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		var status [4]byte
		binary.BigEndian.PutUint32(status[:], uint32(code))
		ch.SendRequest("exit-status", false, status[:])
		return
	}
}

// fakeGitHub implements the three pull-request endpoints slipway uses,
// for repository owner/name.
type fakeGitHub struct {
	*httptest.Server
	token string
	mu    sync.Mutex
	prs   []fakePR
	calls []string // "METHOD path"
}

type fakePR struct {
	Number int    `json:"number"`
	URL    string `json:"html_url"`
	State  string `json:"state"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Head   string `json:"-"`
	Base   string `json:"-"`
}

// MarshalJSON renders head and base as the APIs do.
func (p fakePR) MarshalJSON() ([]byte, error) {
	type plain fakePR
	return json.Marshal(struct {
		plain
		HeadRef struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}{plain: plain(p), HeadRef: struct {
		Ref string `json:"ref"`
	}{p.Head}})
}

func newFakeGitHub(tb testing.TB, token string) *fakeGitHub {
	g := &fakeGitHub{token: token}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials"})
		return
	}
	const prefix = "/repos/owner/gitops/pulls"
	var in struct{ Title, Body, Head, Base, State string }
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &in)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		head := strings.TrimPrefix(r.URL.Query().Get("head"), "owner:")
		out := []fakePR{}
		for _, p := range g.prs {
			if p.Head == head && p.State == r.URL.Query().Get("state") {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && r.URL.Path == prefix:
		for _, p := range g.prs {
			if p.Head == in.Head && p.State == "open" {
				w.WriteHeader(http.StatusUnprocessableEntity)
				json.NewEncoder(w).Encode(map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"message": "A pull request already exists"}}})
				return
			}
		}
		n := len(g.prs) + 1
		p := fakePR{Number: n, URL: fmt.Sprintf("%s/owner/gitops/pull/%d", g.URL, n), State: "open", Title: in.Title, Body: in.Body, Head: in.Head, Base: in.Base}
		g.prs = append(g.prs, p)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, prefix+"/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, prefix+"/"))
		if n < 1 || n > len(g.prs) {
			http.NotFound(w, r)
			return
		}
		if in.State != "" {
			g.prs[n-1].State = in.State
		} else {
			g.prs[n-1].Title, g.prs[n-1].Body, g.prs[n-1].Base = in.Title, in.Body, in.Base
		}
		json.NewEncoder(w).Encode(g.prs[n-1])
	default:
		http.NotFound(w, r)
	}
}

func (g *fakeGitHub) client(tb testing.TB) *forge.Client {
	tb.Helper()
	c, err := forge.New(forge.GitHub, "owner/gitops", g.token, forge.WithBaseURL(g.URL), forge.WithRetries(1, 0))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
