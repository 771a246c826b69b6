package registry

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

const inputA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// inputB shares inputA's first 32 hex digits: same tag, different digest.
const inputB = "sha256:0123456789abcdef0123456789abcdefffffffffffffffffffffffffffffffff"

func TestInputTag(t *testing.T) {
	tag, err := InputTag(inputA)
	if err != nil {
		t.Fatal(err)
	}
	if tag != "input-0123456789abcdef0123456789abcdef" {
		t.Errorf("InputTag = %q", tag)
	}
	bare, _ := InputTag(strings.ToUpper(strings.TrimPrefix(inputA, "sha256:")))
	if bare != tag {
		t.Errorf("bare upper-case hex gave %q, want %q", bare, tag)
	}
	for _, bad := range []string{"", "sha256:abc", "sha512:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("g", 64)} {
		if _, err := InputTag(bad); err == nil {
			t.Errorf("InputTag(%q) accepted", bad)
		}
	}
}

func TestFindByInputDigest(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c := newClient(t)
	repo := host + "/svc/api"
	tagA, _ := InputTag(inputA)

	// Nothing published yet.
	if _, ok, err := c.FindByInputDigest(ctx, repo, inputA); ok || err != nil {
		t.Fatalf("empty registry: found=%v err=%v", ok, err)
	}

	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 30, Labels: map[string]string{InputDigestLabel: inputA}})
	pushed, err := c.PushImage(ctx, img, repo+":"+strings.Repeat("c", 40), repo+":"+tagA)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.FindByInputDigest(ctx, repo, inputA)
	if err != nil || !ok || got != pushed {
		t.Fatalf("FindByInputDigest = %v, %v, %v; want %s", got, ok, err, pushed)
	}

	// Another input digest with the same 32-digit prefix finds the tag but
	// not a matching label: not trusted.
	_, ok, err = c.FindByInputDigest(ctx, repo, inputB)
	if ok || !errors.Is(err, ErrInputMismatch) || !strings.Contains(err.Error(), inputB) || !strings.Contains(err.Error(), tagA) {
		t.Fatalf("prefix collision: found=%v err=%v; want ErrInputMismatch naming the tag and the digest", ok, err)
	}

	// A tag moved by hand onto an image without the label: not trusted.
	unlabelled := registrytest.Image(t, registrytest.ImageSpec{Seed: 31})
	if _, err := c.PushImage(ctx, unlabelled, repo+":"+tagA); err != nil {
		t.Fatal(err)
	}
	_, ok, err = c.FindByInputDigest(ctx, repo, inputA)
	if ok || !errors.Is(err, ErrInputMismatch) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("unlabelled image: found=%v err=%v", ok, err)
	}

	if _, _, err := c.FindByInputDigest(ctx, repo, "not-a-digest"); err == nil {
		t.Error("a malformed input digest was accepted")
	}
}

func TestFindByInputDigestChecksEveryPlatform(t *testing.T) {
	ctx := context.Background()
	host := registrytest.New(t)
	c := newClient(t)
	repo := host + "/svc/multi"
	tag, _ := InputTag(inputA)
	arm := &v1.Platform{OS: "linux", Architecture: "arm64"}

	good := registrytest.Index(t,
		registrytest.Image(t, registrytest.ImageSpec{Seed: 32, Labels: map[string]string{InputDigestLabel: inputA}}),
		registrytest.Image(t, registrytest.ImageSpec{Seed: 33, Platform: arm, Labels: map[string]string{InputDigestLabel: inputA}}))
	pushed, err := c.PushIndex(ctx, good, repo+":"+tag)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := c.FindByInputDigest(ctx, repo, inputA); err != nil || !ok || got != pushed {
		t.Fatalf("labelled index: %v %v %v", got, ok, err)
	}

	half := registrytest.Index(t,
		registrytest.Image(t, registrytest.ImageSpec{Seed: 34, Labels: map[string]string{InputDigestLabel: inputA}}),
		registrytest.Image(t, registrytest.ImageSpec{Seed: 35, Platform: arm}))
	if _, err := c.PushIndex(ctx, half, repo+":"+tag); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.FindByInputDigest(ctx, repo, inputA); ok || !errors.Is(err, ErrInputMismatch) {
		t.Fatalf("index with one unlabelled platform: found=%v err=%v", ok, err)
	}
}
