package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
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
	addr := m.Registry
	if addr == "" {
		configured, _, err := m.configuredRegistry(ctx)
		if err != nil {
			return nil, err
		}
		addr = configured
	}
	if addr == "" {
		addr = fmt.Sprintf("%s:%d", embeddedHost, embeddedPort)
	}
	// The address only names the image in the SBOM: no registry is reached.
	p, err := m.plan(ctx, &registryTarget{address: addr}, planOpts{services: []string{service}})
	if err != nil {
		return nil, err
	}
	s, ok := p.Service(service)
	if !ok {
		return nil, fmt.Errorf("unknown service %q", service)
	}
	return m.Tool().
		WithMountedFile(workDir+"/image.tar", m.build(p, s).AsTarball()).
		WithExec(sbomArgs(p, s)).
		File(workDir + "/sbom.json"), nil
}

// sbomArgs runs the worker's sbom command over workDir/image.tar, writing
// workDir/sbom.json, stamped with the image's creation time so that the
// SBOM depends on the image alone.
func sbomArgs(p *plan.Plan, s plan.Service) []string {
	return []string{toolBin, "sbom", "--in", workDir + "/image.tar", "--out", workDir + "/sbom.json",
		"--name", s.Repository, "--timestamp", p.Created.UTC().Format(time.RFC3339)}
}
