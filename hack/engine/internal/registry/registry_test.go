package registry

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestSurvivesRestart pushes an image, deletes one tag, reopens the state
// directory in a new handler and reads the image back by tag and digest.
func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	quiet := log.New(io.Discard, "", 0)

	h1, err := New(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s1 := httptest.NewServer(h1)
	host := strings.TrimPrefix(s1.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	keep, _ := name.ParseReference(host + "/library/busybox:1.37")
	gone, _ := name.ParseReference(host + "/library/busybox:old")
	for _, ref := range []name.Reference{keep, gone} {
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
	}
	if err := remote.Delete(gone); err != nil {
		t.Fatalf("deleting %s: %v", gone, err)
	}
	s1.Close()
	h1.Close()

	h2, err := New(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	s2 := httptest.NewServer(h2)
	defer s2.Close()
	host2 := strings.TrimPrefix(s2.URL, "http://")

	ref, _ := name.ParseReference(host2 + "/library/busybox:1.37")
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("reading %s after restart: %v", ref, err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("digest after restart = %s, want %s", d, want)
	}
	// Layers come from the disk blob store.
	if _, err := got.Layers(); err != nil {
		t.Fatal(err)
	}
	byDigest, _ := name.ParseReference(host2 + "/library/busybox@" + want.String())
	if _, err := remote.Head(byDigest); err != nil {
		t.Fatalf("head by digest after restart: %v", err)
	}
	oldRef, _ := name.ParseReference(host2 + "/library/busybox:old")
	if _, err := remote.Head(oldRef); err == nil {
		t.Fatalf("deleted tag %s came back after restart", oldRef)
	}
}
