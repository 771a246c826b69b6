package main

import (
	"context"

	"github.com/slipwayci/slipway/internal/report"
)

// Pin holds an environment's service at the digest it runs now: ci and
// promote leave it alone until `unpin`.
// +cache="never"
func (m *Slipway) Pin(
	ctx context.Context,
	// Environment.
	env string,
	// Service.
	service string,
	// Why.
	reason string,
	// Who pins, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.release(ctx, releaseVerb{kind: report.Pin, args: []string{"--env", env, "--service", service, "--reason", reason}, by: by})
}

// Unpin releases a pin: ci and promote may change the service again.
// +cache="never"
func (m *Slipway) Unpin(
	ctx context.Context,
	// Environment.
	env string,
	// Service.
	service string,
	// Who unpins, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.release(ctx, releaseVerb{kind: report.Unpin, args: []string{"--env", env, "--service", service}, by: by})
}

// Reject denylists an image digest for good: it is never deployed, promoted
// or rolled back to again, in any environment.
// +cache="never"
func (m *Slipway) Reject(
	ctx context.Context,
	// Image digest (sha256:...) to reject.
	digest string,
	// Why (recorded in the denylist).
	reason string,
	// Who rejects, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.release(ctx, releaseVerb{kind: report.Reject, args: []string{"--digest", digest, "--reason", reason}, by: by})
}
