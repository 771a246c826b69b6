package verify_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipwayci/slipway/internal/kube"
	"github.com/slipwayci/slipway/internal/testutil/kubebed"
	"github.com/slipwayci/slipway/internal/verify"
)

// digest is a made-up image digest; kwok runs nothing, so no image needs
// to exist.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// deployment renders a Deployment of one container (and, when initImage is
// set, an init container).
func deployment(ns, name, image, initImage string, replicas int) string {
	init := ""
	if initImage != "" {
		init = fmt.Sprintf("      initContainers:\n      - {name: migrate, image: %q}\n", initImage)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: %[4]d
  progressDeadlineSeconds: 10
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec:
%[5]s      containers:
      - {name: %[2]s, image: %[3]q}
`, ns, name, image, replicas, init)
}

func namespace(ns string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n"
}

// testbed is the cluster the subtests share, each in namespaces of its own.
type testbed struct {
	*kubebed.Cluster
	admin *kube.Client
}

// run verifies, logging the progress lines, with short intervals.
func (tb *testbed) run(t *testing.T, ctx context.Context, tg verify.Target, o verify.Options) (verify.Result, []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	progress := o.Progress
	o.Progress = func(line string) {
		t.Log(line)
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		if progress != nil {
			progress(line)
		}
	}
	if o.Interval == 0 {
		o.Interval = 200 * time.Millisecond
	}
	res, err := verify.Run(ctx, tb.admin, tg, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("summary (%s):\n%s", res.Finished.Sub(res.Started).Round(time.Millisecond), res.Summary())
	return res, lines
}

// startTestbed starts a control plane whose kubelet is kwok: real
// Deployments, StatefulSets, DaemonSets, RBAC and (with flux) Flux; only
// the containers are pretend.
func startTestbed(t testing.TB, flux bool) *testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane")
	}
	if err := kubebed.Build(flux); err != nil {
		t.Skipf("the testbed's binaries cannot be built: %v", err)
	}
	c := kubebed.Start(t, kubebed.Options{Flux: flux})
	admin, err := kube.ParseKubeconfig(c.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	return &testbed{Cluster: c, admin: admin}
}

// TestVerify runs the verifications of workloads, probes, permissions and
// Argo CD against a real control plane, each subtest in namespaces of its
// own.
func TestVerify(t *testing.T) {
	t.Parallel()
	tb := startTestbed(t, false)
	c := tb.Cluster
	ctx := context.Background()

	t.Run("rolled out", func(t *testing.T) {
		t.Parallel()
		ns := "v-ok"
		orders, migrate := digest("orders ok"), digest("migrate ok")
		ledger, agent := digest("ledger ok"), digest("agent ok")
		c.Apply(t, namespace(ns)+"---\n"+
			deployment(ns, "orders", "registry.invalid/shop/orders:1.4@"+orders, "registry.invalid/shop/migrate@"+migrate, 2)+`---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ledger, namespace: v-ok}
spec:
  replicas: 2
  serviceName: ledger
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec:
      containers:
      - {name: ledger, image: "localhost:5000/shop/ledger@`+ledger+`"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: v-ok}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: agent, image: "busybox@`+agent+`"}
`)
		res, lines := tb.run(t, ctx, verify.Target{
			Env: "ok", Controller: "none", Namespaces: []string{ns},
			Services: []verify.Service{
				{Name: "orders", Repository: "registry.invalid/shop/orders", Digest: orders},
				{Name: "migrate", Repository: "registry.invalid/shop/migrate", Digest: migrate},
				{Name: "ledger", Repository: "localhost:5000/shop/ledger", Digest: ledger},
				{Name: "agent", Repository: "docker.io/library/busybox", Digest: agent},
			},
		}, verify.Options{Timeout: time.Minute})
		if !res.Verified {
			t.Fatalf("not verified:\n%s", res.Summary())
		}
		want := map[string]struct {
			pods     int
			workload string
		}{
			"orders":  {2, "Deployment v-ok/orders"},
			"migrate": {2, "Deployment v-ok/orders"},
			"ledger":  {2, "StatefulSet v-ok/ledger"},
			"agent":   {1, "DaemonSet v-ok/agent"},
		}
		for _, s := range res.Services {
			w := want[s.Name]
			if !s.Verified || s.Pods != w.pods || len(s.Workloads) != 1 || s.Workloads[0] != w.workload || s.Reason != "" {
				t.Errorf("%s: got %+v, want %d pods of %s", s.Name, s, w.pods, w.workload)
			}
		}
		sum := res.Summary()
		if !strings.HasPrefix(sum, "ok: verified in ") || strings.Contains(sum, "\n") ||
			!strings.Contains(sum, "orders ✓ 2 pods at "+orders[:19]+"…, migrate ✓ 2 pods") || !strings.Contains(sum, "agent ✓ 1 pod at") {
			t.Errorf("summary: %s", sum)
		}
		verified := 0
		for _, l := range lines {
			if !strings.HasPrefix(l, "ok ") {
				t.Errorf("progress line without the environment: %q", l)
			}
			if strings.Contains(l, ": verified: ") {
				verified++
			}
		}
		if verified != 4 {
			t.Errorf("want one verified line per service, got %d:\n%s", verified, strings.Join(lines, "\n"))
		}
	})

	t.Run("wrong digest", func(t *testing.T) {
		t.Parallel()
		ns := "v-wrong"
		running, wanted := digest("orders running"), digest("orders wanted")
		c.Apply(t, namespace(ns)+"---\n"+deployment(ns, "orders", "registry.invalid/shop/orders@"+running, "", 1))
		res, _ := tb.run(t, ctx, verify.Target{
			Env: "wrong", Namespaces: []string{ns},
			Services: []verify.Service{{Name: "orders", Repository: "registry.invalid/shop/orders", Digest: wanted}},
		}, verify.Options{Timeout: 2 * time.Second})
		s := res.Services[0]
		if res.Verified || s.Verified || s.Reason != verify.ReasonWrongDigest ||
			!strings.Contains(s.Message, "Deployment v-wrong/orders") || !strings.Contains(s.Message, running[:19]) || !strings.Contains(s.Message, wanted[:19]) {
			t.Errorf("got %+v", s)
		}
		if !strings.Contains(res.Summary(), "orders ✗ WrongDigest: ") {
			t.Errorf("summary: %s", res.Summary())
		}
	})

	t.Run("no workload", func(t *testing.T) {
		t.Parallel()
		c.Apply(t, namespace("v-empty"))
		res, _ := tb.run(t, ctx, verify.Target{
			Env: "empty", Namespaces: []string{"v-empty", "v-empty-too"},
			Services: []verify.Service{{Name: "ghost", Repository: "registry.invalid/shop/ghost", Digest: digest("ghost")}},
		}, verify.Options{Timeout: time.Second})
		s := res.Services[0]
		if res.Verified || s.Reason != verify.ReasonNoWorkload || !strings.Contains(s.Message, "no Deployment, StatefulSet or DaemonSet in namespaces v-empty, v-empty-too runs registry.invalid/shop/ghost") ||
			!strings.Contains(s.Message, "not verified within 1s") || len(s.Workloads) != 0 {
			t.Errorf("got %+v", s)
		}
	})

	t.Run("crash loop", func(t *testing.T) {
		t.Parallel()
		ns := "v-crash"
		good, bad := digest("orders good"), digest("orders crashing")
		repo := "registry.invalid/shop/orders"
		c.Apply(t, namespace(ns)+"---\n"+deployment(ns, "orders", repo+"@"+good, "", 2))
		target := verify.Target{Env: "crash", Namespaces: []string{ns},
			Services: []verify.Service{{Name: "orders", Repository: repo, Digest: good}}}
		if res, _ := tb.run(t, ctx, target, verify.Options{Timeout: time.Minute}); !res.Verified {
			t.Fatalf("the first rollout is not verified:\n%s", res.Summary())
		}

		undo := c.FailImage(t, repo+"@"+bad)
		t.Cleanup(undo)
		c.Apply(t, deployment(ns, "orders", repo+"@"+bad, "", 2))
		target.Services[0].Digest = bad
		timeout := 2 * time.Minute
		res, lines := tb.run(t, ctx, target, verify.Options{Timeout: timeout})
		s := res.Services[0]
		if res.Verified || s.Verified || s.Reason != "CrashLoopBackOff" {
			t.Fatalf("want CrashLoopBackOff, got %+v", s)
		}
		for _, w := range []string{"Deployment v-crash/orders: progress deadline of 10s exceeded (ProgressDeadlineExceeded",
			"0 of 2 updated pods ready", "container orders waiting CrashLoopBackOff (restarted 1 time, last exit code 1)"} {
			if !strings.Contains(s.Message, w) {
				t.Errorf("message %q lacks %q", s.Message, w)
			}
		}
		if took := res.Finished.Sub(res.Started); took >= timeout {
			t.Errorf("a progress deadline exceeded should end the verification at once; it took %s", took)
		}
		// kwok serves no logs: the log is left out, not an error.
		if s.Log != "" {
			t.Errorf("log: %q", s.Log)
		}
		if sum := res.Summary(); !strings.HasPrefix(sum, "crash: NOT verified after ") || !strings.Contains(sum, "\n  orders ✗ CrashLoopBackOff: Deployment v-crash/orders: ") {
			t.Errorf("summary: %s", sum)
		}
		crashLines := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "crash orders: CrashLoopBackOff: ") {
				crashLines++
			}
		}
		if crashLines == 0 {
			t.Errorf("no progress line reported the crash: %q", lines)
		}
	})

	t.Run("probes", func(t *testing.T) {
		t.Parallel()
		ns := "v-probe"
		web := digest("web")
		c.Apply(t, namespace(ns)+"---\n"+deployment(ns, "web", "registry.invalid/shop/web@"+web, "", 1))
		// A real HTTP server and a real gRPC server with the standard
		// health service, both unhealthy at first.
		var healthy atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" || !healthy.Load() {
				http.Error(w, "warming up", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}))
		defer srv.Close()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer()
		hs := health.NewServer()
		healthpb.RegisterHealthServer(gs, hs)
		go gs.Serve(lis)
		defer gs.Stop()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

		target := verify.Target{Env: "probe", Namespaces: []string{ns},
			Services: []verify.Service{{Name: "web", Repository: "registry.invalid/shop/web", Digest: web, Probes: []verify.Probe{
				{Kind: "tcp", URL: srv.Listener.Addr().String()},
				{Kind: "http", URL: srv.URL + "/healthz", Status: 200},
				{Kind: "grpc", URL: lis.Addr().String()},
			}}}}

		// Rolled out first, so that the probes have their seconds.
		rollout := target
		rollout.Services = []verify.Service{target.Services[0]}
		rollout.Services[0].Probes = nil
		if res, _ := tb.run(t, ctx, rollout, verify.Options{Timeout: time.Minute}); !res.Verified {
			t.Fatalf("not rolled out:\n%s", res.Summary())
		}
		res, _ := tb.run(t, ctx, target, verify.Options{Timeout: 3 * time.Second})
		s := res.Services[0]
		if res.Verified || s.Reason != verify.ReasonProbeFailed || !strings.Contains(s.Message, "http probe "+srv.URL+"/healthz") ||
			!strings.Contains(s.Message, "last answer: HTTP 503 warming up") || !strings.Contains(s.Message, "Deployment v-probe/web rolled out, 1 pod at") {
			t.Errorf("HTTP unhealthy: got %+v", s)
		}

		healthy.Store(true)
		res, _ = tb.run(t, ctx, target, verify.Options{Timeout: 4 * time.Second})
		s = res.Services[0]
		if res.Verified || s.Reason != verify.ReasonProbeFailed || !strings.Contains(s.Message, "grpc probe "+lis.Addr().String()) ||
			!strings.Contains(s.Message, "status NOT_SERVING") {
			t.Errorf("gRPC unhealthy: got %+v", s)
		}

		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Minute})
		if !res.Verified || res.Services[0].Pods != 1 {
			t.Errorf("healthy: not verified:\n%s", res.Summary())
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		nobody, err := kube.ParseKubeconfig(c.UserKubeconfig(t, "nobody"), "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := verify.Run(ctx, nobody, verify.Target{Env: "rbac", Namespaces: []string{"v-ok"},
			Services: []verify.Service{{Name: "orders", Repository: "registry.invalid/shop/orders", Digest: digest("x")}}},
			verify.Options{Timeout: time.Minute, Interval: 200 * time.Millisecond})
		if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), `User "nobody" cannot list resource "deployments" in API group "apps" in the namespace "v-ok"`) {
			t.Fatalf("got %v, want a forbidden error naming the resource", err)
		}
		if res.Verified || res.Services[0].Reason != verify.ReasonForbidden {
			t.Errorf("result: %+v", res)
		}
	})

	t.Run("argo cd", func(t *testing.T) { t.Parallel(); testArgoCD(t, tb) })
}

// testArgoCD checks the Argo CD path. Argo CD itself is not part of the
// testbed: this installs a minimal Application CRD (with a status
// subresource) and writes status the way Argo CD's application controller
// does. It is the one stand-in of these tests; the workloads are real.
func testArgoCD(t *testing.T, tb *testbed) {
	ctx := context.Background()
	ns := "v-argo"
	orders := digest("orders argo")
	commit, older := strings.Repeat("c0ffee", 6)+"c0ff", strings.Repeat("0bad", 10)
	app := `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://git.invalid/gitops.git", path: envs/staging, targetRevision: main}
  destination: {server: "https://kubernetes.default.svc", namespace: v-argo}
`
	tb.InstallArgoApplications(t, namespace("argocd")+"---\n"+namespace(ns)+"---\n"+app+"---\n"+deployment(ns, "orders", "registry.invalid/shop/orders@"+orders, "", 2))
	setStatus := func(status string) {
		t.Helper()
		tb.Kubectl(t, "patch", "applications.argoproj.io", "shop", "-n", "argocd", "--subresource=status", "--type=merge", "-p", `{"status":`+status+`}`)
	}
	target := verify.Target{Env: "argo", Controller: "argocd", Objects: []string{"argocd/shop"}, Namespaces: []string{ns}, Commit: commit,
		Services: []verify.Service{{Name: "orders", Repository: "registry.invalid/shop/orders", Digest: orders}}}

	// Argo CD compared and synced the commit, and everything is healthy.
	setStatus(`{"sync":{"status":"Synced","revision":"` + commit + `"},"health":{"status":"Healthy"},
		"operationState":{"phase":"Succeeded","message":"successfully synced (all tasks run)","syncResult":{"revision":"` + commit + `"}}}`)
	res, _ := tb.run(t, ctx, target, verify.Options{Timeout: time.Minute})
	if !res.Verified || res.ControllerRevision != commit || res.AppliedCommit != commit || res.Reason != "" {
		t.Errorf("synced and healthy: got %+v", res)
	}
	if !strings.Contains(res.Summary(), "(argocd "+commit[:7]+"): orders ✓ 2 pods") {
		t.Errorf("summary: %s", res.Summary())
	}

	// Still at the older commit.
	setStatus(`{"sync":{"status":"OutOfSync","revision":"` + older + `"},"health":{"status":"Healthy"},"operationState":null}`)
	res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Second})
	if res.Verified || res.Reason != verify.ReasonNotApplied || !strings.Contains(res.Message, "Application argocd/shop to sync "+commit[:7]+" (sync OutOfSync at 0bad0ba, health Healthy)") {
		t.Errorf("out of sync: got reason %q message %q", res.Reason, res.Message)
	}
	if s := res.Services[0]; s.Reason != verify.ReasonNotApplied || !strings.Contains(s.Message, "but argocd has not applied "+commit[:7]) {
		t.Errorf("out of sync: service %+v", s)
	}

	// Synced at the commit but Degraded.
	setStatus(`{"sync":{"status":"Synced","revision":"` + commit + `"},"health":{"status":"Degraded","message":"one resource is degraded"},
		"resources":[{"group":"apps","kind":"Deployment","namespace":"v-argo","name":"orders","status":"Synced",
		"health":{"status":"Degraded","message":"Deployment \"orders\" exceeded its progress deadline"}}]}`)
	res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Second})
	if res.Verified || res.Reason != "Degraded" || !strings.Contains(res.Message, `Deployment v-argo/orders is Degraded: Deployment "orders" exceeded its progress deadline`) {
		t.Errorf("degraded: got reason %q message %q", res.Reason, res.Message)
	}
	if !strings.Contains(res.Summary(), "\n  argocd ✗ Degraded: Application argocd/shop is Degraded at c0ffeec") {
		t.Errorf("summary: %s", res.Summary())
	}

	// The sync of the commit failed.
	setStatus(`{"sync":{"status":"OutOfSync","revision":"` + commit + `"},"health":{"status":"Healthy"},
		"operationState":{"phase":"Failed","message":"one or more objects failed to apply, reason: admission webhook denied the request",
		"syncResult":{"revision":"` + commit + `"}}}`)
	res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Second})
	if res.Verified || res.Reason != "SyncFailed" || !strings.Contains(res.Message, "admission webhook denied the request") {
		t.Errorf("sync failed: got reason %q message %q", res.Reason, res.Message)
	}
}

// applyErr applies manifests, returning kubectl's error instead of failing.
func applyErr(tb *testbed, manifests string) (string, error) {
	f, err := os.CreateTemp(tb.Dir, "apply-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(manifests); err != nil {
		return "", err
	}
	f.Close()
	return tb.KubectlErr("apply", "--server-side", "--force-conflicts", "--field-manager=kubebed", "-f", f.Name())
}

// TestVerifyFlux runs Flux for real: it fetches commits of a Git
// repository served here and applies them.
func TestVerifyFlux(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	tb := startTestbed(t, true)
	ctx := context.Background()
	ns := "v-flux"
	repo := kubebed.NewGitRepo(t)
	orders, catalog := digest("orders flux 1"), digest("catalog flux 1")
	files := map[string]string{
		"deploy/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [namespace.yaml, orders.yaml, catalog.yaml]\n",
		"deploy/namespace.yaml":     namespace(ns),
		"deploy/orders.yaml":        deployment(ns, "orders", "registry.invalid/shop/orders@"+orders, "", 2),
		"deploy/catalog.yaml":       deployment(ns, "catalog", "registry.invalid/shop/catalog@"+catalog, "", 1),
	}
	commit1 := repo.Commit(t, files)
	tb.WatchGit(t, "shop", repo.Serve(t, tb.Host, "", ""), "main", "./deploy", "", "")
	target := verify.Target{Env: "flux", Controller: "flux", Objects: []string{"flux-system/shop"}, Namespaces: []string{ns}, Commit: commit1,
		Services: []verify.Service{
			{Name: "orders", Repository: "registry.invalid/shop/orders", Digest: orders},
			{Name: "catalog", Repository: "registry.invalid/shop/catalog", Digest: catalog},
		}}

	// Step 1: Flux applies the commit; the workloads roll out.
	res, _ := tb.run(t, ctx, target, verify.Options{Timeout: 2 * time.Minute})
	if !res.Verified || res.ControllerRevision != "main@sha1:"+commit1 || res.AppliedCommit != commit1 {
		t.Fatalf("commit 1: got %+v\n%s", res, res.Summary())
	}
	if !strings.Contains(res.Summary(), "(flux main@sha1:"+commit1[:7]+"): orders ✓ 2 pods") {
		t.Errorf("summary: %s", res.Summary())
	}

	// Step 2: a later commit that contains the first is applied. It counts
	// for the first only when the history says it contains it.
	files["README.md"] = "staging\n"
	commit2 := repo.Commit(t, files)
	tb.Reconcile(t, "shop")
	target.Commit = commit2
	if res, _ := tb.run(t, ctx, target, verify.Options{Timeout: 2 * time.Minute}); !res.Verified {
		t.Fatalf("commit 2:\n%s", res.Summary())
	}
	target.Commit = commit1
	res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Second})
	if res.Verified || res.Reason != verify.ReasonNotApplied || !strings.Contains(res.Message, "last applied main@sha1:"+commit2) {
		t.Errorf("commit 1 without history: got reason %q message %q", res.Reason, res.Message)
	}
	var asked atomic.Int32
	descends := func(ctx context.Context, ancestor, commit string) (bool, error) {
		asked.Add(1)
		return repo.IsAncestor(ancestor, commit), nil
	}
	res, _ = tb.run(t, ctx, target, verify.Options{Timeout: time.Minute, Descends: descends})
	if !res.Verified || res.AppliedCommit != commit2 || asked.Load() == 0 {
		t.Errorf("commit 1 with history: got %+v", res)
	}

	// Step 3: a commit whose rollout fails its health check: Flux reports
	// HealthCheckFailed on it and keeps commit 2 as the last applied.
	// catalog is untouched and fine; the controller is not. Verification
	// is cancelled as soon as that is seen, rather than waiting it out.
	crashing := "registry.invalid/shop/orders@" + digest("orders flux crashing")
	t.Cleanup(tb.FailImage(t, crashing))
	files["deploy/orders.yaml"] = deployment(ns, "orders", crashing, "", 2)
	commit3 := repo.Commit(t, files)
	tb.Reconcile(t, "shop")
	target.Commit = commit3
	target.Services = target.Services[1:]
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, _ = tb.run(t, cctx, target, verify.Options{Timeout: 3 * time.Minute, Progress: func(line string) {
		if strings.HasPrefix(line, "flux flux: HealthCheckFailed: ") {
			cancel()
		}
	}})
	if res.Verified || res.Reason != "HealthCheckFailed" || !strings.Contains(res.Message, "Kustomization flux-system/shop failed to apply main@sha1:"+commit3) ||
		res.ControllerRevision != "main@sha1:"+commit2 {
		t.Errorf("commit 3: got reason %q message %q revision %q", res.Reason, res.Message, res.ControllerRevision)
	}
	if s := res.Services[0]; s.Verified || s.Reason != verify.ReasonNotApplied || s.Pods != 1 {
		t.Errorf("commit 3: catalog %+v", s)
	}
}
