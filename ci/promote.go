package main

import (
	"context"
	"errors"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
)

// Promote moves exactly what one environment runs into the next, without
// rebuilding: for every service (or the given ones) it reads the digest
// from the source environment's GitOps state, refuses denylisted digests and
// pinned targets, verifies the signature and every attestation the target
// requires, copies or tags by digest, and writes one GitOps commit (or pull
// request) for the target. Every check runs before the first write: a
// refusal changes nothing anywhere. Promoting what is already there changes
// nothing.
// +cache="never"
func (m *Slipway) Promote(
	ctx context.Context,
	// Environment to promote from, e.g. staging.
	from string,
	// Environment to promote to, e.g. prod.
	to string,
	// Only these services (default: every service deployed to both).
	// +optional
	service []string,
	// Check everything and show what would be copied and the GitOps diff; write nothing.
	// +optional
	dryRun bool,
	// Copy the images into this registry for the target (default: tag them where they are).
	// +optional
	toRegistry string,
	// cosign public key to verify with, when the signing key is not given.
	// +optional
	publicKey *dagger.Secret,
	// Countersign what is promoted, keylessly, with this run's OIDC identity
	// (--oidc-token, or --oidc-request-url and --oidc-request-token): the
	// images must carry a signature the source environment accepts, and
	// the target must accept this identity (its signedBy). This is how a
	// release workflow vouches for what it promotes. A target without
	// signedBy takes the build's signatures: nothing is countersigned.
	// +optional
	sign bool,
	// Then wait until the cluster runs it (as verify does; needs --kubeconfig
	// and the environment's cluster): the run fails if it does not.
	// +optional
	verify bool,
	// With --verify: when verification fails, roll each failed service back
	// to the last digest verified there and reject the failed digest.
	// +optional
	rollbackOnFailure bool,
) (string, error) {
	args := []string{"--from", from, "--to", to}
	if sign {
		args = append(args, "--sign")
	}
	for _, s := range service {
		args = append(args, "--service", s)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	if toRegistry != "" {
		args = append(args, "--to-registry", toRegistry)
	}
	if rollbackOnFailure && !verify {
		return "", errors.New("--rollback-on-failure acts on a failed verification: add --verify")
	}
	v := releaseVerb{kind: report.Promote, args: args, publicKey: publicKey, registry: true, verify: true, rollbackOnFailure: rollbackOnFailure}
	if verify {
		v.afterEnv = to
	}
	return m.release(ctx, v)
}
