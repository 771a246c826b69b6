package signing

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/empty"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"

	"github.com/slipwayci/slipway/internal/registry"
)

func TestSignAndVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 1)

	res, err := f.signer.Sign(ctx, ref, annotationSet)
	if err != nil {
		t.Fatal(err)
	}
	h := digestHex(t, ref)
	if want := f.host + "/api:sha256-" + h.Hex + ".sig"; res.Ref != want || res.Existing {
		t.Errorf("Sign result %+v, want a new signature under %s", res, want)
	}
	sigs, err := f.verifier.Verify(ctx, ref, annotationSet)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0].Digest != ref || sigs[0].Annotations[AnnotationRunID] != "run-42" || !strings.HasSuffix(sigs[0].Ref, ".sig") {
		t.Fatalf("verified %+v", sigs)
	}
	// A subset of the annotations, or none, is enough.
	if _, err := f.verifier.Verify(ctx, ref, map[string]string{AnnotationService: "api"}); err != nil {
		t.Errorf("subset of annotations: %v", err)
	}
	if _, err := f.signer.Verifier().Verify(ctx, ref, nil); err != nil {
		t.Errorf("signer's own verifier: %v", err)
	}
}

func TestSignTwiceWritesOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 2)
	if _, err := f.signer.Sign(ctx, ref, annotationSet); err != nil {
		t.Fatal(err)
	}
	res, err := f.signer.Sign(ctx, ref, annotationSet)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Existing {
		t.Error("signing the same digest with the same annotations again wrote a new signature")
	}
	if n := countLayers(t, res.Ref); n != 1 {
		t.Errorf("%s holds %d signatures, want 1", res.Ref, n)
	}
	// Different annotations (another run) add a signature.
	other := map[string]string{AnnotationService: "api", AnnotationRunID: "run-43"}
	if res, err := f.signer.Sign(ctx, ref, other); err != nil || res.Existing {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if n := countLayers(t, res.Ref); n != 2 {
		t.Errorf("%s holds %d signatures, want 2", res.Ref, n)
	}
	for _, want := range []map[string]string{annotationSet, other} {
		if _, err := f.verifier.Verify(ctx, ref, want); err != nil {
			t.Errorf("Verify(%v): %v", want, err)
		}
	}
}

func countLayers(tb testing.TB, ref string) int {
	tb.Helper()
	img, err := remote.Image(mustRef(tb, ref))
	if err != nil {
		tb.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		tb.Fatal(err)
	}
	return len(ls)
}

func TestVerifyFailures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	unsigned := f.push(t, "api", 10)
	signedByOther := f.push(t, "api", 11)
	tampered := f.push(t, "api", 12)
	original := f.push(t, "api", 13)
	replayTarget := f.push(t, "api", 14)
	wrongAnnotation := f.push(t, "api", 15)

	if _, err := f.other.Sign(ctx, signedByOther, annotationSet); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{tampered, original, wrongAnnotation} {
		if _, err := f.signer.Sign(ctx, ref, annotationSet); err != nil {
			t.Fatal(err)
		}
	}
	opts := ociremote.WithRemoteOptions(f.client.RemoteOptions(ctx)...)

	// Tampered payload: same signature bytes, payload with another run id.
	tamperedTag, _ := ociremote.SignatureTag(mustRef(t, tampered), opts)
	sigs, err := ociremote.Signatures(tamperedTag, opts)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := sigs.Get()
	pl, _ := list[0].Payload()
	b64, _ := list[0].Base64Signature()
	forged := []byte(strings.Replace(string(pl), "run-42", "run-99", 1))
	if string(forged) == string(pl) {
		t.Fatal("test set-up: the payload did not change")
	}
	forgedSig, err := static.NewSignature(forged, b64)
	if err != nil {
		t.Fatal(err)
	}
	forgedSigs, err := mutate.AppendSignatures(empty.Signatures(), false, forgedSig)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tamperedTag, forgedSigs, f.client.RemoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}

	// Replay: the original's valid signature copied to another image's tag.
	origTag, _ := ociremote.SignatureTag(mustRef(t, original), opts)
	replayTag, _ := ociremote.SignatureTag(mustRef(t, replayTarget), opts)
	desc, err := remote.Get(origTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(replayTag, desc); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		ref  string
		want map[string]string
		kind error
		text string
	}{
		{"unsigned", unsigned, nil, ErrUnsigned, "no signature under sha256-"},
		{"other key", signedByOther, nil, ErrSignatureInvalid, "none by this key"},
		{"tampered payload", tampered, map[string]string{AnnotationRunID: "run-99"}, ErrSignatureInvalid, "none by this key"},
		{"replayed onto another digest", replayTarget, nil, ErrClaimMismatch, "it signs " + digestHex(t, original).String()},
		{"wrong annotation", wrongAnnotation, map[string]string{AnnotationRunID: "run-7"}, ErrAnnotationMismatch, `dev.slipway.run-id is "run-42", want "run-7"`},
		{"missing annotation", wrongAnnotation, map[string]string{"dev.slipway.env": "prod"}, ErrAnnotationMismatch, "dev.slipway.env missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verifier.Verify(ctx, tc.ref, tc.want)
			t.Log(err)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Verify: %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.ref) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not name %s and say %q", err, tc.ref, tc.text)
			}
		})
	}
	// The original is still fine.
	if _, err := f.verifier.Verify(ctx, original, annotationSet); err != nil {
		t.Errorf("original after the replay: %v", err)
	}
}

func TestVerifyAndSignNeedADigestOfAnExistingImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ref := f.push(t, "api", 20)
	tagRef := f.host + "/api:20"
	if _, err := f.verifier.Verify(ctx, tagRef, nil); !errors.Is(err, registry.ErrBadReference) {
		t.Errorf("Verify of a tag: %v, want ErrBadReference", err)
	}
	if _, err := f.signer.Sign(ctx, tagRef, nil); !errors.Is(err, registry.ErrBadReference) {
		t.Errorf("Sign of a tag: %v, want ErrBadReference", err)
	}
	missing := f.host + "/api@sha256:" + strings.Repeat("0", 64)
	if _, err := f.signer.Sign(ctx, missing, nil); !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Sign of a missing image: %v", err)
	}
	if _, err := f.verifier.Verify(ctx, missing, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Verify of a missing image: %v", err)
	}
	_ = ref
}

func TestKeys(t *testing.T) {
	mk, _ := keys(t)
	if !strings.Contains(string(mk.PrivateKeyPEM), "ENCRYPTED SIGSTORE PRIVATE KEY") {
		t.Errorf("private key PEM type: %.40q", mk.PrivateKeyPEM)
	}
	if _, err := LoadSigner(mk.PrivateKeyPEM, []byte("wrong")); !errors.Is(err, ErrBadKey) || strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), string(testPassword)) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadSigner([]byte("not a key"), testPassword); !errors.Is(err, ErrBadKey) {
		t.Errorf("garbage key: %v", err)
	}
	if _, err := LoadVerifier([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")); !errors.Is(err, ErrBadKey) {
		t.Errorf("garbage public key: %v", err)
	}
	if _, err := GenerateKeyPair(nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("empty password: %v", err)
	}
	s, err := LoadSigner(mk.PrivateKeyPEM, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.PublicKeyPEM()) != string(mk.PublicKeyPEM) {
		t.Error("the signer's public key differs from the pair's")
	}
	if _, err := LoadSigner(mk.PrivateKeyPEM, testPassword, WithRegistry(nil)); err == nil {
		t.Error("WithRegistry(nil) accepted")
	}
	_ = base64.StdEncoding
}
