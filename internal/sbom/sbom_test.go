package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// entry is one file of a test layer.
type entry struct {
	name string
	mode int64
	body string
	typ  byte // default: regular file
	link string
}

func layer(tb testing.TB, entries ...entry) v1.Layer {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link, ModTime: time.Unix(0, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func image(tb testing.TB, layers ...v1.Layer) v1.Image {
	tb.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// goBinary compiles testdata/gobin and returns its bytes and the version of
// the Go toolchain that built it.
func goBinary(tb testing.TB) (bin []byte, goVer string) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "gobin")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", out, "./testdata/gobin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./testdata/gobin: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		tb.Fatal(err)
	}
	return bin, goVersion(strings.TrimSpace(string(v)))
}

const dpkgStatus = `Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy.

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries

Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5+deb12u1)
Version: 1:2.38.1-5+deb12u1

Package: old-config
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`

// The upper layer's status: apt removed tzdata.
const dpkgStatusAfterRemove = `Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4

Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5+deb12u1)
Version: 1:2.38.1-5+deb12u1
`

// debianBase is a layer with something of every kind slipway reads.
func debianBase(tb testing.TB, gobin []byte) v1.Layer {
	return layer(tb,
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/os-release", typ: tar.TypeSymlink, link: "../usr/lib/os-release"},
		entry{name: "usr/lib/os-release", body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"},
		entry{name: "etc/debian_version", body: "12.5\n"},
		entry{name: "var/lib/dpkg/status", body: dpkgStatus},
		entry{name: "var/lib/dpkg/status.d/zlib1g", body: "Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n"},
		entry{name: "var/lib/dpkg/status.d/zlib1g.md5sums", body: "d41d8cd98f00b204e9800998ecf8427e  lib/x86_64-linux-gnu/libz.so.1\n"},
		entry{name: "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", body: "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nSummary: Python 2 and 3 compatibility utilities\nLicense: MIT\nDescription: long\n  folded\n\nThe body: Name: not-this\n"},
		entry{name: "usr/lib/python3/dist-packages/Foo_Bar.egg-info/PKG-INFO", body: "Metadata-Version: 1.1\nName: Foo_Bar\nVersion: 0.1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\nClassifier: Programming Language :: Python\n"},
		entry{name: "usr/local/lib/python3.11/site-packages/attrs-23.2.0.dist-info/METADATA", body: "Metadata-Version: 2.3\nName: attrs\nVersion: 23.2.0\nLicense-Expression: MIT\n"},
		entry{name: "app/node_modules/left-pad/package.json", body: `{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}`},
		entry{name: "app/node_modules/left-pad/test/package.json", body: `not json: a fixture, not a package`},
		entry{name: "app/node_modules/@types/node/package.json", body: `{"name": "@types/node", "version": "20.1.0", "license": {"type": "MIT"}}`},
		entry{name: "app/node_modules/nover/package.json", body: `{"name": "nover"}`},
		entry{name: "app/node_modules/ms/node_modules/debug/package.json", body: `{"name": "debug", "version": "2.6.9", "licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}`},
		entry{name: "app/package.json", body: `{"name": "app", "version": "0.1.0"}`},
		entry{name: "usr/local/bin/gobin", mode: 0o755, body: string(gobin)},
		entry{name: "usr/bin/notgo", mode: 0o755, body: "\x7fELF" + strings.Repeat("\x00", 200)},
		entry{name: "usr/bin/script", mode: 0o755, body: "#!/bin/sh\necho " + strings.Repeat("x", 100) + "\n"},
	)
}

// row renders the parts of a component the tests compare.
func row(c Component) string {
	var lic []string
	for _, l := range c.Licenses {
		if l.Expression != "" {
			lic = append(lic, "expr:"+l.Expression)
		} else {
			lic = append(lic, l.License.Name)
		}
	}
	var locs []string
	if c.Evidence != nil {
		for _, o := range c.Evidence.Occurrences {
			locs = append(locs, o.Location)
		}
	}
	return fmt.Sprintf("%s %s %s@%s [%s] %s", c.Type, c.BOMRef, c.Name, c.Version, strings.Join(lic, ","), strings.Join(locs, ","))
}

func rows(b *BOM) []string {
	out := make([]string, len(b.Components))
	for i, c := range b.Components {
		out[i] = row(c)
	}
	return out
}

func diff(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	t.Errorf("components:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
}

var stamp = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestFromArchiveFindsEveryKindOfPackage(t *testing.T) {
	bin, gover := goBinary(t)
	img := image(t, debianBase(t, bin))
	file := filepath.Join(t.TempDir(), "image.tar")
	registrytest.WriteOCITarball(t, file, img)
	bom, err := FromArchive(context.Background(), file, WithName("registry:5000/shop/orders:abc123"), WithTimestamp(stamp), WithToolVersion("v1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	gobin := "/usr/local/bin/gobin"
	stdlib := "pkg:golang/stdlib@" + gover
	diff(t, rows(bom), []string{
		"operating-system os:debian@12 debian@12 [] ",
		"library pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12 base-files@12.4+deb12u5 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=util-linux bsdutils@1:2.38.1-5+deb12u1 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc libc6@2.36-9+deb12u4 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12 tzdata@2024a-0+deb12u1 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib zlib1g@1:1.2.13.dfsg-1 [] /var/lib/dpkg/status.d/zlib1g",
		"application pkg:golang/github.com/slipwayci/slipway github.com/slipwayci/slipway@(devel) [] " + gobin,
		"library pkg:golang/golang.org/x/mod@v0.38.0 golang.org/x/mod@v0.38.0 [] " + gobin,
		"library " + stdlib + " stdlib@" + gover + " [] " + gobin,
		"library pkg:npm/%40types/node@20.1.0 @types/node@20.1.0 [MIT] /app/node_modules/@types/node/package.json",
		"library pkg:npm/debug@2.6.9 debug@2.6.9 [expr:MIT OR Apache-2.0] /app/node_modules/ms/node_modules/debug/package.json",
		"library pkg:npm/left-pad@1.3.0 left-pad@1.3.0 [WTFPL] /app/node_modules/left-pad/package.json",
		"library pkg:pypi/attrs@23.2.0 attrs@23.2.0 [MIT] /usr/local/lib/python3.11/site-packages/attrs-23.2.0.dist-info/METADATA",
		"library pkg:pypi/foo-bar@0.1 Foo_Bar@0.1 [BSD License] /usr/lib/python3/dist-packages/Foo_Bar.egg-info/PKG-INFO",
		"library pkg:pypi/six@1.16.0 six@1.16.0 [MIT] /usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
	})
	if len(bom.Dependencies) != 1 || bom.Dependencies[0].Ref != "pkg:golang/github.com/slipwayci/slipway" ||
		strings.Join(bom.Dependencies[0].DependsOn, " ") != "pkg:golang/golang.org/x/mod@v0.38.0 "+stdlib {
		t.Errorf("dependencies: %+v", bom.Dependencies)
	}
	d, _ := img.Digest()
	m := bom.Metadata
	wantPURL := "pkg:oci/orders@sha256%3A" + d.Hex + "?arch=amd64&repository_url=registry%3A5000%2Fshop%2Forders&tag=abc123"
	if m.Timestamp != "2026-11-21T10:00:00Z" || m.Component == nil || m.Component.PURL != wantPURL || m.Component.BOMRef != wantPURL ||
		m.Component.Type != "container" || m.Component.Name != "registry:5000/shop/orders" || m.Component.Version != d.String() {
		t.Errorf("metadata: %+v, component %+v; want purl %s", m, m.Component, wantPURL)
	}
	if len(m.Tools.Components) != 1 || m.Tools.Components[0].Name != "slipway" || m.Tools.Components[0].Version != "v1.2.3" {
		t.Errorf("tools: %+v", m.Tools)
	}
	js, err := bom.JSON()
	if err != nil {
		t.Fatal(err)
	}
	info, err := provenance.CheckCycloneDX(js)
	if err != nil || info.Components != len(bom.Components) || info.SpecVersion != "1.6" {
		t.Errorf("the BOM does not pass the attestation gate: %+v %v", info, err)
	}
	if !bytes.HasPrefix(js, []byte("{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.6\",\n  \"serialNumber\": \"urn:uuid:")) {
		t.Errorf("JSON starts:\n%.200s", js)
	}
}

func TestUpperLayersRemovePackages(t *testing.T) {
	bin, _ := goBinary(t)
	upper := layer(t,
		// apt remove tzdata rewrites the status file.
		entry{name: "var/lib/dpkg/status", body: dpkgStatusAfterRemove},
		// A distroless package deleted, a node module deleted.
		entry{name: "var/lib/dpkg/status.d/.wh.zlib1g", mode: 0o644},
		entry{name: "app/node_modules/.wh.left-pad", mode: 0o644},
		// The Go binary deleted, then its directory replaced by a file.
		entry{name: "usr/local/bin/.wh.gobin"},
		entry{name: "app/node_modules/ms", body: "a file where a directory was"},
		// dist-packages emptied and refilled (an opaque directory).
		entry{name: "usr/lib/python3/dist-packages/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "usr/lib/python3/dist-packages/.wh..wh..opq"},
		entry{name: "usr/lib/python3/dist-packages/six-1.17.0.dist-info/METADATA", body: "Name: six\nVersion: 1.17.0\n"},
	)
	// The top layer brings a package back in the deleted node module's place.
	top := layer(t, entry{name: "app/node_modules/left-pad/package.json", body: `{"name": "left-pad", "version": "1.3.1"}`})
	img := image(t, debianBase(t, bin), upper, top)
	bom, err := FromImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, rows(bom), []string{
		"operating-system os:debian@12 debian@12 [] ",
		"library pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12 base-files@12.4+deb12u5 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=util-linux bsdutils@1:2.38.1-5+deb12u1 [] /var/lib/dpkg/status",
		"library pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc libc6@2.36-9+deb12u4 [] /var/lib/dpkg/status",
		"library pkg:npm/%40types/node@20.1.0 @types/node@20.1.0 [MIT] /app/node_modules/@types/node/package.json",
		"library pkg:npm/left-pad@1.3.1 left-pad@1.3.1 [] /app/node_modules/left-pad/package.json",
		"library pkg:pypi/attrs@23.2.0 attrs@23.2.0 [MIT] /usr/local/lib/python3.11/site-packages/attrs-23.2.0.dist-info/METADATA",
		"library pkg:pypi/six@1.17.0 six@1.17.0 [] /usr/lib/python3/dist-packages/six-1.17.0.dist-info/METADATA",
	})
	if len(bom.Dependencies) != 0 || bom.Metadata.Timestamp != "" {
		t.Errorf("dependencies %+v, timestamp %q", bom.Dependencies, bom.Metadata.Timestamp)
	}
}

func TestAlpineFromDockerSaveArchive(t *testing.T) {
	img := image(t, layer(t,
		entry{name: "etc/os-release", body: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.22.1\n"},
		entry{name: "etc/alpine-release", body: "3.22.1\n"},
		entry{name: "lib/apk/db/installed", body: "C:Q1abc=\nP:musl\nV:1.2.5-r10\nA:x86_64\nS:407000\nL:MIT\no:musl\nm:Maintainer <m@example.org>\nF:lib\nR:libc.musl-x86_64.so.1\n\n" +
			"P:busybox\nV:1.37.0-r18\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n" +
			"P:ssl_client\nV:1.37.0-r18\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n" +
			"P:libcrypto3\nV:3.5.1-r0\nA:x86_64\nL:Apache-2.0 AND MIT\no:openssl\n"},
	))
	file := filepath.Join(t.TempDir(), "image.tar")
	registrytest.WriteDockerTarball(t, file, "example.org/alpine:3.22", img)
	bom, err := FromArchive(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, rows(bom), []string{
		"operating-system os:alpine@3.22.1 alpine@3.22.1 [] ",
		"library pkg:apk/alpine/busybox@1.37.0-r18?arch=x86_64&distro=alpine-3.22.1 busybox@1.37.0-r18 [GPL-2.0-only] /lib/apk/db/installed",
		"library pkg:apk/alpine/libcrypto3@3.5.1-r0?arch=x86_64&distro=alpine-3.22.1&upstream=openssl libcrypto3@3.5.1-r0 [expr:Apache-2.0 AND MIT] /lib/apk/db/installed",
		"library pkg:apk/alpine/musl@1.2.5-r10?arch=x86_64&distro=alpine-3.22.1 musl@1.2.5-r10 [MIT] /lib/apk/db/installed",
		"library pkg:apk/alpine/ssl_client@1.37.0-r18?arch=x86_64&distro=alpine-3.22.1&upstream=busybox ssl_client@1.37.0-r18 [GPL-2.0-only] /lib/apk/db/installed",
	})
	// A docker save archive keeps no manifest: the digest is that of the
	// manifest go-containerregistry writes for it.
	if c := bom.Metadata.Component; !strings.HasPrefix(c.Name, "sha256:") || c.Version != c.Name || c.PURL != "" || c.BOMRef != c.Name {
		t.Errorf("an unnamed image: %+v", c)
	}
}

func TestSameImageSameBytes(t *testing.T) {
	bin, _ := goBinary(t)
	img := image(t, debianBase(t, bin))
	var out [][]byte
	for i := 0; i < 2; i++ {
		bom, err := FromImage(context.Background(), img, WithName("example.org/a/b:1"), WithTimestamp(stamp))
		if err != nil {
			t.Fatal(err)
		}
		b, err := bom.JSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Error("two BOMs of one image differ")
	}
	other, err := FromImage(context.Background(), img, WithName("example.org/a/b:1"), WithTimestamp(stamp.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if other.SerialNumber == "" || strings.Contains(string(out[0]), other.SerialNumber) {
		t.Errorf("another timestamp kept the serial number %s", other.SerialNumber)
	}
}

func TestMalformedFilesAreNamed(t *testing.T) {
	for name, tc := range map[string]struct {
		entries []entry
		want    string
	}{
		"dpkg status": {[]entry{{name: "var/lib/dpkg/status", body: "Package: a\nVersion: 1\n\nthis is not a field\n"}},
			`/var/lib/dpkg/status: line 4: "this is not a field" is not a field`},
		"dpkg without a version": {[]entry{{name: "var/lib/dpkg/status", body: "Package: a\nStatus: install ok installed\n"}},
			"/var/lib/dpkg/status: line 1: package a has no Version"},
		"status.d continuation": {[]entry{{name: "./var/lib/dpkg/status.d/x", body: " continued\n"}},
			"/var/lib/dpkg/status.d/x: line 1: continuation line outside a field"},
		"apk": {[]entry{{name: "lib/apk/db/installed", body: "P:musl\nV:1\n\nbroken\n"}},
			`/lib/apk/db/installed: line 4: "broken" is not a K:value field`},
		"package.json": {[]entry{{name: "srv/node_modules/x/package.json", body: "{"}},
			"/srv/node_modules/x/package.json: not a JSON object"},
		"METADATA": {[]entry{{name: "lib/x-1.dist-info/METADATA", body: "Name: x\n"}},
			"/lib/x-1.dist-info/METADATA: no Name or Version field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FromImage(context.Background(), image(t, layer(t, tc.entries...)))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}

func TestOptionsAreChecked(t *testing.T) {
	img := image(t, layer(t, entry{name: "etc/debian_version", body: "12.5\n"}))
	if _, err := FromImage(context.Background(), img, WithName("Not A Reference")); err == nil || !strings.Contains(err.Error(), `image name "Not A Reference"`) {
		t.Errorf("a bad name: %v", err)
	}
	other := "example.org/ab@sha256:" + strings.Repeat("0", 64)
	if _, err := FromImage(context.Background(), img, WithName(other)); err == nil || !strings.Contains(err.Error(), "names another digest") {
		t.Errorf("a digest reference to another image: %v", err)
	}
	d, _ := img.Digest()
	bom, err := FromImage(context.Background(), img, WithName("example.org/ab@"+d.String()))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pkg:oci/ab@sha256%3A" + d.Hex + "?arch=amd64&repository_url=example.org%2Fab"; bom.Metadata.Component.PURL != want {
		t.Errorf("purl %s, want %s", bom.Metadata.Component.PURL, want)
	}
	bom2, err := FromImage(context.Background(), img, WithName("example.org/ab"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pkg:oci/ab@sha256%3A" + d.Hex + "?arch=amd64&repository_url=example.org%2Fab"; bom2.Metadata.Component.PURL != want {
		t.Errorf("untagged name: purl %s, want %s (no implied latest)", bom2.Metadata.Component.PURL, want)
	}
	// etc/debian_version alone says Debian.
	diff(t, rows(bom), []string{"operating-system os:debian@12.5 debian@12.5 [] "})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FromImage(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v", err)
	}
}

func TestIndexListsEveryPlatform(t *testing.T) {
	a := image(t, layer(t, entry{name: "app/node_modules/a/package.json", body: `{"name":"a","version":"1.0.0"}`}))
	b := image(t, layer(t, entry{name: "app/node_modules/b/package.json", body: `{"name":"b","version":"2.0.0"}`}))
	cf, _ := b.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture = "arm64"
	b, _ = mutate.ConfigFile(b, cf)
	idx := registrytest.Index(t, a, b)
	file := filepath.Join(t.TempDir(), "index.tar")
	registrytest.WriteOCITarball(t, file, idx)
	bom, err := FromArchive(context.Background(), file, WithName("example.org/multi:1"))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, rows(bom), []string{
		"library pkg:npm/a@1.0.0 a@1.0.0 [] /app/node_modules/a/package.json",
		"library pkg:npm/b@2.0.0 b@2.0.0 [] /app/node_modules/b/package.json",
	})
	d, _ := idx.Digest()
	if bom.Metadata.Component.Version != d.String() || strings.Contains(bom.Metadata.Component.PURL, "arch=") {
		t.Errorf("the index's component: %+v", bom.Metadata.Component)
	}
}

func TestNotAnArchive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(file, []byte("hello"), 0o644)
	if _, err := FromArchive(context.Background(), file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("got %v", err)
	}
}
