package registrytest

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ReplaySignature copies the cosign signature manifest of one image (the
// "sha256-<hex>.sig" tag next to it) onto another image's signature tag, as
// an attacker with push access could: the signature stays valid, but for
// the first image's digest only. Both references must name digests.
func ReplaySignature(tb testing.TB, from, to string, opts ...remote.Option) {
	tb.Helper()
	sigTag := func(ref string) name.Tag {
		d, err := name.NewDigest(ref)
		if err != nil {
			tb.Fatalf("signature of %s: %v", ref, err)
		}
		return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	}
	desc, err := remote.Get(sigTag(from), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Tag(sigTag(to), desc, opts...); err != nil {
		tb.Fatal(err)
	}
}
