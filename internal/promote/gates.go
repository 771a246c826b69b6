package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

// ErrGate: a promotion gate (requireVerifiedIn, minSoak, requireApproval)
// is not met yet.
var ErrGate = gates.ErrGate

// LiveCheck reports whether environment env's cluster runs image
// (repository@digest) for svc right now, nil when it does.
type LiveCheck func(ctx context.Context, env string, svc config.Service, image string) error

// gateInputs is what the promotion gates read besides the image.
type gateInputs struct {
	// from is the environment promoted from ("" for a rollback, which
	// the gates do not hold back: it returns to what ran before).
	from string
	// approvers verify approvals into the target, one per accepted key
	// and one for its keyless identities.
	approvers []*signing.Verifier
	live      LiveCheck
	now       func() time.Time
}

// gate checks the target environment's promotion gates for one image.
func (ch *checker) gate(ctx context.Context, c *candidate, ref string) (string, error) {
	to, g := ch.env, ch.gates
	if g == nil || g.from == "" {
		return "", nil
	}
	now := time.Now()
	if g.now != nil {
		now = g.now()
	}
	svc, digest := c.service.Name, c.src.Digest
	if len(to.RequireVerifiedIn) > 0 || to.MinSoak > 0 {
		if ch.verifier == nil {
			return "gate", fmt.Errorf("%w: %s reads signed verification records (requireVerifiedIn, minSoak), but no key or identity to verify them with was given", ErrGate, to.Name)
		}
		recs, unverified, err := verificationRecords(ctx, ch.verifier, ref, svc, digest)
		if err != nil {
			return "gate", err
		}
		if err := gates.CheckVerifiedIn(recs, to.RequireVerifiedIn, now); err != nil {
			return "gate", fmt.Errorf("%w%s", err, unverified)
		}
		if to.MinSoak > 0 {
			if err := gates.CheckSoak(recs, g.from, to.MinSoak.D(), now); err != nil {
				return "gate", fmt.Errorf("%w%s", err, unverified)
			}
			if g.live == nil {
				return "gate", fmt.Errorf("%w: minSoak: checking that %s still runs %s needs its cluster (--kubeconfig, and environments[%s].cluster)", ErrGate, g.from, report.ShortDigest(digest), g.from)
			}
			if err := g.live(ctx, g.from, c.service, ref); err != nil {
				return "gate", fmt.Errorf("%w: minSoak: %s does not run it now: %w", ErrGate, g.from, err)
			}
			c.run.note("%s: verified in %s and soaked %s (minSoak %s), still running there", svc, g.from, gatesSoaked(recs, g.from, now), gates.Human(to.MinSoak.D()))
		}
	}
	if to.RequireApproval && to.Mode != "pull-request" {
		var found []gates.Approval
		var rejected []string
		for _, v := range g.approvers {
			sts, err := v.VerifyAttestations(ctx, ref, gates.PredicateApproval)
			if err != nil {
				if !errors.Is(err, signing.ErrNoAttestations) {
					rejected = append(rejected, err.Error())
				}
				continue
			}
			found = append(found, gates.Approvals(predicates(sts), to.Name, svc, digest)...)
		}
		if err := gates.CheckApproval(found, to.Name, rejected); err != nil {
			return "gate", err
		}
		a := found[len(found)-1]
		c.run.note("%s: approved for %s by %s %s", svc, to.Name, orNone(a.By), gates.Ago(a.Time, now))
	}
	return "", nil
}

// verificationRecords reads the verified verification records of an image.
// Records that do not verify (signed by a key or identity not accepted,
// altered) count for nothing: the returned note says they were seen.
func verificationRecords(ctx context.Context, v *signing.Verifier, ref, svc, digest string) ([]gates.Verification, string, error) {
	sts, err := v.VerifyAttestations(ctx, ref, gates.PredicateVerification)
	switch {
	case errors.Is(err, signing.ErrNoAttestations):
		return nil, "", nil
	case errors.Is(err, signing.ErrSignatureInvalid) || errors.Is(err, signing.ErrClaimMismatch):
		return nil, "; the verification records it carries do not verify (" + err.Error() + ")", nil
	case err != nil:
		return nil, "", fmt.Errorf("%w: reading the verification records of %s: %w", ErrGate, ref, err)
	}
	return gates.Verifications(predicates(sts), svc, digest), "", nil
}

// VerificationRecords reads the verified verification records of an image
// (for rollback-on-failure and `images`).
func VerificationRecords(ctx context.Context, v *signing.Verifier, ref, svc, digest string) ([]gates.Verification, error) {
	recs, _, err := verificationRecords(ctx, v, ref, svc, digest)
	return recs, err
}

func predicates(sts []signing.Statement) []json.RawMessage {
	out := make([]json.RawMessage, len(sts))
	for i, s := range sts {
		out[i] = s.Predicate
	}
	return out
}

func gatesSoaked(recs []gates.Verification, env string, now time.Time) string {
	start, _ := gates.SoakStart(recs, env)
	return gates.Human(now.Sub(start))
}
