package main

import (
	"context"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/wire"
)

// Sbom builds one service's image exactly as ci does and returns its
// CycloneDX JSON SBOM (the document ci attests when signing): OS packages
// (dpkg, apk), the modules of every Go binary, Python distributions and npm
// packages, each with a package URL. Nothing is pushed:
// `dagger call sbom --service orders export --path orders.cdx.json`.
func (m *Slipway) Sbom(
	ctx context.Context,
	// The service whose image to describe.
	service string,
) (*dagger.File, error) {
	// The registry only names the image in the SBOM: none is reached.
	p, s, err := m.oneService(ctx, service)
	if err != nil {
		return nil, err
	}
	return m.Worker().
		WithMountedFile(wire.ImageTarball, m.build(p, s).AsTarball()).
		WithExec(sbomArgs(p, s, "")).
		File(sbomPredicate), nil
}

// sbomArgs runs the worker's sbom command over wire.ImageTarball, writing
// sbomPredicate, stamped with the image's creation time so that the
// SBOM depends on the image alone. With a platform, of a multi-platform
// archive only that platform's image is described; extra flags follow
// (a later --out wins).
func sbomArgs(p *plan.Plan, s plan.Service, platform string, extra ...string) []string {
	a := []string{wire.WorkerBin, "sbom", "--in", wire.ImageTarball, "--out", sbomPredicate,
		"--name", s.Repository, "--timestamp", p.Created.UTC().Format(time.RFC3339)}
	if platform != "" {
		a = append(a, "--platform", platform)
	}
	return append(a, extra...)
}
