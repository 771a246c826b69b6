package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// TestSBOM writes the SBOM of an image holding a dpkg database and checks
// the document, then the command's refusals.
func TestSBOM(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=12\n",
		"var/lib/dpkg/status": "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	tw.Close()
	l, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "image.tar"), filepath.Join(dir, "bom.json")
	registrytest.WriteOCITarball(t, in, img)
	code, _, stderr := runCmd(t, "sbom", "--in", in, "--out", out, "--name", "registry:5000/shop/api:"+testCommit, "--timestamp", "2026-11-21T10:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	d, _ := img.Digest()
	if !strings.Contains(stderr, "sbom of "+d.String()+": 2 components (deb 1, operating-system 1)") {
		t.Errorf("stderr: %s", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat, SpecVersion string
		Metadata               struct {
			Timestamp string
			Component struct{ PURL string }
		}
		Components []struct{ PURL string }
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Timestamp != "2026-11-21T10:00:00Z" ||
		!strings.HasPrefix(bom.Metadata.Component.PURL, "pkg:oci/api@sha256%3A"+d.Hex) ||
		len(bom.Components) != 2 || bom.Components[1].PURL != "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12" {
		t.Errorf("SBOM:\n%s", b)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sbom"}, 2, "-in is required"},
		{[]string{"sbom", "--in", in, "--timestamp", "yesterday"}, 2, `-timestamp "yesterday" is not an RFC 3339 time`},
		{[]string{"sbom", "--in", filepath.Join(dir, "none.tar")}, 1, "opening the image archive"},
		{[]string{"sbom", "--in", in, "--name", "UPPER/case"}, 1, `image name "UPPER/case"`},
		{[]string{"sbom", "--in", out}, 1, "SBOM of " + out},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
