package sbom

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// BenchmarkFromArchive makes the BOM of an image shaped like the sample
// services' runtime images put together: a Debian base of 120 packages and
// 2,000 other files (40 MB, a quarter of them non-Go ELF executables), a
// Python layer of 40 distributions, a node_modules tree of 600 packages and
// a layer holding a real Go binary (this test binary). It reports the
// components found and the image's uncompressed size; time per op is the
// figure to watch (nothing is asserted on it).
func BenchmarkFromArchive(b *testing.B) {
	rnd := rand.New(rand.NewSource(1))
	var status strings.Builder
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&status, "Package: pkg%03d\nStatus: install ok installed\nArchitecture: amd64\nSource: src%03d\nVersion: 1.%d-%d+deb12u1\nDescription: package %d\n long description\n\n", i, i/3, i, i%7, i)
	}
	base := []entry{
		{name: "etc/os-release", body: "ID=debian\nVERSION_ID=\"12\"\n"},
		{name: "var/lib/dpkg/status", body: status.String()},
	}
	size := int64(len(status.String()))
	for i := 0; i < 2000; i++ {
		body := make([]byte, 20<<10)
		rnd.Read(body)
		e := entry{name: fmt.Sprintf("usr/lib/x86_64-linux-gnu/f%04d", i), body: string(body)}
		if i%4 == 0 {
			e.mode, e.body = 0o755, "\x7fELF"+e.body[4:]
		}
		base = append(base, e)
		size += int64(len(body))
	}
	var py, node []entry
	for i := 0; i < 40; i++ {
		py = append(py, entry{name: fmt.Sprintf("usr/local/lib/python3.11/site-packages/dist%02d-1.0.%d.dist-info/METADATA", i, i), body: fmt.Sprintf("Metadata-Version: 2.1\nName: dist%02d\nVersion: 1.0.%d\nLicense: MIT\n\n%s", i, i, strings.Repeat("description ", 500))})
	}
	for i := 0; i < 600; i++ {
		node = append(node, entry{name: fmt.Sprintf("app/node_modules/m%03d/package.json", i), body: fmt.Sprintf(`{"name": "m%03d", "version": "1.%d.0", "license": "MIT", "description": "%s"}`, i, i, strings.Repeat("x", 500))})
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	gobin, err := os.ReadFile(exe)
	if err != nil {
		b.Fatal(err)
	}
	size += int64(len(gobin))
	img := image(b, layer(b, base...), layer(b, py...), layer(b, node...), layer(b, entry{name: "usr/local/bin/app", mode: 0o755, body: string(gobin)}))
	file := filepath.Join(b.TempDir(), "image.tar")
	registrytest.WriteOCITarball(b, file, img)
	fi, _ := os.Stat(file)
	var comps, bomBytes int
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		bom, err := FromArchive(context.Background(), file, WithName("registry.example/shop/bench:1"))
		if err != nil {
			b.Fatal(err)
		}
		js, _ := bom.JSON()
		comps, bomBytes = len(bom.Components), len(js)
	}
	b.ReportMetric(float64(comps), "components")
	b.ReportMetric(float64(bomBytes)/1024, "BOM-KiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "archive-MiB")
}
