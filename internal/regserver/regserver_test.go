package regserver

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func serve(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, strings.TrimPrefix(ts.URL, "http://")
}

func TestContentSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	_, host := serve(t, dir)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/shop/orders:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if err := crane.Tag(host+"/shop/orders:v1", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := crane.Delete(host + "/shop/orders:v2"); err != nil {
		t.Fatal(err)
	}

	// A second server over the same directory sees the same content.
	s2, host2 := serve(t, dir)
	if s2.Replayed != 3 {
		t.Errorf("replayed %d records, want 3 (put, tag, delete)", s2.Replayed)
	}
	got, err := crane.Digest(host2 + "/shop/orders:v1")
	if err != nil {
		t.Fatalf("image lost across restart: %v", err)
	}
	if got != want.String() {
		t.Fatalf("digest %s, want %s", got, want)
	}
	if _, err := crane.Digest(host2 + "/shop/orders:v2"); err == nil {
		t.Fatal("deleted tag came back after restart")
	}
	pulled, err := crane.Pull(host2 + "/shop/orders@" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	if layers, _ := pulled.Layers(); len(layers) != 2 {
		t.Fatalf("pulled %d layers", len(layers))
	}
}

func TestTornJournalTailIsDropped(t *testing.T) {
	dir := t.TempDir()
	_, host := serve(t, dir)
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(host + "/a/b:t")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(dir, "manifests.journal")
	f, _ := os.OpenFile(j, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"method":"PUT","pa`)
	f.Close()
	_, host2 := serve(t, dir)
	if _, err := crane.Digest(host2 + "/a/b:t"); err != nil {
		t.Fatalf("image lost after a torn journal tail: %v", err)
	}
}

func TestCorruptJournalIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "manifests.journal"), []byte("garbage\n{\"method\":\"PUT\"}\n"), 0o644)
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "manifests.journal at byte 0: corrupt journal record") {
		t.Fatalf("Open on a corrupt journal: %v", err)
	}
}

func TestTwoInstancesShareOneDirectory(t *testing.T) {
	dir := t.TempDir()
	_, a := serve(t, dir)
	_, b := serve(t, dir)
	img, _ := random.Image(256, 1)
	ref, _ := name.ParseReference(a + "/shop/api:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	// The other instance sees the push, and its own tag is seen by the first.
	if got, err := crane.Digest(b + "/shop/api:v1"); err != nil || got != want.String() {
		t.Fatalf("second instance: %s, %v", got, err)
	}
	if err := crane.Tag(b+"/shop/api:v1", "v2"); err != nil {
		t.Fatal(err)
	}
	if got, err := crane.Digest(a + "/shop/api:v2"); err != nil || got != want.String() {
		t.Fatalf("first instance does not see the second's tag: %s, %v", got, err)
	}
	// A restart replays both instances' writes once each.
	s3, c := serve(t, dir)
	if s3.Replayed != 2 {
		t.Errorf("replayed %d records, want 2", s3.Replayed)
	}
	if tags, err := crane.ListTags(c + "/shop/api"); err != nil || len(tags) != 2 {
		t.Fatalf("tags after restart: %v, %v", tags, err)
	}
}

func TestWriteAfterTornTail(t *testing.T) {
	dir := t.TempDir()
	_, host := serve(t, dir)
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(host + "/a/b:one")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, "manifests.journal"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"method":"PUT","pa`)
	f.Close()
	_, host2 := serve(t, dir)
	if err := crane.Tag(host2+"/a/b:one", "two"); err != nil {
		t.Fatal(err)
	}
	s3, host3 := serve(t, dir)
	if s3.Replayed != 2 {
		t.Errorf("replayed %d, want 2 (the torn line skipped)", s3.Replayed)
	}
	if _, err := crane.Digest(host3 + "/a/b:two"); err != nil {
		t.Fatalf("write after a torn tail lost: %v", err)
	}
}
