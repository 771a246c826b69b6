package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/kube"
	"github.com/slipwayci/slipway/internal/testutil/kubebed"
	"github.com/slipwayci/slipway/internal/verify"
)

// BenchmarkCommitToVerified measures, on the testbed with the real Flux
// (a push webhook stood in by asking Flux to reconcile at once), the time
// from a GitOps commit that moves a 2-replica Deployment to a new digest
// until verify says verified, next to what the cluster itself takes, read
// every 100 ms: the rollout (the Deployment at the digest, all replicas
// updated and available) and Flux reporting the commit applied and
// healthy (its Kustomization Ready at that revision, after its own health
// check). verify's overhead is what it adds on top of the later of the
// two: its polling interval (2 s, the default) and its reads.
func BenchmarkCommitToVerified(b *testing.B) {
	tb := startTestbed(b, true)
	ctx := context.Background()
	ns, image := "bench", "registry.invalid/shop/orders"
	repo := kubebed.NewGitRepo(b)
	files := map[string]string{
		"deploy/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [namespace.yaml, orders.yaml]\n",
		"deploy/namespace.yaml":     namespace(ns),
		"deploy/orders.yaml":        deployment(ns, "orders", image+"@"+digest("bench start"), "", 2),
	}
	target := verify.Target{Env: "bench", Controller: "flux", Objects: []string{"flux-system/bench"}, Namespaces: []string{ns},
		Commit: repo.Commit(b, files), Services: []verify.Service{{Name: "orders", Repository: image, Digest: digest("bench start")}}}
	tb.WatchGit(b, "bench", repo.Serve(b, tb.Host, "", ""), "main", "./deploy", "", "")
	if res, err := verify.Run(ctx, tb.admin, target, verify.Options{Timeout: 2 * time.Minute}); err != nil || !res.Verified {
		b.Fatalf("the first commit: %v\n%s", err, res.Summary())
	}
	var toVerified, rollout, fluxReady, overhead time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := digest(fmt.Sprintf("bench %d %d", i, time.Now().UnixNano()))
		files["deploy/orders.yaml"] = deployment(ns, "orders", image+"@"+d, "", 2)
		start := time.Now()
		target.Commit = repo.Commit(b, files)
		target.Services[0].Digest = d
		tb.Reconcile(b, "bench")
		rolled, applied := make(chan time.Duration, 1), make(chan time.Duration, 1)
		go func() { rolled <- watchRollout(ctx, tb.admin, ns, image+"@"+d, start) }()
		go func() { applied <- watchApplied(ctx, tb.admin, "flux-system", "bench", target.Commit, start) }()
		res, err := verify.Run(ctx, tb.admin, target, verify.Options{Timeout: 2 * time.Minute})
		if err != nil || !res.Verified {
			b.Fatalf("commit %d: %v\n%s", i, err, res.Summary())
		}
		took := time.Since(start)
		r, a := <-rolled, <-applied
		toVerified += took
		rollout += r
		fluxReady += a
		overhead += took - max(r, a)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(toVerified.Seconds()/n, "s-commit-to-verified")
	b.ReportMetric(rollout.Seconds()/n, "s-rollout")
	b.ReportMetric(fluxReady.Seconds()/n, "s-flux-ready")
	b.ReportMetric(overhead.Seconds()/n, "s-verify-overhead")
}

// watchApplied reads the Kustomization every 100 ms until it reports
// commit applied and Ready=True, and returns how long after start.
func watchApplied(ctx context.Context, c *kube.Client, ns, name, commit string, start time.Time) time.Duration {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var k kube.Kustomization
		if c.Get(ctx, kube.Kustomizations.Path(ns, name), &k) == nil && strings.HasSuffix(k.Status.LastAppliedRevision, commit) {
			if cond, ok := kube.FindCondition(k.Status.Conditions, "Ready"); ok && cond.Status == "True" {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// watchRollout reads the Deployment every 100 ms until it runs image with
// every replica updated and available, and returns how long after start.
func watchRollout(ctx context.Context, c *kube.Client, ns, image string, start time.Time) time.Duration {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var d kube.Deployment
		if c.Get(ctx, kube.Deployments.Path(ns, "orders"), &d) == nil && len(d.Spec.Template.Spec.Containers) > 0 &&
			d.Spec.Template.Spec.Containers[0].Image == image && d.Status.ObservedGeneration >= d.Metadata.Generation &&
			d.Status.UpdatedReplicas == 2 && d.Status.AvailableReplicas == 2 && d.Status.Replicas == 2 {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
