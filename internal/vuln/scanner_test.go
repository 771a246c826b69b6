package vuln

// The real osv-scanner (built from the pinned module in hack/tools/osv-scanner
// by testutil.Tool) run offline against a small image seeded with vulnerable
// packages and a tiny OSV database written here. Its output is the fixture the
// parser's golden test reads (testdata/osv-scanner-image.json, refreshed with
// -update).

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/slipwayci/slipway/internal/vuln/vulntest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
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

// The OSV records of the test database (see internal/vuln/vulntest).
type (
	osvRecord        = vulntest.Record
	osvSeverityEntry = vulntest.SeverityEntry
	osvAffected      = vulntest.Affected
)

func affected(eco, name, typ string, events ...map[string]string) osvAffected {
	return vulntest.NewAffected(eco, name, typ, events...)
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
				Severity: []osvSeverityEntry{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
				Affected: []osvAffected{affected("Debian:12", "zlib", "ECOSYSTEM", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1:1.2.13.dfsg-1+deb12u1"})}},
			{SchemaVersion: "1.6.0", ID: "DEBIAN-CVE-2099-1002", Modified: mod, Aliases: []string{"CVE-2099-1002"},
				Summary:  "libslipdemo: unfixed flaw without a severity (test record)",
				Affected: []osvAffected{affected("Debian:12", "libslipdemo1", "ECOSYSTEM", map[string]string{"introduced": "0"})}},
			{SchemaVersion: "1.6.0", ID: "DEBIAN-CVE-2099-1003", Modified: mod, Aliases: []string{"CVE-2099-1003"},
				Summary:  "zlib: flaw fixed before the installed version (must not be reported)",
				Severity: []osvSeverityEntry{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
				Affected: []osvAffected{affected("Debian:12", "zlib", "ECOSYSTEM", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1:1.2.11.dfsg-1"})}},
		},
		"Go": {
			{SchemaVersion: "1.6.0", ID: "GO-2099-0001", Modified: mod, Aliases: []string{"CVE-2099-2001", "GHSA-2099-slip-0001"},
				Summary:  "net/http: request smuggling (test record)",
				Severity: []osvSeverityEntry{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}},
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

// writeOSVDB lays the records out as osv-scanner's offline database.
func writeOSVDB(tb testing.TB, dir string, db map[string][]osvRecord) {
	tb.Helper()
	if err := vulntest.WriteOSVDB(dir, db); err != nil {
		tb.Fatal(err)
	}
}

// osvEnv keeps osv-scanner on this machine: its own home and a dead proxy,
// so that any attempt to reach the network fails at once.
func osvEnv(home string) []string {
	return []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=",
	}
}

// runOSVScanner scans archive offline against the database in db and
// returns stdout, stderr and the exit code.
func runOSVScanner(tb testing.TB, db, archive, format string) (stdout, stderr []byte, code int) {
	tb.Helper()
	bin := testutil.Tool(tb, "osv-scanner")
	cmd := exec.Command(bin, "scan", "image", "--offline", "--local-db-path", db, "--format", format, "--archive", archive)
	cmd.Env = osvEnv(tb.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		tb.Fatalf("running osv-scanner: %v", err)
	}
	tb.Logf("osv-scanner --format %s: exit %d in %s", format, code, time.Since(start).Round(time.Millisecond))
	return o.Bytes(), e.Bytes(), code
}

// scannableImage writes the seeded image as Dagger writes it (an OCI layout
// tarball) and converts it with WriteDockerArchive, as the pipeline does
// before running osv-scanner.
func scannableImage(tb testing.TB, img v1.Image) string {
	tb.Helper()
	dir := tb.TempDir()
	oci := filepath.Join(dir, "image.tar")
	registrytest.WriteOCITarball(tb, oci, img)
	docker := filepath.Join(dir, "docker.tar")
	want, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	got, err := WriteDockerArchive(oci, docker, "")
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Fatalf("WriteDockerArchive returned digest %s, the image is %s", got, want)
	}
	return docker
}

// TestOSVScannerOfflineFindsTheSeededVulnerabilities runs the real scanner
// and checks what slipway makes of its report: the fixture the golden test
// reads is this output (refreshed with -update).
func TestOSVScannerOfflineFindsTheSeededVulnerabilities(t *testing.T) {
	img := seededImage(t)
	archive := scannableImage(t, img)
	db := t.TempDir()
	writeOSVDB(t, db, testDB(t))

	out, errOut, code := runOSVScanner(t, db, archive, "json")
	if code != 1 {
		t.Fatalf("osv-scanner exit code %d, want 1 (vulnerabilities found)\n%s", code, errOut)
	}
	for _, eco := range []string{"Go", "Debian"} {
		if !bytes.Contains(errOut, []byte("Loaded "+eco+" local db")) {
			t.Errorf("osv-scanner did not load the local %s database:\n%s", eco, errOut)
		}
	}
	findings, err := ParseOSVScanner(out)
	if err != nil {
		t.Fatalf("parsing osv-scanner's report: %v\n%s", err, out)
	}
	installedGo, fixedGo := goStdlibVersions(t)
	want := []Finding{
		{ID: "CVE-2099-1001", Aliases: []string{"DEBIAN-CVE-2099-1001"}, Package: "zlib", Ecosystem: "Debian:12",
			Installed: "1:1.2.13.dfsg-1", Fixed: "1:1.2.13.dfsg-1+deb12u1", Severity: Critical, Source: "/var/lib/dpkg/status",
			Title: "zlib: heap overflow in inflate (test record)"},
		{ID: "CVE-2099-2001", Aliases: []string{"GHSA-2099-slip-0001", "GO-2099-0001"}, Package: "stdlib", Ecosystem: "Go",
			Installed: installedGo, Fixed: fixedGo, Severity: High, Source: "/usr/local/bin/demo",
			Title: "net/http: request smuggling (test record)"},
		{ID: "CVE-2099-2002", Aliases: []string{"GO-2099-0002"}, Package: "stdlib", Ecosystem: "Go",
			Installed: installedGo, Fixed: fixedGo, Severity: Medium, Source: "/usr/local/bin/demo",
			Title: "fmt: moderate flaw rated only by the database (test record)"},
		{ID: "CVE-2099-1002", Aliases: []string{"DEBIAN-CVE-2099-1002"}, Package: "libslipdemo1", Ecosystem: "Debian:12",
			Installed: "2.0.1-3", Severity: Unknown, Source: "/var/lib/dpkg/status",
			Title: "libslipdemo: unfixed flaw without a severity (test record)"},
	}
	if !reflect.DeepEqual(findings, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", dump(findings), dump(want))
	}

	// The same report under each sample environment's policy.
	prod := Evaluate(findings, config.Policy{FailOn: "HIGH", Strict: true}, nil, testNow)
	if prod.Pass || !reflect.DeepEqual(prod.BlockingIDs(), []string{"CVE-2099-1001", "CVE-2099-2001"}) {
		t.Errorf("prod decision: pass=%t blocked=%v", prod.Pass, prod.BlockingIDs())
	}
	dev := Evaluate(findings, config.Policy{FailOn: "CRITICAL"}, nil, testNow)
	if dev.Pass || !reflect.DeepEqual(dev.BlockingIDs(), []string{"CVE-2099-1001"}) {
		t.Errorf("dev decision: pass=%t blocked=%v", dev.Pass, dev.BlockingIDs())
	}

	if *update {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, out, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		if err := os.WriteFile(filepath.Join("testdata", "osv-scanner-image.json"), pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// osv-scanner can also write CycloneDX, but it leaves out the Debian
	// packages (it cannot make package URLs for them): a partial SBOM.
	bom, errOut, code := runOSVScanner(t, db, archive, "cyclonedx-1-6")
	if code != 1 {
		t.Fatalf("osv-scanner --format cyclonedx-1-6 exit code %d\n%s", code, errOut)
	}
	info, err := provenance.CheckCycloneDX(bom)
	if err != nil {
		t.Fatalf("osv-scanner's CycloneDX output: %v", err)
	}
	if info.SpecVersion != "1.6" || info.Components != 1 || !bytes.Contains(bom, []byte(`"pkg:golang/stdlib@`+installedGo+`"`)) {
		t.Errorf("osv-scanner's SBOM: %+v\n%.600s", info, bom)
	}
	if bytes.Contains(bom, []byte("zlib")) {
		t.Log("osv-scanner's SBOM now lists Debian packages: docs/scanning.md can stop calling it partial")
	}
}

// TestOSVScannerOfflineCleanImage: with nothing vulnerable, osv-scanner
// exits 0 and its report parses to no findings, which passes every policy.
func TestOSVScannerOfflineCleanImage(t *testing.T) {
	archive := scannableImage(t, seededImage(t))
	db := t.TempDir()
	clean := testDB(t)
	for eco, recs := range clean {
		for i := range recs {
			recs[i].Affected[0].Package.Name += "-not-installed"
		}
		clean[eco] = recs
	}
	writeOSVDB(t, db, clean)
	out, errOut, code := runOSVScanner(t, db, archive, "json")
	if code != 0 {
		t.Fatalf("osv-scanner exit code %d, want 0\n%s", code, errOut)
	}
	findings, err := ParseOSVScanner(out)
	if err != nil {
		t.Fatalf("parsing: %v\n%s", err, out)
	}
	if len(findings) != 0 {
		t.Fatalf("findings on a clean image: %s", dump(findings))
	}
	if d := Evaluate(findings, config.Policy{FailOn: "LOW", Strict: true}, nil, testNow); !d.Pass {
		t.Errorf("clean image failed: %v", d.Reasons)
	}
}

// TestOSVScannerRejectsOCIArchives documents why WriteDockerArchive
// exists: osv-scanner v2.5.0 reads only docker archives.
func TestOSVScannerRejectsOCIArchives(t *testing.T) {
	dir := t.TempDir()
	oci := filepath.Join(dir, "image.tar")
	registrytest.WriteOCITarball(t, oci, seededImage(t))
	db := t.TempDir()
	writeOSVDB(t, db, testDB(t))
	_, errOut, code := runOSVScanner(t, db, oci, "json")
	if code == 0 || code == 1 || !bytes.Contains(errOut, []byte("manifest.json")) {
		t.Fatalf("osv-scanner on an OCI tarball: exit %d\n%s\n(if it reads OCI tarballs now, the conversion can go)", code, errOut)
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
