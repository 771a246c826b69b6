package e2e

import (
	"archive/tar"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slipwayci/slipway/internal/report"
)

// needForeignPlatforms skips unless the engine can run linux/arm64 steps:
// hack/engine.sh registers user-mode QEMU with binfmt_misc where the host
// lets it, and says so in SLIPWAY_FOREIGN_PLATFORMS.
func needForeignPlatforms(t *testing.T) {
	t.Helper()
	if !strings.Contains(os.Getenv("SLIPWAY_FOREIGN_PLATFORMS"), "linux/arm64") {
		t.Skip("the engine cannot run linux/arm64 build steps here (hack/engine.sh found no binfmt_misc to register QEMU with; SLIPWAY_FOREIGN_PLATFORMS is empty)")
	}
}

// elfMachines are the ELF e_machine values of the two platforms.
var elfMachines = map[uint16]string{62: "amd64", 183: "arm64"}

// entrypointArch reads, from the layers pushed for the image at ref (not
// from its configuration), the ELF machine of the file at p, following
// symlinks inside the image.
func entrypointArch(t *testing.T, ref, p string) string {
	t.Helper()
	img, err := crane.Pull(ref)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	links := map[string]string{}
	heads := map[string][]byte{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the layers of %s: %v", ref, err)
		}
		name := "/" + strings.TrimPrefix(path.Clean(h.Name), "./")
		switch h.Typeflag {
		case tar.TypeSymlink:
			links[name] = h.Linkname
		case tar.TypeReg:
			head := make([]byte, 20)
			n, _ := io.ReadFull(tr, head)
			heads[name] = head[:n]
		}
	}
	// /bin and friends are symlinks into /usr on Debian: resolve each
	// component.
	resolve := func(p string) string {
		for hop := 0; hop < 40; hop++ {
			parts := strings.Split(strings.Trim(p, "/"), "/")
			changed := false
			for i := range parts {
				prefix := "/" + strings.Join(parts[:i+1], "/")
				if target, ok := links[prefix]; ok {
					if !strings.HasPrefix(target, "/") {
						target = path.Join(path.Dir(prefix), target)
					}
					p = path.Join(target, strings.Join(parts[i+1:], "/"))
					changed = true
					break
				}
			}
			if !changed {
				return p
			}
		}
		return p
	}
	head := heads[resolve(p)]
	if len(head) < 20 || string(head[:4]) != "\x7fELF" {
		t.Fatalf("%s in %s (resolved to %s) is not an ELF file", p, ref, resolve(p))
	}
	m := binary.LittleEndian.Uint16(head[18:20])
	if a, ok := elfMachines[m]; ok {
		return a
	}
	return fmt.Sprintf("ELF machine %d", m)
}

// entrypoints are the executables the sample's images start.
var entrypoints = map[string]string{
	"orders":  "/orders",
	"catalog": "/usr/bin/python3",
	"notify":  "/usr/bin/node",
}

func TestModuleMultiPlatform(t *testing.T) {
	needForeignPlatforms(t)
	r := newSlipwayRun(t)
	commit := r.git("rev-parse", "HEAD")

	// 1. Two platforms from one ci: one signed index per service, each
	//    platform image signed and attested on its own.
	out := r.mustCall("ci", "--platforms", "linux/amd64,linux/arm64")
	t.Logf("ci --platforms linux/amd64,linux/arm64:\n%s", tail(out, 20))
	rep := r.lastReport()
	if rep.Count(report.Built) != 3 || !rep.OK() {
		t.Fatalf("%d built, ok=%v:\n%s", rep.Count(report.Built), rep.OK(), rep.Text())
	}
	if !strings.Contains(out, "platforms: linux/amd64") {
		t.Errorf("the report does not list the platforms:\n%s", out)
	}
	reg := r.exposeRegistry()
	_, dev := r.gitopsState()
	kept := map[string][]string{} // service → index and platform image references
	for _, s := range rep.Services {
		if len(s.Platforms) != 2 || s.Platforms[0].Platform != "linux/amd64" || s.Platforms[1].Platform != "linux/arm64" {
			t.Fatalf("%s: platforms %+v", s.Name, s.Platforms)
		}
		// orders cross-compiles (FROM --platform=$BUILDPLATFORM); the
		// Python and Node images install packages on arm64 under QEMU.
		if got, want := s.Platforms[1].Emulated, s.Name != "orders"; got != want {
			t.Errorf("%s linux/arm64: emulated=%v, want %v", s.Name, got, want)
		}
		if !strings.Contains(dev, s.Digest) {
			t.Errorf("dev does not pin %s's index %s:\n%s", s.Name, s.Digest, dev)
		}
		repo := strings.Replace(s.Repository, "registry:5000", reg, 1)
		raw, err := crane.Manifest(repo + "@" + s.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil || !idx.MediaType.IsIndex() {
			t.Fatalf("%s@%s is not an image index (%v): %s", s.Name, s.Digest, err, raw)
		}
		children := map[string]string{}
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" {
				children[m.Platform.Architecture] = m.Digest.String()
			}
		}
		if len(children) != 2 || children["amd64"] == "" || children["arm64"] == "" {
			t.Fatalf("%s: the index holds %v, want an amd64 and an arm64 image", s.Name, children)
		}
		kept[s.Name] = []string{repo + "@" + s.Digest, repo + "@" + children["amd64"], repo + "@" + children["arm64"]}
		if d, err := crane.Digest(repo + ":" + commit); err != nil || d != s.Digest {
			t.Errorf("%s:%s names %s (%v), not the index %s", s.Name, commit, d, err, s.Digest)
		}
		for arch, d := range children {
			if got := entrypointArch(t, repo+"@"+d, entrypoints[s.Name]); got != arch {
				t.Errorf("%s linux/%s: %s in the pushed layers is an %s executable", s.Name, arch, entrypoints[s.Name], got)
			}
		}
		// Stock cosign verifies the index and each platform's image, and
		// each platform's own SBOM and provenance.
		for _, d := range []string{s.Digest, children["amd64"], children["arm64"]} {
			r.cosignVerifies(repo, d)
		}
		for _, d := range []string{children["amd64"], children["arm64"]} {
			r.checkSBOM(repo, s.Name, d)
			r.checkProvenance(repo, s.Name, d, commit)
		}
	}

	// Nothing changed: each complete, signed index is reused; the same
	// sources for one platform only are other inputs, and rebuild.
	r.mustCall("ci", "--platforms", "linux/amd64,linux/arm64")
	again := r.lastReport()
	for _, s := range again.Services {
		if s.Status != report.Reused || s.Digest != byName(rep)[s.Name].Digest {
			t.Errorf("a rerun without changes: %s is %s at %s, want reused at %s", s.Name, s.Status, s.Digest, byName(rep)[s.Name].Digest)
		}
	}
	r.git("commit", "-q", "--allow-empty", "-m", "orders for arm64 alone")
	r.mustCall("ci", "--service", "orders", "--platforms", "linux/arm64", "--skip-deploy")
	armOnly := byName(r.lastReport())["orders"]
	if armOnly.Status != report.Built || len(armOnly.Platforms) != 1 || armOnly.InputDigest == byName(rep)["orders"].InputDigest {
		t.Errorf("orders for linux/arm64 alone: %s, platforms %+v, inputs %s", armOnly.Status, armOnly.Platforms, armOnly.InputDigest)
	}

	// 2. Promotion verifies and copies each index whole: staging pins the
	//    same index digests, and every platform's image is there.
	r.mustCall("promote", "--from", "dev", "--to", "staging")
	_, staging := r.overlay("staging")
	for _, s := range rep.Services {
		if !strings.Contains(staging, s.Digest) {
			t.Errorf("staging does not pin %s's index %s:\n%s", s.Name, s.Digest, staging)
		}
	}

	// Prune deletes the index no environment runs, with its platform
	// image, and keeps every platform image of the indexes dev and
	// staging run, still verifiable.
	r.mustCall("prune", "--older-than", "1ns", "--keep", "0", "--apply")
	orders := strings.Replace(byName(rep)["orders"].Repository, "registry:5000", reg, 1)
	if _, err := crane.Manifest(orders + "@" + armOnly.Digest); err == nil {
		t.Errorf("prune kept the arm64-only orders index %s, which nothing runs", armOnly.Digest)
	}
	for name, refs := range kept {
		for _, ref := range refs {
			if _, err := crane.Manifest(ref); err != nil {
				t.Errorf("prune deleted %s's %s, part of an index dev runs: %v", name, ref, err)
				continue
			}
			repo, digest, _ := strings.Cut(ref, "@")
			r.cosignVerifies(repo, digest)
		}
	}

	// 3. A Dockerfile that hard-codes GOARCH=amd64 is refused for arm64,
	//    naming the file it would have shipped, and nothing is published.
	r.edit("services/orders/Dockerfile", func(s string) string {
		return strings.Replace(s, "GOARCH=$TARGETARCH", "GOARCH=amd64", 1)
	})
	bad := r.commit("orders: GOARCH hard-coded")
	out, err := r.call("ci", "--service", "orders", "--platforms", "linux/amd64,linux/arm64")
	if err == nil || !strings.Contains(out, "orders linux/arm64") || !strings.Contains(out, "/orders is an x86-64 executable") {
		t.Fatalf("a GOARCH=amd64 image was not refused for arm64 (err=%v):\n%s", err, tail(out, 30))
	}
	if d, err := crane.Digest(orders + ":" + bad); err == nil {
		t.Errorf("the refused orders was published as %s:%s (%s)", orders, bad, d)
	}

	// 4. A base image without an arm64 image is refused before anything
	//    is built, naming the image and the platform.
	r.edit("services/orders/Dockerfile", func(s string) string {
		s = strings.Replace(s, "GOARCH=amd64", "GOARCH=$TARGETARCH", 1)
		return strings.Replace(s, "FROM scratch", "FROM docker/dockerfile:1", 1)
	})
	r.commit("orders: a base image without arm64")
	out, err = r.call("ci", "--service", "orders", "--platforms", "linux/amd64,linux/arm64")
	if err == nil || !strings.Contains(out, "FROM docker/dockerfile:1: the base image has no linux/arm64 image") {
		t.Fatalf("a base image without arm64 was not refused by name (err=%v):\n%s", err, tail(out, 30))
	}
}

// BenchmarkModuleMultiPlatform prints, side by side in one run, a cold ci
// (every service's inputs new) for one platform and for two, each
// service's build time in both, which platforms were emulated, and a
// no-change rerun with two platforms (run by hack/bench.sh; figures, not
// assertions).
func BenchmarkModuleMultiPlatform(b *testing.B) {
	if !strings.Contains(os.Getenv("SLIPWAY_FOREIGN_PLATFORMS"), "linux/arm64") {
		b.Skip("the engine cannot run linux/arm64 build steps here")
	}
	for i := 0; i < b.N; i++ {
		r := newSlipwayRun(b)
		run := func(label string, platforms string) (time.Duration, *report.Report) {
			salt := fmt.Sprintf("bench %s %s-%d", label, runID, i)
			for file, comment := range map[string]string{
				"services/orders/main.go":         "// " + salt + "\n",
				"services/catalog/catalog/app.py": "# " + salt + "\n",
				"services/notify/src/server.js":   "// " + salt + "\n",
			} {
				r.edit(file, func(s string) string { return s + comment })
			}
			r.commit("bench: new inputs for every service (" + label + ")")
			start := time.Now()
			r.mustCall("ci", "--platforms", platforms)
			return time.Since(start), r.lastReport()
		}
		rerun := func(platforms string) (time.Duration, *report.Report) {
			start := time.Now()
			r.mustCall("ci", "--platforms", platforms)
			return time.Since(start), r.lastReport()
		}
		one, rep1 := run("one platform", "linux/amd64")
		rerun1, _ := rerun("linux/amd64")
		two, rep2 := run("two platforms", "linux/amd64,linux/arm64")
		rerun2, rep3 := rerun("linux/amd64,linux/arm64")
		b.ReportMetric(one.Seconds(), "s/cold-one-platform")
		b.ReportMetric(two.Seconds(), "s/cold-two-platforms")
		b.ReportMetric(rerun1.Seconds(), "s/no-change-rerun-one-platform")
		b.ReportMetric(rerun2.Seconds(), "s/no-change-rerun-two-platforms")
		b.Logf("cold ci: one platform %s, two platforms %s (%.2fx); no-change rerun: one platform %s, two %s (%.2fx), %d built",
			one.Round(100*time.Millisecond), two.Round(100*time.Millisecond), two.Seconds()/one.Seconds(),
			rerun1.Round(100*time.Millisecond), rerun2.Round(100*time.Millisecond), rerun2.Seconds()/rerun1.Seconds(), rep3.Count(report.Built))
		stage := func(s report.Service, name string) time.Duration {
			for _, d := range s.Durations {
				if d.Stage == name {
					return d.Elapsed
				}
			}
			return 0
		}
		by1 := byName(rep1)
		for _, s := range rep2.Services {
			b1, b2 := stage(by1[s.Name], "build"), stage(s, "build")
			b.Logf("build %-8s one platform %6s, two %6s (%.2fx); architecture check %s; %s", s.Name, b1.Round(100*time.Millisecond), b2.Round(100*time.Millisecond),
				b2.Seconds()/b1.Seconds(), stage(s, "arch-check").Round(100*time.Millisecond), report.PlatformSummary(s.Platforms))
		}
	}
}
