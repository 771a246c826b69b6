package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/publish"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

type env struct {
	cfg    *config.Config
	reg    *registry.Client
	host   string
	signer *signing.Signer
	repo   string
}

func setup(t *testing.T) *env {
	t.Helper()
	gitops.UseInProcessFileTransport()
	root := testutil.RepoRoot(t)
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	host := registrytest.New(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := signing.GenerateKeyPair([]byte("pw"))
	s, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "gitops.git")
	if _, err := gitops.SeedThrowaway(context.Background(), repo, "main", os.DirFS(root), "deploy", "slipway", "s@example.com"); err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, reg: c, host: host, signer: s, repo: repo}
}

// push publishes a test image for service and returns its digest.
func (e *env) push(t *testing.T, service string, seed int64, sign bool) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "img.tar")
	registrytest.WriteOCITarball(t, file, registrytest.Image(t, registrytest.ImageSpec{Seed: seed}))
	o := publish.Options{Registry: e.reg, Service: service, Commit: commit, Tags: []string{commit}}
	if sign {
		o.Signer = e.signer
	}
	r, err := publish.Tarball(context.Background(), file, e.host+"/shop/"+service, o)
	if err != nil {
		t.Fatal(err)
	}
	return r.Digest
}

func (e *env) head(t *testing.T) plumbing.Hash {
	t.Helper()
	r, err := git.PlainOpen(e.repo)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash()
}

func (e *env) opts(envName string, changes ...Change) Options {
	return Options{Config: e.cfg, Environment: envName, Changes: changes, SourceCommit: commit, Registry: e.reg,
		Verifier: e.signer.Verifier(), RepoURL: e.repo, GitOptions: []gitops.Option{gitops.WithAuthor("slipway", "s@example.com")}}
}

func TestDeployOneCommitThenNoOp(t *testing.T) {
	e := setup(t)
	d1 := e.push(t, "orders", 1, false)
	before := e.head(t)
	res, err := Run(context.Background(), e.opts("dev",
		Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: d1},
		Change{Service: "catalog", Repository: e.host + "/shop/catalog", Tag: commit, Digest: e.push(t, "catalog", 2, false)}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Commit == "" || !strings.Contains(res.Diff, d1) || strings.Join(res.Services, ",") != "catalog,orders" {
		t.Fatalf("result = %+v", res)
	}
	if e.head(t) == before {
		t.Fatal("no commit reached the GitOps repository")
	}
	after := e.head(t)
	again, err := Run(context.Background(), e.opts("dev", Change{Service: "orders", Repository: e.host + "/shop/orders", Tag: commit}))
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || e.head(t) != after {
		t.Fatalf("re-deploying the same digest made a commit: %+v", again)
	}
}

func TestRefusalsWriteNothing(t *testing.T) {
	e := setup(t)
	unsigned := e.push(t, "orders", 3, false)
	signed := e.push(t, "catalog", 4, true)
	before := e.head(t)
	missing := "sha256:" + strings.Repeat("0", 64)
	noKey := e.opts("staging", Change{Service: "catalog", Repository: e.host + "/shop/catalog", Digest: signed})
	noKey.Verifier = nil
	type tcase struct {
		o    Options
		want string
	}
	cases := map[string]tcase{
		"missing digest":      {e.opts("dev", Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: missing}), "is not in the registry"},
		"unknown tag":         {e.opts("dev", Change{Service: "orders", Repository: e.host + "/shop/orders", Tag: "nope"}), "was it published for this commit?"},
		"unsigned in staging": {e.opts("staging", Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: unsigned}), "requires a valid signature"},
		"unknown environment": {e.opts("qa", Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: unsigned}), `unknown environment "qa"`},
		"unknown service":     {e.opts("dev", Change{Service: "billing", Repository: e.host + "/shop/billing", Digest: unsigned}), `unknown service "billing"`},
		"one bad of two":      {e.opts("staging", Change{Service: "catalog", Repository: e.host + "/shop/catalog", Digest: signed}, Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: unsigned}), "service orders"},
		"no key for staging":  {noKey, "requires signed images"},
		// catalog's signed image, deployed as orders (the registry lets
		// anyone with push rights put it into the orders repository).
		"another service's signature": {e.opts("staging", Change{Service: "orders", Repository: e.host + "/shop/catalog", Digest: signed}),
			"requires a valid signature of service orders"},
	}
	// The commit tag moved (by anyone with push rights) to an older image
	// of orders, validly signed, but for another commit.
	file := filepath.Join(t.TempDir(), "old.tar")
	registrytest.WriteOCITarball(t, file, registrytest.Image(t, registrytest.ImageSpec{Seed: 5}))
	if _, err := publish.Tarball(context.Background(), file, e.host+"/shop/orders", publish.Options{Registry: e.reg, Signer: e.signer,
		Service: "orders", Commit: strings.Repeat("1", 40), Tags: []string{commit}}); err != nil {
		t.Fatal(err)
	}
	cases["commit tag moved to another commit's image"] = tcase{e.opts("staging", Change{Service: "orders", Repository: e.host + "/shop/orders", Tag: commit}),
		"dev.slipway.source-commit is \"" + strings.Repeat("1", 40) + "\""}
	for name, tc := range cases {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if e.head(t) != before {
		t.Fatal("a refused deployment wrote to the GitOps repository")
	}
	// The signed image alone is accepted in staging.
	res, err := Run(context.Background(), e.opts("staging", Change{Service: "catalog", Repository: e.host + "/shop/catalog", Digest: signed}))
	if err != nil || !res.Changed {
		t.Fatalf("signed deploy to staging: %+v, %v", res, err)
	}
	_, err = Check(context.Background(), e.opts("staging", Change{Service: "orders", Repository: e.host + "/shop/orders", Digest: unsigned}))
	if !errors.Is(err, ErrUnverified) || !errors.Is(err, signing.ErrUnsigned) {
		t.Fatalf("unsigned refusal does not wrap ErrUnverified and ErrUnsigned: %v", err)
	}
	_, err = Check(context.Background(), e.opts("staging", Change{Service: "orders", Repository: e.host + "/shop/catalog", Digest: signed}))
	if !errors.Is(err, ErrUnverified) || !errors.Is(err, signing.ErrAnnotationMismatch) {
		t.Fatalf("another service's signature: the refusal does not wrap ErrUnverified and ErrAnnotationMismatch: %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := setup(t)
	d := e.push(t, "notify", 5, false)
	before := e.head(t)
	o := e.opts("dev", Change{Service: "notify", Repository: e.host + "/shop/notify", Digest: d})
	o.DryRun = true
	res, err := Run(context.Background(), o)
	if err != nil || !res.Changed || !strings.Contains(res.Diff, d) || res.Commit != "" {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if e.head(t) != before {
		t.Fatal("dry run wrote to the repository")
	}
}

func TestLayoutAndRedact(t *testing.T) {
	cfg, err := config.Load(testutil.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	l := Layout(cfg)
	if l.Directory != "deploy/overlays/{env}" || l.Services["orders"].Image != "orders" || len(l.Environments) != 3 {
		t.Fatalf("layout = %+v", l)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := redact("https://x-access-token:s3cret@github.com/acme/gitops.git"); got != "https://github.com/acme/gitops.git" {
		t.Errorf("redact = %s", got)
	}
	if got := redact("git@github.com:acme/gitops.git"); got != "git@github.com:acme/gitops.git" {
		t.Errorf("redact ssh = %s", got)
	}
}
