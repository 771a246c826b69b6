package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/sbom"
)

func init() {
	register("sbom", "write the CycloneDX JSON SBOM of an image archive (OS packages, Go modules, Python, npm)", runSBOM)
}

func runSBOM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sbom", stderr)
	in := fs.String("in", "", "image archive: OCI layout tar (Dagger's asTarball) or docker save tarball (required)")
	out := fs.String("out", "", "write the SBOM here instead of stdout")
	ref := fs.String("name", "", "the image's reference, e.g. ghcr.io/acme/orders:<sha> (names the pkg:oci URL)")
	asIndex := fs.Bool("index", false, "describe an archive of one image as the index of that image alone (how publish --index pushes it)")
	platform := fs.String("platform", "", "of a multi-platform archive, describe only this platform's image (linux/arm64)")
	stamp := fs.String("timestamp", "", "the SBOM's timestamp (RFC 3339; default: none, so the SBOM depends on the image alone)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return fmt.Errorf("%w: -in is required", errUsage)
	}
	opts := []sbom.Option{sbom.WithToolVersion(toolVersion())}
	if *ref != "" {
		opts = append(opts, sbom.WithName(*ref))
	}
	if *stamp != "" {
		t, err := parseTime("timestamp", *stamp)
		if err != nil {
			return err
		}
		opts = append(opts, sbom.WithTimestamp(t))
	}
	if _, err := os.Stat(*in); err != nil {
		return fmt.Errorf("opening the image archive: %w", err)
	}
	if *platform != "" {
		opts = append(opts, sbom.WithPlatform(*platform))
	}
	if *asIndex {
		opts = append(opts, sbom.AsIndex())
	}
	bom, err := sbom.FromArchive(ctx, *in, opts...)
	if err != nil {
		return fmt.Errorf("SBOM of %s: %w", *in, err)
	}
	b, err := bom.JSON()
	if err != nil {
		return err
	}
	// The same gate the attest and publish commands apply.
	if _, err := provenance.CheckCycloneDX(b); err != nil {
		return fmt.Errorf("SBOM of %s: %w", *in, err)
	}
	fmt.Fprintf(stderr, "sbom of %s: %d components (%s), %d bytes\n", bom.Metadata.Component.Version, len(bom.Components), countByType(bom), len(b))
	return writeOut(*out, stdout, b)
}

// countByType summarises the components by package URL type ("deb 91,
// golang 12"), with the operating system and applications counted apart.
func countByType(b *sbom.BOM) string {
	n := map[string]int{}
	for _, c := range b.Components {
		t, _, ok := strings.Cut(strings.TrimPrefix(c.PURL, "pkg:"), "/")
		if !ok {
			t = c.Type
		}
		n[t]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, n[k])
	}
	return strings.Join(parts, ", ")
}

// toolVersion is the worker's own module version, when the build recorded
// one.
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}
