package registry

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

func newClient(tb testing.TB, opts ...Option) *Client {
	tb.Helper()
	c, err := New(append([]Option{WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: 1, MaxDelay: 2})}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func digestOf(tb testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	tb.Helper()
	h, err := d.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return h.String()
}

func TestPushOCITarballResolveAndTags(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 1})
	file := filepath.Join(t.TempDir(), "image.tar")
	registrytest.WriteOCITarball(t, file, img)

	c := newClient(t)
	repo := host + "/svc/api"
	sha := strings.Repeat("ab", 20)
	got, err := c.PushTarball(ctx, file, repo+":"+sha, repo+":main")
	if err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, img)
	if got.String() != repo+"@"+want {
		t.Fatalf("PushTarball returned %s, want %s@%s", got, repo, want)
	}
	for _, tag := range []string{sha, "main"} {
		d, err := c.Resolve(ctx, repo+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		if d.DigestStr() != want {
			t.Errorf("Resolve(%s) = %s, want %s", tag, d.DigestStr(), want)
		}
	}
	tags, err := c.ListTags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{sha, "main"}) {
		t.Errorf("ListTags = %v, want [%s main]", tags, sha)
	}
	if ok, err := c.Exists(ctx, got.String()); err != nil || !ok {
		t.Errorf("Exists(%s) = %v, %v; want true", got, ok, err)
	}
	if ok, err := c.Exists(ctx, repo+":nope"); err != nil || ok {
		t.Errorf("Exists(missing tag) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := c.Exists(ctx, host+"/no/such/repo:v1"); err != nil || ok {
		t.Errorf("Exists(missing repo) = %v, %v; want false, nil", ok, err)
	}
	// The pushed manifest is the tarball's, byte for byte.
	desc, err := remote.Get(got)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	if string(desc.Manifest) != string(raw) {
		t.Error("the registry holds different manifest bytes than the tarball")
	}
}

func TestPushOCITarballWithMultiPlatformIndex(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 2})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 3, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	idx := registrytest.Index(t, amd, arm)
	file := filepath.Join(t.TempDir(), "multi.tar")
	registrytest.WriteOCITarball(t, file, idx)

	c := newClient(t)
	got, err := c.PushTarball(ctx, file, host+"/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.DigestStr() != digestOf(t, idx) {
		t.Fatalf("pushed %s, want the index digest %s", got.DigestStr(), digestOf(t, idx))
	}
	for _, img := range []v1.Image{amd, arm} {
		if ok, err := c.Exists(ctx, host+"/multi@"+digestOf(t, img)); err != nil || !ok {
			t.Errorf("platform image %s not pushed: %v %v", digestOf(t, img), ok, err)
		}
	}
}

func TestPushOCILayoutWithSeveralPlatformEntries(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 4})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 5, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	dir := t.TempDir()
	registrytest.WriteOCILayout(t, dir, amd)
	registrytest.WriteOCILayout(t, dir, arm) // appends a second entry to index.json
	c := newClient(t)
	got, err := c.PushLayout(ctx, dir, host+"/multi:v2")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(got)
	if err != nil {
		t.Fatal(err)
	}
	if !desc.MediaType.IsIndex() {
		t.Fatalf("pushed a %s, want an index of both platforms", desc.MediaType)
	}
	idx, _ := desc.ImageIndex()
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d entries, want 2", len(im.Manifests))
	}
}

func TestPushDockerSaveTarball(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 6})
	file := filepath.Join(t.TempDir(), "docker.tar")
	registrytest.WriteDockerTarball(t, file, "example.com/app:local", img)
	c := newClient(t)
	got, err := c.PushTarball(ctx, file, host+"/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	// docker save keeps the config and the layers but not the manifest: the
	// pushed manifest is a Docker one over the same config and layers.
	pushed, err := remote.Image(got)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, _ := img.ConfigName()
	gotCfg, _ := pushed.ConfigName()
	if gotCfg != wantCfg {
		t.Errorf("pushed config %s, want %s", gotCfg, wantCfg)
	}
	wl, _ := img.Layers()
	gl, _ := pushed.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("pushed %d layers, want %d", len(gl), len(wl))
	}
	for i := range wl {
		if digestOf(t, gl[i]) != digestOf(t, wl[i]) {
			t.Errorf("layer %d differs", i)
		}
	}
}

func TestPushLayoutDirectory(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 7})
	dir := t.TempDir()
	registrytest.WriteOCILayout(t, dir, img)
	c := newClient(t)
	got, err := c.PushLayout(ctx, dir, host+"/app:v1", host+"/mirror/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Context().Name() != host+"/app" {
		t.Errorf("returned digest in %s, want the first ref's repository", got.Context().Name())
	}
	d, err := c.Resolve(ctx, host+"/mirror/app:v1")
	if err != nil || d.DigestStr() != digestOf(t, img) {
		t.Fatalf("second repository: %v %v", d, err)
	}
}

func TestPushTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	counter := registrytest.Count(registrytest.Handler())
	host := registrytest.Serve(t, counter)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 8, Layers: 3, LayerSize: 4096})
	c := newClient(t)
	if _, err := c.PushImage(ctx, img, host+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	if counter.Stats().UploadBytes == 0 {
		t.Fatal("the first push uploaded nothing")
	}
	counter.Reset()
	if _, err := c.PushImage(ctx, img, host+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	st := counter.Stats()
	if st.UploadBytes != 0 || st.UploadsBegun != 0 {
		t.Errorf("second push uploaded %d bytes in %d sessions, want none", st.UploadBytes, st.UploadsBegun)
	}
	if n := counter.Requests("PUT", "/manifests/"); n != 0 {
		t.Errorf("second push wrote %d manifests, want 0", n)
	}
}

func TestPushByDigestThenTag(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 9})
	c := newClient(t)
	d, err := c.PushImage(ctx, img, host+"/app")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTags(ctx, host+"/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 0 {
		t.Fatalf("an untagged push left tags %v", tags)
	}
	if err := c.Tag(ctx, d.String(), "v1", "stable"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "stable"} {
		got, err := c.Resolve(ctx, host+"/app:"+tag)
		if err != nil || got != d {
			t.Errorf("Resolve(%s) = %v, %v; want %s", tag, got, err, d)
		}
	}
	if err := c.Tag(ctx, host+"/app:v1", "v2"); !errors.Is(err, ErrBadReference) {
		t.Errorf("Tag from a tag reference: %v, want ErrBadReference", err)
	}
	// A digest ref among the push refs must match the image.
	_, err = c.PushImage(ctx, img, host+"/app@sha256:"+strings.Repeat("0", 64))
	if !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), "but the image is") {
		t.Errorf("push to a foreign digest: %v", err)
	}
}

func TestPushRejectsBadArchives(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	dir := t.TempDir()
	write := func(name string, entries map[string]byte) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(f)
		for n, typ := range entries {
			h := &tar.Header{Name: n, Typeflag: typ, Mode: 0o644, Linkname: "/etc/passwd"}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		f.Close()
		return p
	}
	cases := map[string]struct {
		file string
		want string
	}{
		"no image":  {write("empty.tar", map[string]byte{"README": tar.TypeReg}), "neither index.json"},
		"traversal": {write("evil.tar", map[string]byte{"index.json": tar.TypeReg, "../evil": tar.TypeReg}), "outside the archive"},
		"link":      {write("link.tar", map[string]byte{"index.json": tar.TypeReg, "blobs/x": tar.TypeSymlink}), "is a link"},
		"not a tar": {func() string {
			p := filepath.Join(dir, "x.tar")
			os.WriteFile(p, []byte("hello world, not a tar"), 0o644)
			return p
		}(), "bad image archive"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.PushTarball(ctx, tc.file, "127.0.0.1:1/app:v1")
			if !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("got %v, want ErrBadArchive naming the file and saying %q", err, tc.want)
			}
		})
	}
	if _, err := c.PushTarball(ctx, filepath.Join(dir, "missing.tar"), "127.0.0.1:1/app:v1"); err == nil || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{}), []string{}...); !errors.Is(err, ErrBadReference) {
		t.Errorf("push without refs: %v", err)
	}
}

func TestProgressReportsCompletion(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	var last Progress
	c := newClient(t, WithProgress(func(p Progress) { last = p }))
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 10, LayerSize: 64 << 10})
	d, err := c.PushImage(ctx, img, host+"/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if last.Total == 0 || last.Complete != last.Total || last.Ref != d.String() {
		t.Errorf("last progress %+v, want complete == total > 0 for %s", last, d)
	}
}

func TestParseReferenceInsecureHosts(t *testing.T) {
	c := newClient(t)
	r, err := c.ParseReference("registry.example:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Context().Registry.Scheme(); s != "https" {
		t.Errorf("scheme for an unlisted host = %s, want https", s)
	}
	r, _ = c.ParseReference("127.0.0.1:5000/app:v1")
	if s := r.Context().Registry.Scheme(); s != "http" {
		t.Errorf("scheme for loopback = %s, want http", s)
	}
	ci := newClient(t, WithInsecure("registry.example:5000"))
	r, _ = ci.ParseReference("registry.example:5000/app:v1")
	if s := r.Context().Registry.Scheme(); s != "http" {
		t.Errorf("scheme for a host named insecure = %s, want http", s)
	}
	r, _ = ci.ParseReference("other.example/app:v1")
	if s := r.Context().Registry.Scheme(); s != "https" {
		t.Errorf("scheme for another host = %s, want https", s)
	}
	if _, err := c.ParseDigest("127.0.0.1:5000/app:v1"); !errors.Is(err, ErrBadReference) {
		t.Errorf("ParseDigest of a tag: %v", err)
	}
	if _, err := c.ParseRepository("127.0.0.1:5000/app:v1"); !errors.Is(err, ErrBadReference) {
		t.Errorf("ParseRepository of a tag: %v", err)
	}
	if _, err := name.NewRepository("127.0.0.1:5000/app"); err != nil {
		t.Fatal(err)
	}
}
