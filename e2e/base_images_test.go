package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/internal/report"
)

// e2eBase pushes a base image of this test's own into the engine's
// docker.io mirror: a copy of golang:1.26-alpine under a unique name (the
// mirror is shared by every test, so no tag another test uses is touched).
// It returns the name a Dockerfile uses, the mirror's reference and the
// digest.
func e2eBase(t *testing.T) (from, mirrored, digest string) {
	t.Helper()
	reg := os.Getenv("SLIPWAY_LOCAL_REGISTRY")
	if reg == "" {
		t.Skip("SLIPWAY_LOCAL_REGISTRY is not set (the harness sets it: the engine's docker.io mirror)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "slipway-e2e-base-" + hex.EncodeToString(b)
	from, mirrored = name+":1", reg+"/library/"+name+":1"
	if err := crane.Copy(reg+"/library/golang:1.26-alpine", mirrored); err != nil {
		t.Fatalf("copying golang:1.26-alpine to %s: %v", mirrored, err)
	}
	d, err := crane.Digest(mirrored)
	if err != nil {
		t.Fatal(err)
	}
	return from, mirrored, d
}

// moveBase points the tag at a different image: the same one with one more
// layer (as when a base image is patched upstream under the same tag).
func moveBase(t *testing.T, mirrored string) string {
	t.Helper()
	img, err := crane.Pull(mirrored)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("patched\n")
	tw.WriteHeader(&tar.Header{Name: "etc/slipway-e2e-patched", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }, tarball.WithMediaType(layerType))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(moved, mirrored); err != nil {
		t.Fatal(err)
	}
	d, err := crane.Digest(mirrored)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestModuleRebuildsWhatAMovedBaseImageBuilds: orders builds on a base image
// of the test's own; when its tag moves to a new image, the next ci rebuilds
// orders, and only orders. The plan records every base image with the
// digest it resolved to. The run has no vulnerability database and dev
// asks for no scan: ci passes, and the report says the images were not
// scanned.
func TestModuleRebuildsWhatAMovedBaseImageBuilds(t *testing.T) {
	r := newSlipwayRun(t)
	from, mirrored, first := e2eBase(t)
	r.edit("services/orders/Dockerfile", func(s string) string {
		out := strings.Replace(s, " golang:1.26-alpine AS build", " "+from+" AS build", 1)
		if out == s {
			t.Fatalf("orders' Dockerfile has no FROM … golang:1.26-alpine AS build:\n%s", s)
		}
		return out
	})
	r.commit("orders builds on " + from)

	out := r.mustCall("ci")
	rep := r.lastReport()
	for _, s := range rep.Services {
		if s.Status != report.Built {
			t.Fatalf("first run: %s is %s:\n%s", s.Name, s.Status, rep.Text())
		}
		if !strings.HasPrefix(s.Scan, "not scanned: no osv-scanner vulnerability database") {
			t.Errorf("%s: scan %q, want not scanned with the reason", s.Name, s.Scan)
		}
	}
	if !strings.Contains(out, "not scanned") || !strings.Contains(strings.Join(rep.Notes, "\n"), "were not scanned for vulnerabilities") {
		t.Errorf("the output or the notes do not say the images were not scanned:\n%s\nnotes: %q", tail(out, 20), rep.Notes)
	}
	orders := byName(rep)["orders"]
	reg := r.exposeRegistry()
	r.checkProvenanceBase(reg, orders, from, first)

	list := r.mustCall("services")
	if !strings.Contains(list, "FROM "+from+" ("+first+")") {
		t.Errorf("services does not show orders' base image at %s:\n%s", first, tail(list, 20))
	}

	// Nothing changed: everything is reused.
	r.mustCall("ci")
	for _, s := range r.lastReport().Services {
		if s.Status != report.Reused {
			t.Fatalf("a rerun without changes: %s is %s", s.Name, s.Status)
		}
	}

	moved := moveBase(t, mirrored)
	if moved == first {
		t.Fatal("the tag did not move")
	}
	// On the same commit the rebuild may not move the commit's tag (that
	// needs --force); the next commit's ci rebuilds orders alone.
	out, err := r.call("ci")
	if err == nil || !strings.Contains(out, "the commit's tag already names another image") || !strings.Contains(out, "--force") {
		t.Errorf("ci on the same commit after the base moved (err=%v): the commit tag guard did not speak:\n%s", err, tail(out, 30))
	}
	r.git("commit", "-q", "--allow-empty", "-m", "the next commit")
	r.mustCall("ci")
	rep = r.lastReport()
	got := byName(rep)
	if got["orders"].Status != report.Built || got["orders"].InputDigest == orders.InputDigest {
		t.Errorf("orders after its base image moved: %s, inputs %s (before %s)", got["orders"].Status, got["orders"].InputDigest, orders.InputDigest)
	}
	for _, name := range []string{"catalog", "notify"} {
		if got[name].Status != report.Reused {
			t.Errorf("%s was %s although its base images did not move", name, got[name].Status)
		}
	}
	r.checkProvenanceBase(reg, got["orders"], from, moved)
}

// checkProvenanceBase checks that the SLSA provenance of a built service
// records the base image at want (the digest the plan resolved).
func (r *slipwayRun) checkProvenanceBase(reg string, s report.Service, from, want string) {
	r.t.Helper()
	st := r.provenanceOf(strings.Replace(s.Repository, "registry:5000", reg, 1), s.Name, s.Digest)
	name, tag, _ := strings.Cut(from, ":")
	uri := "pkg:docker/" + name + "@" + tag
	for _, d := range st {
		if d.URI == uri && "sha256:"+strings.TrimPrefix(d.Digest["sha256"], "sha256:") == want {
			return
		}
	}
	r.t.Errorf("the provenance of %s does not record %s at %s: %+v", s.Name, uri, want, st)
}
