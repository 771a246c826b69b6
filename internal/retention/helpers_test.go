package retention

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
	"github.com/slipwayci/slipway/internal/testutil"
)

// The key pair is made once per test binary: decrypting it takes about
// 0.2 s.
var (
	signerOnce sync.Once
	signerKey  *signing.KeyPair
	signerErr  error
)

// fixture is this repository's configuration, an in-memory registry
// (optionally behind a wrapper), a signing key and a GitOps bare repository
// seeded from this repository's deploy/ tree.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	cfg     *config.Config
	host    string
	reg     *registry.Client
	signer  *signing.Signer
	repoURL string
	now     time.Time
	// deletes counts DELETE requests; while setup is set, requests go
	// straight to the registry, around the wrapper, and are not counted.
	deletes atomic.Int64
	setup   atomic.Bool
}

func newFixture(t testing.TB, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	root := testutil.RepoRoot(t)
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: context.Background(), cfg: cfg, now: time.Now().UTC().Truncate(time.Second)}
	raw := registrytest.Handler()
	wrapped := raw
	if wrap != nil {
		wrapped = wrap(raw)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.setup.Load() {
			raw.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodDelete {
			f.deletes.Add(1)
		}
		wrapped.ServeHTTP(w, r)
	})
	f.host = registrytest.Serve(t, h)
	f.setup.Store(true)
	f.reg, err = registry.New(registry.WithRetry(registry.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	signerOnce.Do(func() { signerKey, signerErr = signing.GenerateKeyPair([]byte("pw")) })
	if signerErr != nil {
		t.Fatal(signerErr)
	}
	if f.signer, err = signing.LoadSigner(signerKey.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(f.reg)); err != nil {
		t.Fatal(err)
	}
	f.repoURL = filepath.Join(t.TempDir(), "gitops.git")
	if _, err := gitops.SeedThrowaway(f.ctx, f.repoURL, "main", os.DirFS(root), "deploy", "slipway", "s@example.com"); err != nil {
		t.Fatal(err)
	}
	return f
}

// ready ends the setup: from now on requests go through the wrapper and
// DELETEs are counted.
func (f *fixture) ready() { f.setup.Store(false) }

func (f *fixture) gitOptions() []gitops.Option {
	return []gitops.Option{gitops.WithAuthor("slipway test", "s@example.com"), gitops.WithBackoff(5*time.Millisecond, 50*time.Millisecond)}
}

func (f *fixture) repo(service string) string { return f.host + "/shop/" + service }

func (f *fixture) options() Options {
	return Options{Config: f.cfg, Registry: f.reg, RegistryAddress: f.host, RepoURL: f.repoURL, GitOptions: f.gitOptions(),
		Keep: 3, OlderThan: 30 * 24 * time.Hour, Now: f.now}
}

// spec describes a test image.
type spec struct {
	seed int64
	// label is the org.opencontainers.image.created label (zero: none);
	// config is the config's created time (zero: none).
	label, config time.Time
	tags          []string
	sign          bool
	attest        []string
	// platforms > 0 makes an index of that many platform images.
	platforms int
}

func (f *fixture) image(s spec, seed int64, arch string) v1.Image {
	labels := map[string]string{"org.opencontainers.image.title": "test"}
	if !s.label.IsZero() {
		labels[CreatedLabel] = s.label.Format(time.RFC3339)
	}
	img := registrytest.Image(f.t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 512, Labels: labels,
		Platform: &v1.Platform{OS: "linux", Architecture: arch}})
	if !s.config.IsZero() {
		var err error
		if img, err = mutate.CreatedAt(img, v1.Time{Time: s.config}); err != nil {
			f.t.Fatal(err)
		}
	}
	return img
}

// push publishes an image (or index) under its tags, signs and attests it
// as described and returns its digest.
func (f *fixture) push(service string, s spec) string {
	f.t.Helper()
	var refs []string
	for _, t := range s.tags {
		refs = append(refs, f.repo(service)+":"+t)
	}
	var d string
	if s.platforms == 0 {
		dg, err := f.reg.PushImage(f.ctx, f.image(s, s.seed, "amd64"), refs...)
		if err != nil {
			f.t.Fatal(err)
		}
		d = dg.DigestStr()
	} else {
		var imgs []v1.Image
		for i, arch := range []string{"amd64", "arm64", "riscv64"}[:s.platforms] {
			imgs = append(imgs, f.image(s, s.seed*10+int64(i), arch))
		}
		dg, err := f.reg.PushIndex(f.ctx, registrytest.Index(f.t, imgs...), refs...)
		if err != nil {
			f.t.Fatal(err)
		}
		d = dg.DigestStr()
	}
	ref := f.repo(service) + "@" + d
	if s.sign {
		if _, err := f.signer.Sign(f.ctx, ref, map[string]string{signing.AnnotationService: service}); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, p := range s.attest {
		if _, err := f.signer.Attest(f.ctx, ref, p, []byte(`{"test":true}`)); err != nil {
			f.t.Fatal(err)
		}
	}
	return d
}

// deploy writes digest into env the way ci and promote do.
func (f *fixture) deploy(env, service, commit, digest string) {
	f.t.Helper()
	_, err := deploy.Run(f.ctx, deploy.Options{Config: f.cfg, Environment: env, SourceCommit: commit,
		Changes:  []deploy.Change{{Service: service, Repository: f.repo(service), Digest: digest, Tag: commit}},
		Registry: f.reg, Verifier: f.signer.Verifier(), RepoURL: f.repoURL, GitOptions: f.gitOptions()})
	if err != nil {
		f.t.Fatal(err)
	}
}

// pin pins service in env to digest in the state file.
func (f *fixture) pin(env, service, digest string) {
	f.t.Helper()
	_, err := state.Commit(f.ctx, f.repoURL, "main", state.Path(f.cfg), "pin", func(_ string, s *state.State) error {
		_, err := s.SetPin(state.Pin{Environment: env, Service: service, Digest: digest, Reason: "test", By: "alice"})
		return err
	}, false, f.gitOptions()...)
	if err != nil {
		f.t.Fatal(err)
	}
}

// deny denylists digest in the state file.
func (f *fixture) deny(digest string) {
	f.t.Helper()
	_, err := state.Commit(f.ctx, f.repoURL, "main", state.Path(f.cfg), "reject", func(_ string, s *state.State) error {
		_, err := s.Deny(state.Denied{Digest: digest, Reason: "CVE-2025-0001", By: "alice"})
		return err
	}, false, f.gitOptions()...)
	if err != nil {
		f.t.Fatal(err)
	}
}

// commitFile edits file on branch (created from main when new) with the git
// binary, as a person would.
func (f *fixture) commitFile(branch, file string, edit func(string) string) {
	f.t.Helper()
	dir := filepath.Join(f.t.TempDir(), "work")
	f.git("", "clone", "-q", f.repoURL, dir)
	if branch != "main" {
		f.git(dir, "checkout", "-q", "-b", branch)
	}
	p := filepath.Join(dir, filepath.FromSlash(file))
	b, _ := os.ReadFile(p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.git(dir, "add", "-A")
	f.git(dir, "-c", "user.name=alice", "-c", "user.email=a@example.com", "commit", "-q", "-m", "edit "+file)
	f.git(dir, "push", "-q", "origin", branch)
}

func (f *fixture) git(dir string, args ...string) {
	f.t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
		f.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// snapshot is every tag of the services' repositories with the digest it
// names, and the digests given that exist.
func (f *fixture) snapshot(digests map[string]string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	for _, svc := range []string{"catalog", "notify", "orders"} {
		tags, err := f.reg.ListTags(f.ctx, f.repo(svc))
		if err != nil {
			f.t.Fatal(err)
		}
		for _, t := range tags {
			d, err := f.reg.Resolve(f.ctx, f.repo(svc)+":"+t)
			if err != nil {
				f.t.Fatal(err)
			}
			out[svc+":"+t] = d.DigestStr()
		}
	}
	for name, ref := range digests {
		ok, err := f.reg.Exists(f.ctx, ref)
		if err != nil {
			f.t.Fatal(err)
		}
		if ok {
			out[name] = "exists"
		}
	}
	return out
}

func (f *fixture) exists(ref string) bool {
	f.t.Helper()
	ok, err := f.reg.Exists(f.ctx, ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func (f *fixture) tags(service string) []string {
	f.t.Helper()
	tags, err := f.reg.ListTags(f.ctx, f.repo(service))
	if err != nil {
		f.t.Fatal(err)
	}
	return tags
}

// find returns the plan's image of service with digest.
func find(t *testing.T, res *Result, service, digest string) Image {
	t.Helper()
	for _, r := range res.Repositories {
		if r.Service != service {
			continue
		}
		for _, im := range r.Images {
			if im.Digest == digest {
				return im
			}
		}
	}
	t.Fatalf("%s@%s is not in the plan", service, digest)
	return Image{}
}

func artTag(digest, suffix string) string {
	return "sha256-" + strings.TrimPrefix(digest, "sha256:") + "." + suffix
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// refuseDeletes answers every DELETE with status and a registry error code,
// as a registry with deletion disabled (405 UNSUPPORTED) or credentials
// without delete rights (403 DENIED) does.
func refuseDeletes(status int, code string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodDelete {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"errors":[{"code":"` + code + `","message":"refused by the test"}]}`))
		})
	}
}

// digestOnlyDeletes behaves like the distribution registry before tag
// deletion existed: DELETE of a tag is 405 UNSUPPORTED, and deleting a
// manifest by digest also removes every tag naming it.
func digestOnlyDeletes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.LastIndex(r.URL.Path, "/manifests/")
		if r.Method != http.MethodDelete || i < 0 {
			next.ServeHTTP(w, r)
			return
		}
		repo, ref := strings.TrimPrefix(r.URL.Path[:i], "/v2/"), r.URL.Path[i+len("/manifests/"):]
		if !strings.HasPrefix(ref, "sha256:") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
			return
		}
		// The tags naming the digest, read before it goes.
		var doomed []string
		list := httptest.NewRecorder()
		next.ServeHTTP(list, httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/tags/list", nil))
		for _, t := range parseTags(list.Body.String()) {
			head := httptest.NewRecorder()
			next.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/v2/"+repo+"/manifests/"+t, nil))
			if head.Header().Get("Docker-Content-Digest") == ref {
				doomed = append(doomed, t)
			}
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Code == http.StatusAccepted {
			for _, t := range doomed {
				next.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/v2/"+repo+"/manifests/"+t, nil))
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// parseTags reads the tags of a tags/list answer.
func parseTags(body string) []string {
	var v struct {
		Tags []string `json:"tags"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	return v.Tags
}
