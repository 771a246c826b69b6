package signing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry"
)

func TestCopySignaturesAlongWithTheImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "dev/api", 90)
	if _, err := f.signer.Sign(ctx, ref, annotationSet); err != nil {
		t.Fatal(err)
	}
	if _, err := f.signer.Attest(ctx, ref, PredicateSLSAProvenanceV1, provenancePredicate); err != nil {
		t.Fatal(err)
	}
	prod := f.host + "/prod/api"
	if _, err := CopySignatures(ctx, f.client, ref, prod); !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "copy the image before") {
		t.Fatalf("signatures before the image: %v", err)
	}
	dst, err := f.client.Copy(ctx, ref, prod, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, dst.String(), nil); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("copied image before its signatures: %v, want ErrUnsigned", err)
	}
	tags, err := CopySignatures(ctx, f.client, ref, prod)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || !strings.HasSuffix(tags[0], ".sig") || !strings.HasSuffix(tags[1], ".att") {
		t.Errorf("wrote %v", tags)
	}
	if _, err := f.verifier.Verify(ctx, dst.String(), annotationSet); err != nil {
		t.Errorf("Verify in prod: %v", err)
	}
	if _, err := f.verifier.VerifyAttestations(ctx, dst.String(), PredicateSLSAProvenanceV1); err != nil {
		t.Errorf("VerifyAttestations in prod: %v", err)
	}
	// An unsigned image copies nothing.
	bare := f.push(t, "dev/api", 91)
	if _, err := f.client.Copy(ctx, bare, prod); err != nil {
		t.Fatal(err)
	}
	if tags, err := CopySignatures(ctx, f.client, bare, prod); err != nil || len(tags) != 0 {
		t.Errorf("unsigned image: %v %v", tags, err)
	}
}
