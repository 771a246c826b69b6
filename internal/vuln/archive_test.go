package vuln

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

func readDockerArchive(t *testing.T, file string) v1.Image {
	t.Helper()
	img, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		t.Fatalf("%s is not a docker archive: %v", file, err)
	}
	return img
}

func TestWriteDockerArchive(t *testing.T) {
	dir := t.TempDir()
	amd := registrytest.Image(t, registrytest.ImageSpec{Seed: 1})
	arm := registrytest.Image(t, registrytest.ImageSpec{Seed: 2, Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()

	single := filepath.Join(dir, "single.tar")
	registrytest.WriteOCITarball(t, single, amd)
	multi := filepath.Join(dir, "multi.tar")
	registrytest.WriteOCITarball(t, multi, registrytest.Index(t, amd, arm))
	docker := filepath.Join(dir, "docker.tar")
	registrytest.WriteDockerTarball(t, docker, "example.com/app:1", amd)

	gz := filepath.Join(dir, "single.tar.gz")
	raw, err := os.ReadFile(single)
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(gz, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, in, platform string
		want               v1.Hash
	}{
		{"OCI tarball", single, "", amdDigest},
		{"gzipped OCI tarball", gz, "", amdDigest},
		{"index, amd64", multi, "linux/amd64", amdDigest},
		{"index, arm64", multi, "linux/arm64/v8", armDigest},
		{"docker archive", docker, "", amdDigest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.tar")
			got, err := WriteDockerArchive(tc.in, out, tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want && tc.in != docker {
				t.Errorf("digest %s, want %s", got, tc.want)
			}
			img := readDockerArchive(t, out)
			// Same layers and config: the scanner sees the very image.
			wantImg := amd
			if tc.want == armDigest {
				wantImg = arm
			}
			gotCfg, _ := img.ConfigName()
			wantCfg, _ := wantImg.ConfigName()
			gotLayers, _ := img.Layers()
			wantLayers, _ := wantImg.Layers()
			if gotCfg != wantCfg || len(gotLayers) != len(wantLayers) {
				t.Errorf("config %s (want %s), %d layers (want %d)", gotCfg, wantCfg, len(gotLayers), len(wantLayers))
			}
			for i := range gotLayers {
				a, _ := gotLayers[i].DiffID()
				b, _ := wantLayers[i].DiffID()
				if a != b {
					t.Errorf("layer %d: %s, want %s", i, a, b)
				}
			}
			if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("temporary file left behind: %v", err)
			}
		})
	}

	bad := func(name string, entries map[string]string) string {
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for n, body := range entries {
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			tw.Write([]byte(body))
		}
		tw.Close()
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, in, platform, want string
	}{
		{"index without platform", multi, "", "2 images in the archive: say which platform to scan"},
		{"absent platform", multi, "linux/s390x", "no image for platform linux/s390x (2 image(s) in the archive)"},
		{"bad platform", multi, "linux//", "platform"},
		{"not an image archive", bad("other.tar", map[string]string{"hello.txt": "hi"}), "", "has neither index.json (OCI layout) nor manifest.json"},
		{"escaping entry", bad("escape.tar", map[string]string{"index.json": "{}", "../../evil": "x"}), "", `entry "../../evil" points outside the archive`},
		{"absent file", filepath.Join(dir, "absent.tar"), "", "opening the image archive"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.tar")
			_, err := WriteDockerArchive(tc.in, out, tc.platform)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error")
			}
		})
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("x"), 0o644)
	if _, err := WriteDockerArchive(short, filepath.Join(dir, "o.tar"), ""); !errors.Is(err, ErrBadArchive) {
		t.Errorf("one-byte file: %v", err)
	}
}
