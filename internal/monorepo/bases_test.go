package monorepo

import (
	"strings"
	"testing"
)

func TestWithBaseImagesIsOrderFreeAndSensitiveToEachDigest(t *testing.T) {
	in := Inputs{Digest: "sha256:" + strings.Repeat("0", 64), Files: 3}
	a := BaseImage{Ref: "golang:1.26-alpine", Digest: "sha256:" + strings.Repeat("a", 64)}
	b := BaseImage{Ref: "python:3.11-slim", Digest: "sha256:" + strings.Repeat("b", 64)}
	ab, ba := in.WithBaseImages([]BaseImage{a, b}), in.WithBaseImages([]BaseImage{b, a, b})
	if ab.Digest != ba.Digest || len(ba.BaseImages) != 2 || ba.BaseImages[0] != a {
		t.Fatalf("order or repetition changed the result: %+v vs %+v", ab, ba)
	}
	if ab.Files != 3 || in.BaseImages != nil {
		t.Errorf("the file count was lost or the input was modified: %+v %+v", ab, in)
	}
	moved := b
	moved.Digest = "sha256:" + strings.Repeat("c", 64)
	renamed := b
	renamed.Ref = "python:3.11-slim-bookworm"
	for name, bases := range map[string][]BaseImage{"a digest moved": {a, moved}, "a reference renamed": {a, renamed}, "one base fewer": {a}, "none": nil} {
		if got := in.WithBaseImages(bases).Digest; got == ab.Digest {
			t.Errorf("%s: the digest did not change", name)
		}
	}
	if in.WithBaseImages(nil).Digest == in.Digest {
		t.Error("folding no base images kept the unresolved digest")
	}
}
