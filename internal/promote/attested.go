package promote

import (
	"context"

	"github.com/slipwayci/slipway/internal/signing"
)

// VerifyAttestationKind checks that ref carries a verified attestation of
// kind (one of requireAttestations' kinds), exactly as a promotion checks
// it. ci's build avoidance uses it before reusing an image.
func VerifyAttestationKind(ctx context.Context, v *signing.Verifier, ref, kind string) error {
	ch := &checker{verifier: v}
	_, err := ch.attested(ctx, ref, kind)
	return err
}
