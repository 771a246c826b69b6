package verify

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseImage(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, repo, tag, digest string }{
		{"registry.example.com/shop/orders@" + d, "registry.example.com/shop/orders", "", d},
		{"registry.example.com/shop/orders:1.2@" + d, "registry.example.com/shop/orders", "1.2", d},
		{"host:5000/x", "host:5000/x", "", ""},
		{"host:5000/x:v1", "host:5000/x", "v1", ""},
		{"host:5000/x@" + d, "host:5000/x", "", d},
		{"localhost/x:latest", "localhost/x", "latest", ""},
		{"nginx", "docker.io/library/nginx", "", ""},
		{"nginx:1.27", "docker.io/library/nginx", "1.27", ""},
		{"bitnami/redis:7", "docker.io/bitnami/redis", "7", ""},
		{"index.docker.io/library/nginx", "docker.io/library/nginx", "", ""},
		{"Registry.Example.com/Shop/orders", "registry.example.com/Shop/orders", "", ""},
	} {
		got := parseImage(tc.in)
		if got.repo != tc.repo || got.tag != tc.tag || got.digest != tc.digest {
			t.Errorf("parseImage(%q) = %+v, want %s %s %s", tc.in, got, tc.repo, tc.tag, tc.digest)
		}
	}
	if !runsDigest("docker-pullable://registry.example.com/shop/orders@"+d, "", d) ||
		!runsDigest("registry.example.com/shop/orders@"+d, "registry.example.com/shop/orders:1.2", d) ||
		runsDigest("sha256:"+strings.Repeat("cd", 32), "x@"+d, d) ||
		!runsDigest("", "x@"+d, d) || runsDigest("", "x:1.2", d) {
		t.Error("runsDigest")
	}
}

func TestRevisions(t *testing.T) {
	sha := strings.Repeat("0123456789", 4)
	for in, want := range map[string]string{
		"main@sha1:" + sha: sha, "sha1:" + sha: sha, "main/" + sha: sha, sha: sha, "": "",
	} {
		if got := revisionCommit(in); got != want {
			t.Errorf("revisionCommit(%q) = %q", in, got)
		}
	}
	if got := shortRevision("main@sha1:" + sha + ", " + sha); got != "main@sha1:0123456, 0123456" {
		t.Errorf("shortRevision: %s", got)
	}
}

func TestContainsCommit(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	r := &run{t: Target{Commit: a}, descends: map[string]bool{}}
	if ok, _ := r.containsCommit(context.Background(), strings.ToUpper(a)); !ok {
		t.Error("the same commit, other case")
	}
	if ok, _ := r.containsCommit(context.Background(), b); ok {
		t.Error("another commit without Descends")
	}
	calls := 0
	r.o.Descends = func(_ context.Context, ancestor, commit string) (bool, error) {
		calls++
		return ancestor == a && commit == b, nil
	}
	for range 3 {
		if ok, _ := r.containsCommit(context.Background(), b); !ok {
			t.Error("a descendant per Descends")
		}
	}
	if calls != 1 {
		t.Errorf("Descends asked %d times for one commit, want 1 (cached)", calls)
	}
}

func TestValidate(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	ok := Target{Env: "staging", Controller: "flux", Objects: []string{"flux-system/apps"}, Commit: strings.Repeat("a", 40),
		Services: []Service{{Name: "orders", Repository: "r/orders", Digest: d}}}
	if err := validate(ok, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Target)
		want string
	}{
		{func(t *Target) { t.Controller = "spinnaker" }, `controller "spinnaker": want flux, argocd or none`},
		{func(t *Target) { t.Objects = nil }, "controller flux: no object (namespace/name of the Kustomization"},
		{func(t *Target) { t.Objects = []string{"apps"} }, `object "apps" is not namespace/name`},
		{func(t *Target) { t.Controller = "none" }, "controller is none, but objects are given"},
		{func(t *Target) { t.Commit = "main" }, `commit "main" is not a commit hash`},
		{func(t *Target) { t.Services = nil }, "no service to verify"},
		{func(t *Target) { t.Services[0].Digest = "latest" }, `service orders: digest "latest" is not sha256:<64 hex digits>`},
		{func(t *Target) { t.Services[0].Probes = []Probe{{Kind: "http", URL: "orders:8080"}} }, `http probe "orders:8080" is not an http(s) URL`},
		{func(t *Target) { t.Services[0].Probes = []Probe{{Kind: "tcp", URL: "http://orders"}} }, `tcp probe "http://orders" is not host:port`},
		{func(t *Target) { t.Services[0].Probes = []Probe{{Kind: "grpc", URL: "orders"}} }, `grpc probe "orders" is not host:port`},
		{func(t *Target) { t.Services[0].Probes = []Probe{{Kind: "exec", URL: "x"}} }, `probe kind "exec": want http, grpc or tcp`},
	} {
		tg := ok
		tg.Services = []Service{ok.Services[0]}
		tc.edit(&tg)
		if err := validate(tg, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	d1, d2 := "sha256:"+strings.Repeat("ab", 32), "sha256:"+strings.Repeat("cd", 32)
	sha := strings.Repeat("abc1234def", 4)
	ok := Result{Env: "staging", Verified: true, Controller: "flux", ControllerRevision: "main@sha1:" + sha,
		Started: start, Finished: start.Add(14200 * time.Millisecond),
		Services: []ServiceResult{{Name: "orders", Digest: d1, Verified: true, Pods: 2}, {Name: "catalog", Digest: d2, Verified: true, Pods: 1}}}
	if got, want := ok.Summary(), "staging: verified in 14s (flux main@sha1:abc1234): orders ✓ 2 pods at sha256:abababababab…, catalog ✓ 1 pod at sha256:cdcdcdcdcdcd…"; got != want {
		t.Errorf("verified:\n got %s\nwant %s", got, want)
	}
	bad := ok
	bad.Verified = false
	bad.Reason, bad.Message = "HealthCheckFailed", "Kustomization flux-system/apps failed to apply main@sha1:x"
	bad.Finished = start.Add(1500 * time.Millisecond)
	bad.Services = []ServiceResult{
		{Name: "orders", Digest: d1, Reason: "CrashLoopBackOff", Message: "Deployment shop-staging/orders: 0 of 2 updated pods ready", Log: "starting\npanic: no DATABASE_URL"},
		{Name: "catalog", Digest: d2, Verified: true, Pods: 1},
	}
	want := `staging: NOT verified after 1.5s (flux main@sha1:abc1234)
  flux ✗ HealthCheckFailed: Kustomization flux-system/apps failed to apply main@sha1:x
  orders ✗ CrashLoopBackOff: Deployment shop-staging/orders: 0 of 2 updated pods ready
    log: starting
         panic: no DATABASE_URL
  catalog ✓ 1 pod at sha256:cdcdcdcdcdcd…`
	if got := bad.Summary(); got != want {
		t.Errorf("failed:\n got %s\nwant %s", got, want)
	}
	none := Result{Env: "dev", Controller: "none", Verified: true, Started: start, Finished: start.Add(time.Minute + 400*time.Millisecond),
		Services: []ServiceResult{{Name: "orders", Digest: d1, Verified: true, Pods: 1}}}
	if got, want := none.Summary(), "dev: verified in 1m0s: orders ✓ 1 pod at sha256:abababababab…"; got != want {
		t.Errorf("no controller:\n got %s\nwant %s", got, want)
	}
}
