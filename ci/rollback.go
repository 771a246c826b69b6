package main

import (
	"context"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
)

// Rollback points one environment's service back at an older image (a
// commit SHA whose image was published, or a digest), after the same checks
// as a promotion, and pins it there in the same commit: ci and promote leave
// it alone until `unpin`.
// +cache="never"
func (m *Slipway) Rollback(
	ctx context.Context,
	// Environment to roll back, e.g. prod.
	env string,
	// Service to roll back.
	service string,
	// Commit SHA (7+ characters) or image digest to go back to.
	to string,
	// Why (recorded in the pin).
	// +optional
	reason string,
	// Show what would change; write nothing.
	// +optional
	dryRun bool,
	// cosign public key to verify with, when the signing key is not given.
	// +optional
	publicKey *dagger.Secret,
	// Who rolls back, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
	// Then wait until the cluster runs the older image (as verify does).
	// +optional
	verify bool,
) (string, error) {
	args := []string{"--env", env, "--service", service, "--to", to}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	v := releaseVerb{kind: report.Rollback, args: args, publicKey: publicKey, by: by, registry: true, verify: true}
	if verify {
		v.afterEnv = env
	}
	return m.release(ctx, v)
}
