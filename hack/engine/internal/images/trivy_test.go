package images

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTrivyImage builds the aquasec/trivy recipe around a stand-in binary:
// the binary lands at /usr/local/bin/trivy (executable) over the busybox
// base, and the entrypoint is "trivy", as in Aqua's image.
func TestTrivyImage(t *testing.T) {
	if _, err := os.Stat(BusyboxBinary); err != nil {
		t.Skipf("%s is not installed (hack/setup.sh installs busybox-static)", BusyboxBinary)
	}
	b := &Builder{Cache: t.TempDir()}
	if _, err := b.trivyImage(context.Background()); err == nil || !strings.Contains(err.Error(), "hack/build.sh trivy") {
		t.Fatalf("without a binary: err = %v", err)
	}
	bin := filepath.Join(t.TempDir(), "trivy-0123456789ab")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho trivy stand-in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Trivy = bin
	img, err := b.trivyImage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"trivy"}) || cf.Config.Labels[LabelVersion] != TrivyVersion {
		t.Errorf("config: entrypoint %q, labels %v", cf.Config.Entrypoint, cf.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers: %d, %v (want busybox + trivy)", len(layers), err)
	}
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "usr/local/bin/trivy" {
			found = true
			body, _ := io.ReadAll(tr)
			if h.Mode&0o111 == 0 || string(body) != "#!/bin/sh\necho trivy stand-in\n" {
				t.Errorf("usr/local/bin/trivy: mode %o, content %q", h.Mode, body)
			}
		}
	}
	if !found {
		t.Error("the trivy layer has no usr/local/bin/trivy")
	}

	// Built again from the cache: the same image.
	again, err := b.trivyImage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("a cached rebuild changed the digest: %s then %s", d1, d2)
	}
}
