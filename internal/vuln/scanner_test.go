package vuln

// The real osv-scanner (built from the pinned module in hack/tools/osv-scanner
// by testutil.Tool) run offline against a small image seeded with vulnerable
// packages and a tiny OSV database written here. Its output is the fixture the
// parser's golden test reads (testdata/osv-scanner-image.json, refreshed with
// -update).

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/testutil"
)

// dpkgStatus is a Debian status file listing two installed packages whose
// versions the test database marks vulnerable.
const dpkgStatus = `Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Depends: libc6 (>= 2.14)
Description: compression library - runtime

Package: libslipdemo1
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12
Maintainer: Slipway Tests <tests@slipway.dev>
Architecture: amd64
Version: 2.0.1-3
Description: a library that exists only in slipway's scanner tests

`

const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// goStdlibVersions returns the toolchain's version (without "go") and the
// next patch release, the "fixed" version the test database gives the Go
// standard library, so that a binary built now is always vulnerable.
func goStdlibVersions(tb testing.TB) (installed, fixed string) {
	tb.Helper()
	v := strings.TrimPrefix(runtime.Version(), "go")
	if i := strings.IndexAny(v, " -"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		tb.Skipf("toolchain version %q is not a release version", runtime.Version())
	}
	patch, err := strconv.Atoi(parts[2])
	if err != nil {
		tb.Skipf("toolchain version %q is not a release version", runtime.Version())
	}
	return v, fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch+1)
}

// buildGoBinary compiles a tiny program; its embedded build information
// names the standard library version, which osv-scanner reports as the Go
// package "stdlib".
func buildGoBinary(tb testing.TB) []byte {
	tb.Helper()
	dir := tb.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"demo\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/demo\n\ngo 1.22\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "demo", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the demo binary: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type tarFile struct {
	name string
	mode int64
	body []byte
}

func layerOf(tb testing.TB, files ...tarFile) v1.Layer {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// seededImage is a two-layer Debian-like image: a base layer with a dpkg
// status file, and an application layer with a Go binary.
func seededImage(tb testing.TB) v1.Image {
	tb.Helper()
	base := layerOf(tb,
		tarFile{"etc/os-release", 0o644, []byte(osRelease)},
		tarFile{"etc/debian_version", 0o644, []byte("12.5\n")},
		tarFile{"var/lib/dpkg/status", 0o644, []byte(dpkgStatus)},
	)
	app := layerOf(tb, tarFile{"usr/local/bin/demo", 0o755, buildGoBinary(tb)})
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/usr/local/bin/demo"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// osvRecord is the part of the OSV schema the test database uses.
type osvRecord struct {
	SchemaVersion    string             `json:"schema_version"`
	ID               string             `json:"id"`
	Modified         string             `json:"modified"`
	Published        string             `json:"published,omitempty"`
	Aliases          []string           `json:"aliases,omitempty"`
	Summary          string             `json:"summary,omitempty"`
	Severity         []osvSeverityEntry `json:"severity,omitempty"`
	Affected         []osvAffected      `json:"affected"`
	DatabaseSpecific map[string]any     `json:"database_specific,omitempty"`
}

type osvSeverityEntry struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []osvRange `json:"ranges"`
}

type osvRange struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

func affected(eco, name, typ string, events ...map[string]string) osvAffected {
	var a osvAffected
	a.Package.Ecosystem, a.Package.Name = eco, name
	a.Ranges = []osvRange{{Type: typ, Events: events}}
	return a
}

// testDB returns the OSV records of the test database, by ecosystem.
func testDB(tb testing.TB) map[string][]osvRecord {
	tb.Helper()
	_, fixedGo := goStdlibVersions(tb)
	const mod = "2099-01-02T00:00:00Z"
	return map[string][]osvRecord{
		"Debian": {
			{SchemaVersion: "1.6.0", ID: "DEBIAN-CVE-2099-1001", Modified: mod, Aliases: []string{"CVE-2099-1001"},
				Summary:  "zlib: heap overflow in inflate (test record)",
				Severity: []osvSeverityEntry{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
				Affected: []osvAffected{affected("Debian:12", "zlib", "ECOSYSTEM", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1:1.2.13.dfsg-1+deb12u1"})}},
			{SchemaVersion: "1.6.0", ID: "DEBIAN-CVE-2099-1002", Modified: mod, Aliases: []string{"CVE-2099-1002"},
				Summary:  "libslipdemo: unfixed flaw without a severity (test record)",
				Affected: []osvAffected{affected("Debian:12", "libslipdemo1", "ECOSYSTEM", map[string]string{"introduced": "0"})}},
			{SchemaVersion: "1.6.0", ID: "DEBIAN-CVE-2099-1003", Modified: mod, Aliases: []string{"CVE-2099-1003"},
				Summary:  "zlib: flaw fixed before the installed version (must not be reported)",
				Severity: []osvSeverityEntry{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
				Affected: []osvAffected{affected("Debian:12", "zlib", "ECOSYSTEM", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1:1.2.11.dfsg-1"})}},
		},
		"Go": {
			{SchemaVersion: "1.6.0", ID: "GO-2099-0001", Modified: mod, Aliases: []string{"CVE-2099-2001", "GHSA-2099-slip-0001"},
				Summary:  "net/http: request smuggling (test record)",
				Severity: []osvSeverityEntry{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}},
				Affected: []osvAffected{affected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": fixedGo})}},
			{SchemaVersion: "1.6.0", ID: "GHSA-2099-slip-0001", Modified: mod, Aliases: []string{"CVE-2099-2001", "GO-2099-0001"},
				Summary:          "net/http: request smuggling (advisory copy)",
				DatabaseSpecific: map[string]any{"severity": "HIGH"},
				Affected:         []osvAffected{affected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": fixedGo})}},
			{SchemaVersion: "1.6.0", ID: "GO-2099-0002", Modified: mod, Aliases: []string{"CVE-2099-2002"},
				Summary:          "fmt: moderate flaw rated only by the database (test record)",
				DatabaseSpecific: map[string]any{"severity": "MODERATE"},
				Affected:         []osvAffected{affected("Go", "stdlib", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": fixedGo})}},
		},
	}
}

// writeOSVDB lays the records out as osv-scanner's offline database:
// DIR/osv-scalibr/<Ecosystem>/all.zip holding one <ID>.json per record.
func writeOSVDB(tb testing.TB, dir string, db map[string][]osvRecord) {
	tb.Helper()
	for eco, recs := range db {
		d := filepath.Join(dir, "osv-scalibr", eco)
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, r := range recs {
			w, err := zw.Create(r.ID + ".json")
			if err != nil {
				tb.Fatal(err)
			}
			if err := json.NewEncoder(w).Encode(r); err != nil {
				tb.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "all.zip"), buf.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestOSVScannerExperiment(t *testing.T) {
	bin := testutil.Tool(t, "osv-scanner")
	dir := t.TempDir()
	img := seededImage(t)
	docker := filepath.Join(dir, "docker.tar")
	registrytest.WriteDockerTarball(t, docker, "slipway.test/demo:latest", img)
	oci := filepath.Join(dir, "oci.tar")
	registrytest.WriteOCITarball(t, oci, img)
	db := filepath.Join(dir, "db")
	writeOSVDB(t, db, testDB(t))
	for _, archive := range []string{docker, oci} {
		for _, format := range []string{"json", "cyclonedx-1-6"} {
			cmd := exec.Command(bin, "scan", "image", "--offline", "--local-db-path", db, "--format", format, "--archive", archive)
			cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9"}
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			start := time.Now()
			err := cmd.Run()
			t.Logf("%s %s: err=%v in %s\nSTDERR:\n%s\nSTDOUT:\n%s", filepath.Base(archive), format, err, time.Since(start), e.String(), o.String())
		}
	}
}
