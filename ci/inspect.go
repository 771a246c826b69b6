package main

import (
	"context"
	"fmt"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/wire"
)

// Images lists what the registry holds for every service: tags, the digest
// each points at, and that digest's signature checked against the signing
// key: verified, invalid (signed, but not by this key, not for this digest
// or not for this service) or unsigned; "unverified (no key)" without
// --signing-key. A verified image also shows its newest signed verification
// record per environment: "verified in staging 3h ago", "failed in dev 5m
// ago (CrashLoopBackOff)".
// +cache="never"
func (m *Slipway) Images(
	ctx context.Context,
	// Output format: table or json.
	// +optional
	// +default="table"
	format string,
) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	args := []string{wire.WorkerBin, "images"}
	for _, s := range p.Services {
		args = append(args, "--repo", s.Name+"="+s.Repository)
	}
	switch format {
	case "json":
		args = append(args, "--json")
	case "table":
	default:
		return "", fmt.Errorf("format %q is not table or json", format)
	}
	args = append(args, reg.insecureArgs()...)
	r, err := execChecked(ctx, fresh(m.workerFor(reg)), args)
	if err != nil {
		return "", err
	}
	return r.stdout, nil
}

// Gitops returns a checkout of the throwaway GitOps repository that ci and
// deploy write to when no GitOps repository is configured, history
// included: `dagger call gitops export --path ./gitops-result`.
// +cache="never"
func (m *Slipway) Gitops(ctx context.Context) (*dagger.Directory, error) {
	p, err := m.configPlan(ctx)
	if err != nil {
		return nil, err
	}
	c, args := m.gitopsWorker(&registryTarget{address: "registry.invalid"}, p)
	args = append([]string{wire.WorkerBin, "gitops-export", "--to", gitopsExport}, args...)
	r, err := execChecked(ctx, fresh(c), args)
	if err != nil {
		return nil, err
	}
	return r.ctr.Directory(gitopsExport), nil
}

// gitopsExport is where gitops-export checks the throwaway repository out.
const gitopsExport = wire.WorkDir + "/gitops"
