package registry

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

func blobBytes(tb testing.TB, img v1.Image) int64 {
	tb.Helper()
	var n int64
	ls, err := img.Layers()
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range ls {
		s, err := l.Size()
		if err != nil {
			tb.Fatal(err)
		}
		n += s
	}
	return n
}

func TestCopyWithinRegistryMountsLayers(t *testing.T) {
	ctx := context.Background()
	counter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	host := registrytest.Serve(t, counter)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 20, Layers: 3, LayerSize: 32 << 10, Labels: map[string]string{"org.opencontainers.image.revision": "abc"}})
	img = mutate.Annotations(img, map[string]string{"dev.slipway.service": "api"}).(v1.Image)
	c := newClient(t)
	src, err := c.PushImage(ctx, img, host+"/dev/api:abc")
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()

	dst, err := c.Copy(ctx, src.String(), host+"/prod/api", "abc", "stable")
	if err != nil {
		t.Fatal(err)
	}
	if dst.String() != host+"/prod/api@"+src.DigestStr() {
		t.Fatalf("Copy returned %s, want the same digest in prod/api", dst)
	}
	st := counter.Stats()
	if st.UploadBytes != 0 || st.UploadsBegun != 0 {
		t.Errorf("copy within one registry uploaded %d bytes in %d sessions, want 0", st.UploadBytes, st.UploadsBegun)
	}
	if st.Mounts != 4 { // 3 layers + config
		t.Errorf("mounted %d blobs, want 4 (3 layers and the config)", st.Mounts)
	}
	for _, tag := range []string{"abc", "stable"} {
		d, err := c.Resolve(ctx, host+"/prod/api:"+tag)
		if err != nil || d != dst {
			t.Errorf("prod tag %s: %v %v", tag, d, err)
		}
	}
	// Labels and manifest annotations survive (the manifest is the same
	// bytes, so the digest is equal; check the content anyway).
	copied, err := remote.Image(dst)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := copied.ConfigFile()
	m, _ := copied.Manifest()
	if cf.Config.Labels["org.opencontainers.image.revision"] != "abc" || m.Annotations["dev.slipway.service"] != "api" {
		t.Errorf("labels %v / annotations %v lost in the copy", cf.Config.Labels, m.Annotations)
	}
	// Every layer is readable from the destination repository.
	ls, _ := copied.Layers()
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer unreadable in prod/api: %v", err)
		}
		rc.Close()
	}
}

func TestCopyAcrossRegistries(t *testing.T) {
	ctx := context.Background()
	srcHost := registrytest.Serve(t, registrytest.RepoScoped(registrytest.Handler()))
	counter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	dstHost := registrytest.Serve(t, counter)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 21, Layers: 2, LayerSize: 32 << 10})
	c := newClient(t)
	src, err := c.PushImage(ctx, img, srcHost+"/api:abc")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := c.Copy(ctx, src.String(), dstHost+"/team/api", "abc")
	if err != nil {
		t.Fatal(err)
	}
	if dst.DigestStr() != src.DigestStr() {
		t.Fatalf("digest changed across registries: %s -> %s", src.DigestStr(), dst.DigestStr())
	}
	st := counter.Stats()
	if want := blobBytes(t, img); st.UploadBytes < want {
		t.Errorf("uploaded %d bytes across registries, want at least the %d layer bytes", st.UploadBytes, want)
	}
	if st.Mounts != 0 {
		t.Errorf("%d mounts across registries, want 0", st.Mounts)
	}
	// A second copy finds everything there.
	counter.Reset()
	if _, err := c.Copy(ctx, src.String(), dstHost+"/team/api", "abc"); err != nil {
		t.Fatal(err)
	}
	if st := counter.Stats(); st.UploadBytes != 0 || counter.Requests("PUT", "/manifests/") != 0 {
		t.Errorf("repeated copy uploaded %d bytes and wrote %d manifests", st.UploadBytes, counter.Requests("PUT", "/manifests/"))
	}
}

func TestCopyResolvesATagOnceAndCopiesAnIndex(t *testing.T) {
	ctx := context.Background()
	counter := registrytest.Count(registrytest.RepoScoped(registrytest.Handler()))
	host := registrytest.Serve(t, counter)
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 22})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 23, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	idx := registrytest.Index(t, amd, arm)
	c := newClient(t)
	src, err := c.PushIndex(ctx, idx, host+"/dev/api:main")
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	dst, err := c.Copy(ctx, host+"/dev/api:main", host+"/prod/api")
	if err != nil {
		t.Fatal(err)
	}
	// A multi-platform release promoted within one registry: every
	// platform image's blobs are mounted, none uploaded.
	if st := counter.Stats(); st.UploadBytes != 0 || st.UploadsBegun != 0 || st.Mounts == 0 {
		t.Errorf("copying an index within one registry uploaded %d bytes in %d sessions (%d mounts), want 0 bytes, blobs mounted", st.UploadBytes, st.UploadsBegun, st.Mounts)
	}
	if dst.DigestStr() != src.DigestStr() {
		t.Fatalf("copied %s, want %s", dst.DigestStr(), src.DigestStr())
	}
	for _, img := range []v1.Image{amd, arm} {
		if ok, _ := c.Exists(ctx, host+"/prod/api@"+digestOf(t, img)); !ok {
			t.Errorf("platform image %s missing after copying the index", digestOf(t, img))
		}
	}
}

func TestCopyErrorsNameTheReference(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c := newClient(t)
	missing := host + "/dev/api@sha256:" + strings.Repeat("1", 64)
	_, err := c.Copy(ctx, missing, host+"/prod/api")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "check the repository name") {
		t.Fatalf("copy of a missing digest: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 {
		t.Errorf("want *Error with HTTP 404, got %#v", err)
	}
	if _, err := c.Copy(ctx, missing, host+"/prod/api:v1"); !errors.Is(err, ErrBadReference) {
		t.Errorf("copy to a tag instead of a repository: %v", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c := newClient(t)
	d, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 24}), host+"/app:old")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, d.String()); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists(ctx, d.String()); err != nil || ok {
		t.Errorf("after Delete, Exists = %v, %v", ok, err)
	}
	if err := c.Delete(ctx, d.String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}
