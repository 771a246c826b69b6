package signing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

var testPassword = []byte("correct horse battery staple")

var (
	keysOnce      sync.Once
	mainKeys      *KeyPair
	otherKeys     *KeyPair
	keysErr       error
	fastRetry     = registry.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
	faultRetry    = registry.RetryPolicy{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxElapsed: time.Minute, Jitter: 0.2}
	annotationSet = map[string]string{
		AnnotationSourceCommit: "0123456789abcdef0123456789abcdef01234567",
		AnnotationService:      "api",
		AnnotationRunID:        "run-42",
	}
)

// keys returns two key pairs generated once per test binary (scrypt makes
// each take about 0.2 s).
func keys(tb testing.TB) (main, other *KeyPair) {
	tb.Helper()
	keysOnce.Do(func() {
		mainKeys, keysErr = GenerateKeyPair(testPassword)
		if keysErr == nil {
			otherKeys, keysErr = GenerateKeyPair([]byte("another password"))
		}
	})
	if keysErr != nil {
		tb.Fatal(keysErr)
	}
	return mainKeys, otherKeys
}

func client(tb testing.TB, opts ...registry.Option) *registry.Client {
	tb.Helper()
	c, err := registry.New(append([]registry.Option{registry.WithRetry(fastRetry)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

type fixture struct {
	host   string
	client *registry.Client
	signer *Signer
	// verifier holds the signer's public key, loaded from PEM.
	verifier *Verifier
	other    *Signer
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	return fixtureOn(tb, registrytest.New(tb), client(tb))
}

func fixtureOn(tb testing.TB, host string, c *registry.Client) *fixture {
	tb.Helper()
	mk, ok := keys(tb)
	s, err := LoadSigner(mk.PrivateKeyPEM, testPassword, WithRegistry(c))
	if err != nil {
		tb.Fatal(err)
	}
	v, err := LoadVerifier(mk.PublicKeyPEM, WithRegistry(c))
	if err != nil {
		tb.Fatal(err)
	}
	o, err := LoadSigner(ok.PrivateKeyPEM, []byte("another password"), WithRegistry(c))
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{host: host, client: c, signer: s, verifier: v, other: o}
}

// push pushes a fresh image and returns its digest reference.
func (f *fixture) push(tb testing.TB, repo string, seed int64) string {
	tb.Helper()
	img := registrytest.Image(tb, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 512})
	d, err := f.client.PushImage(context.Background(), img, fmt.Sprintf("%s/%s:%d", f.host, repo, seed))
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

func digestHex(tb testing.TB, ref string) v1.Hash {
	tb.Helper()
	i := len(ref) - 71
	h, err := v1.NewHash(ref[i:])
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func mustRef(tb testing.TB, s string) name.Reference {
	tb.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}
