package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

// faultPolicy retries enough to get through registrytest.Faults, which
// fails the same request at most 3 times in a row. A failed blob upload is
// started again under a new upload URL (another request to the fault
// injector), so one operation can meet more failures in a row than that:
// 12 attempts at a 30 % fault rate leave a chance below one in a million.
var faultPolicy = RetryPolicy{MaxAttempts: 12, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxElapsed: time.Minute, Jitter: 0.2}

// TestPushAndCopyUnderFaultsLandExactlyOnce pushes and copies images through
// a front end that fails 30 % of requests (503, 429 with Retry-After, TCP
// reset), then checks the registry's content and write counts behind it.
func TestPushAndCopyUnderFaultsLandExactlyOnce(t *testing.T) {
	ctx := context.Background()
	base := registrytest.Handler()
	counter := registrytest.Count(registrytest.RepoScoped(base))
	faults := registrytest.Faults(counter, registrytest.FaultConfig{Rate: 0.3, RetryAfter: 1, Seed: 7})
	host := registrytest.Serve(t, faults)

	c := newClient(t, WithRetry(faultPolicy))
	type pushed struct{ repo, tag, digest string }
	// Services are pushed in parallel, as the pipeline does.
	const services = 4
	results := make([][]pushed, services)
	errs := make([]error, services)
	var wg sync.WaitGroup
	for i := 0; i < services; i++ {
		img := registrytest.Image(t, registrytest.ImageSpec{Seed: int64(100 + i), Layers: 2, LayerSize: 16 << 10})
		file := filepath.Join(t.TempDir(), "image.tar")
		registrytest.WriteOCITarball(t, file, img)
		repo := fmt.Sprintf("%s/svc%d", host, i)
		sha := fmt.Sprintf("%040d", i)
		wantDigest := digestOf(t, img)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := c.PushTarball(ctx, file, repo+":"+sha, repo+":main")
			if err == nil && d.DigestStr() != wantDigest {
				err = fmt.Errorf("returned %s, want %s", d.DigestStr(), wantDigest)
			}
			errs[i] = err
			results[i] = []pushed{{repo, sha, d.DigestStr()}, {repo, "main", d.DigestStr()}}
		}()
	}
	wg.Wait()
	var want []pushed
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("push %d under faults: %v", i, errs[i])
		}
		want = append(want, results[i]...)
	}
	src := want[0]
	dst, err := c.Copy(ctx, src.repo+"@"+src.digest, host+"/prod/svc0", "stable")
	if err != nil {
		t.Fatalf("copy under faults: %v", err)
	}
	want = append(want, pushed{host + "/prod/svc0", "stable", dst.DigestStr()})

	faults.SetEnabled(false)
	for _, p := range want {
		d, err := c.Resolve(ctx, p.repo+":"+p.tag)
		if err != nil || d.DigestStr() != p.digest {
			t.Errorf("%s:%s resolves to %v (%v), want %s", p.repo, p.tag, d, err, p.digest)
		}
		repo := p.repo[len(host)+1:]
		if n := counter.ManifestPuts(repo, p.tag); n != 1 {
			t.Errorf("tag %s:%s written %d times, want exactly once", repo, p.tag, n)
		}
		if n := counter.ManifestPuts(repo, p.digest); n != 1 {
			t.Errorf("manifest %s@%s written %d times, want exactly once", repo, p.digest, n)
		}
	}
	inj := faults.Injected()
	t.Logf("injected %v over %d requests", inj, faults.Requests())
	for _, k := range []registrytest.Fault{registrytest.Unavailable, registrytest.TooManyRequests, registrytest.Reset} {
		if inj[k] == 0 {
			t.Errorf("no %s fault was injected: the test proves nothing about it", k)
		}
	}
}

// TestUnauthorizedFailsFastUnderFaults: credentials errors are not retried,
// even when the registry is also flaky.
func TestUnauthorizedFailsFastUnderFaults(t *testing.T) {
	ctx := context.Background()
	auth := registrytest.BasicAuth(registrytest.Handler(), "ci", testPassword)
	faults := registrytest.Faults(auth, registrytest.FaultConfig{Rate: 0.3, Kinds: []registrytest.Fault{registrytest.Unavailable, registrytest.Reset}, Seed: 3})
	host := registrytest.Serve(t, faults)
	c := newClient(t, WithBasicAuth(host, "ci", "wrong"), WithRetry(faultPolicy))
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 50})
	for i := 0; i < 5; i++ {
		before := auth.Denied()
		_, err := c.PushImage(ctx, img, fmt.Sprintf("%s/app:v%d", host, i))
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("push %d: %v, want ErrUnauthorized", i, err)
		}
		if n := auth.Denied() - before; n != 1 {
			t.Errorf("push %d: %d refused attempts, want exactly 1", i, n)
		}
	}
}
