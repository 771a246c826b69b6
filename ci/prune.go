package main

import (
	"context"
	"strconv"

	"github.com/slipwayci/slipway/internal/report"
)

// Prune deletes images that no environment runs, pins or names in the
// GitOps repository, that are older than olderThan and not among the newest
// keep of their repository, together with their signatures and
// attestations. A dry run unless apply: it lists what it would delete and
// why everything else is kept.
// +cache="never"
func (m *Slipway) Prune(
	ctx context.Context,
	// Only images older than this are deleted (Go duration, e.g. 720h).
	// +optional
	// +default="720h"
	olderThan string,
	// Always keep this many newest images per repository.
	// +optional
	// +default=10
	keep int,
	// Only these services (default: all).
	// +optional
	service []string,
	// Delete for real (default: list what would be deleted).
	// +optional
	apply bool,
	// GitHub's REST API to delete ghcr.io images through (ghcr.io deletes
	// nothing through the registry API): default https://api.github.com
	// for ghcr.io; set it for GitHub Enterprise Server
	// (https://<host>/api/v3). The registry password is the token; it
	// needs delete:packages.
	// +optional
	packagesApi string,
) (string, error) {
	args := []string{"--older-than", olderThan, "--keep", strconv.Itoa(keep)}
	for _, s := range service {
		args = append(args, "--service", s)
	}
	if apply {
		args = append(args, "--apply")
	}
	if packagesApi != "" {
		args = append(args, "--packages-api", packagesApi)
	}
	return m.release(ctx, releaseVerb{kind: report.Prune, args: args, registry: true})
}
