package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/testutil/kubebed"
)

// verifyEnvironments replaces the sample's environments: dev and staging
// run in the testbed's cluster, applied by Flux; staging takes only what
// was verified in dev; prod takes what was verified in staging, has soaked
// there for soak, and a release manager approved.
const verifyEnvironments = `environments:
  - name: dev
    autoDeploy: true
    cluster:
      controller: flux
      objects: [flux-system/dev]
      namespaces: [shop-dev]
      timeout: 60s
  - name: staging
    requireSignature: true
    requireVerifiedIn: [dev]
    cluster:
      controller: flux
      objects: [flux-system/staging]
      namespaces: [shop-staging]
      timeout: 2m
  - name: prod
    requireSignature: true
    requireVerifiedIn: [staging]
    minSoak: %s
    requireApproval: true
    approvers:
      keys: [keys/release-manager.pub]
`

// TestModuleVerifiesTheCluster runs slipway through the real engine
// against a real Kubernetes control plane (kube-apiserver, etcd,
// controller-manager, scheduler; kwok nodes) with the real Flux applying
// the GitOps repository slipway writes, and a read-only kubeconfig bound to
// the RBAC of docs/verification-rbac.yaml:
//
//  1. ci --verify: Flux applies the dev commit, the Deployments roll out at
//     the new digests, and each image gets a signed verification record
//     that the stock cosign CLI verifies;
//  2. promote dev → staging --verify, which staging allows because dev
//     verified the images;
//  3. prod's gates: refused before minSoak (saying when it passes), then
//     without an approval, then with an approval signed by a key prod does
//     not list (attached with the stock cosign CLI, as anyone with registry
//     access could); accepted once the release manager approves;
//  4. a broken rollout (kwok fails the new orders pods): deploy --verify
//     fails naming orders and the cluster's reason; staging refuses what
//     failed in dev; verify --rollback-on-failure puts orders back on the
//     last digest verified in dev and rejects the failed one, and Flux
//     rolls the cluster back.
func TestModuleVerifiesTheCluster(t *testing.T) {
	ip := bridgeAddr(t)
	cluster := kubebed.Start(t, kubebed.Options{Host: ip, Flux: true})
	r := newSlipwayRun(t)
	stamp := time.Now().UnixNano()
	password, token := fmt.Sprintf("regpw-%x-do-not-leak", stamp), fmt.Sprintf("gitops-token-%x-do-not-leak", stamp)
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", password)
	t.Setenv("SLIPWAY_E2E_GITOPS_TOKEN", token)
	reg := newCompanyRegistry(t, ip, registryUser, password, 0)
	// A rollout that cannot progress fails within seconds, not the
	// default ten minutes.
	r.edit("deploy/base/orders.yaml", func(s string) string {
		if !strings.Contains(s, "\n  replicas: 1\n") {
			t.Fatalf("orders.yaml has no replicas line:\n%s", s)
		}
		return strings.Replace(s, "\n  replicas: 1\n", "\n  replicas: 1\n  progressDeadlineSeconds: 15\n", 1)
	})
	git := newGitServer(t, ip, token, filepath.Join(r.fixture, "deploy"))

	const soak = 25 * time.Second
	rm := releaseManagerKey(t, r)
	r.edit("slipway.yaml", func(s string) string {
		i, j := strings.Index(s, "environments:\n"), strings.Index(s, "\nimages:")
		if i < 0 || j < i {
			t.Fatalf("slipway.yaml has no environments block to replace:\n%s", s)
		}
		return s[:i] + fmt.Sprintf(verifyEnvironments, soak) + s[j:]
	})
	r.useCompanyServers(reg, git)

	// The cluster: the environments' namespaces, slipway's read-only
	// access as docs/verification-rbac.yaml grants it, and Flux watching
	// the GitOps repository (every 5 s: a push webhook does the same).
	rbac, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs/verification-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"shop-dev", "shop-staging"} {
		cluster.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns))
		cluster.Apply(t, strings.ReplaceAll(string(rbac), "shop-staging", ns))
	}
	for _, env := range []string{"dev", "staging"} {
		cluster.WatchGit(t, env, git.url, "main", "./deploy/overlays/"+env, "slipway", token)
		cluster.Kubectl(t, "patch", "-n", "flux-system", "gitrepository/"+env, "--type=merge", "-p", `{"spec":{"interval":"5s"}}`)
		cluster.Kubectl(t, "patch", "-n", "flux-system", "kustomization/"+env, "--type=merge", "-p", `{"spec":{"interval":"5s"}}`)
	}
	since := time.Now()
	kc := cluster.UserKubeconfig(t, "slipway-verifier")
	if _, err := cluster.KubectlAs(kc, "-n", "shop-dev", "delete", "deployment", "orders"); err == nil {
		t.Fatal("the verifier's kubeconfig may delete: the documented RBAC is not read-only")
	}
	t.Setenv("SLIPWAY_E2E_KUBECONFIG", string(kc))
	r.moduleArgs = append(secretArgs(), "--kubeconfig", "env://SLIPWAY_E2E_KUBECONFIG")

	// 1. ci --verify.
	r.mustCall("ci", "--verify")
	rep := r.lastReport()
	built := byName(rep)
	v := onlyVerification(t, rep, "dev")
	if !v.Verified || len(v.Services) != 3 || !strings.HasPrefix(v.ControllerRevision, "main@sha1:") {
		t.Fatalf("dev after ci --verify: %+v", v)
	}
	for _, s := range v.Services {
		if !s.Verified || s.Pods < 1 || s.Digest != built[s.Name].Digest || s.Record == "" {
			t.Errorf("dev %s: %+v (built %s)", s.Name, s, built[s.Name].Digest)
		}
	}
	if want := "main@sha1:" + git.commits(t)[0]; v.ControllerRevision != want {
		t.Errorf("Flux applied %s, slipway's commit is %s", v.ControllerRevision, want)
	}
	orders := built["orders"]
	rec := r.verifiedRecord(reg.ref(orders.Repository), orders.Digest)
	if rec.Environment != "dev" || rec.Result != gates.Verified || rec.Service != "orders" || rec.Controller != "flux" || rec.GitOpsCommit != git.commits(t)[0] {
		t.Errorf("the verification record cosign verified: %+v", rec)
	}

	if out := r.mustCall("images"); !strings.Contains(out, "verified in dev ") {
		t.Errorf("images does not show the verification in dev:\n%s", tail(out, 20))
	}

	// 2. dev → staging, verified in staging.
	r.mustCall("promote", "--from", "dev", "--to", "staging", "--verify")
	if v := onlyVerification(t, r.lastReportOf(report.Promote), "staging"); !v.Verified || len(v.Services) != 3 {
		t.Fatalf("staging after promote --verify: %+v", v)
	}
	stagingVerified := time.Now()

	// 3. prod's gates, for orders.
	commits := len(git.commits(t))
	toProd := []string{"promote", "--from", "staging", "--to", "prod", "--service", "orders"}
	out, err := r.call(toProd...)
	if err == nil || !strings.Contains(out, "minSoak: soaked") || !strings.Contains(out, "passes at") {
		t.Fatalf("promotion to prod before minSoak (err=%v):\n%s", err, tail(out, 30))
	}
	time.Sleep(time.Until(stagingVerified.Add(soak + 2*time.Second)))
	out, err = r.call(toProd...)
	if err == nil || !strings.Contains(out, "requireApproval: no approval for prod") {
		t.Fatalf("promotion to prod without an approval (err=%v):\n%s", err, tail(out, 30))
	}
	// Anyone who can push to the registry can attach an "approval": one
	// signed by the CI key, which prod does not list, counts for nothing.
	r.cosignAttest(reg.ref(orders.Repository)+"@"+orders.Digest, gates.PredicateApproval,
		gates.Approval{Environment: "prod", Service: "orders", Digest: orders.Digest, By: "mallory", Time: time.Now().UTC()})
	out, err = r.call(toProd...)
	if err == nil || !strings.Contains(out, "no approval for prod") {
		t.Fatalf("promotion to prod with an approval by an unlisted key (err=%v):\n%s", err, tail(out, 30))
	}
	if n := len(git.commits(t)); n != commits {
		t.Fatalf("refused promotions wrote %d GitOps commits", n-commits)
	}
	// The CI key is refused by approve itself, before anything is signed.
	out, err = r.call("approve", "--env", "prod", "--digest", orders.Digest)
	if err == nil || !strings.Contains(out, "prod does not take approvals from this key") {
		t.Fatalf("approve with the CI key (err=%v):\n%s", err, tail(out, 30))
	}
	rm.use(func() { r.mustCall("approve", "--env", "prod", "--digest", orders.Digest, "--reason", "release 1.0") })
	r.mustCall(toProd...)
	if f := git.file(t, "deploy/overlays/prod/kustomization.yaml"); !strings.Contains(f, orders.Digest) {
		t.Fatalf("prod does not run the approved orders:\n%s", f)
	}

	// 4. A broken rollout in dev.
	r.edit("services/orders/main.go", func(s string) string { return s + "\n// a change that crash-loops in the cluster\n" })
	brokenCommit := r.commit("orders: a change that crash-loops")
	r.mustCall("ci", "--skip-deploy")
	broken := byName(r.lastReport())["orders"]
	if broken.Digest == orders.Digest || broken.Digest == "" {
		t.Fatalf("the change did not build a new orders: %+v", broken)
	}
	// The manifests pin it as repository:commit@digest.
	cluster.FailImage(t, orders.Repository+":"+brokenCommit+"@"+broken.Digest)
	out, err = r.call("deploy", "--env", "dev", "--verify")
	if err == nil || !strings.Contains(out, "orders is not verified in dev") {
		t.Fatalf("deploy --verify of a crash-looping orders (err=%v):\n%s", err, tail(out, 40))
	}
	v = onlyVerification(t, r.lastReportOf(report.Deploy), "dev")
	failed := map[string]report.VerificationService{}
	for _, s := range v.Services {
		failed[s.Name] = s
	}
	// orders fails fast (its progress deadline); catalog rolled out, but
	// Flux had not finished with the commit when the wait ended: no verdict
	// about catalog's image, so only orders gets a (failed) record.
	if v.Verified || failed["orders"].Verified || !strings.Contains(failed["orders"].Reason+failed["orders"].Message, "CrashLoopBackOff") ||
		!strings.Contains(failed["orders"].Message, "ProgressDeadlineExceeded") || failed["catalog"].Pods < 1 {
		t.Fatalf("the failed verification: %+v", v)
	}
	if !strings.HasPrefix(v.Recorded, "1 signed verification record") || failed["orders"].Record == "" {
		t.Errorf("records of the failed verification: %s", v.Recorded)
	}
	out, err = r.call("promote", "--from", "dev", "--to", "staging", "--service", "orders")
	if err == nil || !strings.Contains(out, "last verification in dev failed") {
		t.Fatalf("promoting what failed in dev (err=%v):\n%s", err, tail(out, 30))
	}
	commits = len(git.commits(t))
	out, err = r.call("verify", "--env", "dev", "--rollback-on-failure")
	if err == nil {
		t.Fatalf("verify --rollback-on-failure passed on a failing dev:\n%s", tail(out, 30))
	}
	v = onlyVerification(t, r.lastReportOf(report.Verify), "dev")
	if len(v.RolledBack) != 1 || !strings.Contains(v.RolledBack[0], "orders: back to "+report.ShortDigest(orders.Digest)) {
		t.Fatalf("rolled back: %q\n%s", v.RolledBack, tail(out, 30))
	}
	if n := len(git.commits(t)); n != commits+2 {
		t.Errorf("the rollback wrote %d GitOps commits, want 2 (the rejection, the rollback)", n-commits)
	}
	dev := git.file(t, "deploy/overlays/dev/kustomization.yaml")
	if !strings.Contains(dev, orders.Digest) || strings.Contains(dev, broken.Digest) {
		t.Fatalf("dev after the rollback:\n%s", dev)
	}
	if st := git.file(t, "deploy/slipway-state.yaml"); !strings.Contains(st, broken.Digest) {
		t.Errorf("the failed digest is not rejected in the state file:\n%s", st)
	}
	r.mustCall("verify", "--env", "dev")
	if v := onlyVerification(t, r.lastReportOf(report.Verify), "dev"); !v.Verified {
		t.Fatalf("dev after Flux rolled back: %+v", v)
	}

	// 5. Argo CD. It does not build here: its Application CRD is installed
	//    and the test writes the Application's status the way Argo CD
	//    writes it (the one stand-in of this test). Flux still applies the
	//    manifests; slipway reads what "Argo CD" says and the workloads.
	cluster.InstallArgoApplications(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n---\n"+argoVerifierRBAC+"---\n"+argoApplication)
	r.edit("slipway.yaml", func(s string) string {
		return strings.Replace(s, "      controller: flux\n      objects: [flux-system/staging]\n", "      controller: argocd\n      objects: [argocd/staging]\n", 1)
	})
	r.commit("staging is applied by Argo CD")
	tip := git.commits(t)[0]
	argoStatus := func(status string) {
		cluster.Kubectl(t, "patch", "applications.argoproj.io", "staging", "-n", "argocd", "--subresource=status", "--type=merge", "-p", `{"status":`+status+`}`)
	}
	argoStatus(`{"sync":{"status":"Synced","revision":"` + tip + `"},"health":{"status":"Healthy"}}`)
	r.mustCall("verify", "--env", "staging")
	if v := onlyVerification(t, r.lastReportOf(report.Verify), "staging"); !v.Verified || v.Controller != "argocd" || v.ControllerRevision != tip {
		t.Fatalf("staging through Argo CD: %+v", v)
	}
	argoStatus(`{"health":{"status":"Degraded","message":"one resource is degraded"},"resources":[{"group":"apps","kind":"Deployment","namespace":"shop-staging","name":"orders","status":"Synced","health":{"status":"Degraded","message":"Deployment \"orders\" exceeded its progress deadline"}}]}`)
	out, err = r.call("verify", "--env", "staging", "--timeout", "10s")
	if err == nil || !strings.Contains(out, "Degraded") {
		t.Fatalf("a Degraded Application (err=%v):\n%s", err, tail(out, 30))
	}

	// The kubeconfig and the release manager's key were Dagger secrets:
	// they are nowhere the runs left traces (output, reports, GitOps
	// history, registry layers, the engine's files).
	secrets := kubeconfigSecrets(t, kc)
	secrets["release manager's key password"] = rm.password
	secrets["registry password"], secrets["GitOps token"] = password, token
	r.noSecretsIn(reg, git, since, secrets)
}

// kubeconfigSecrets returns pieces of the client key a kubeconfig embeds,
// as written (base64) and decoded (a line of the PEM body).
func kubeconfigSecrets(t *testing.T, kc []byte) map[string]string {
	t.Helper()
	for _, line := range strings.Split(string(kc), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || k != "client-key-data" {
			continue
		}
		v = strings.TrimSpace(v)
		pemKey, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(v) < 120 {
			t.Fatalf("client-key-data: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(pemKey)), "\n")
		return map[string]string{
			"kubeconfig (client-key-data)": v[len(v)/2-30 : len(v)/2+30],
			"kubeconfig's client key":      lines[len(lines)/2],
		}
	}
	t.Fatalf("the kubeconfig embeds no client key:\n%s", kc)
	return nil
}

// argoApplication is staging's Application as a team would write it.
const argoApplication = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: staging, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://git.example.com/acme/gitops.git", path: deploy/overlays/staging, targetRevision: main}
  destination: {server: "https://kubernetes.default.svc", namespace: shop-staging}
`

// argoVerifierRBAC is the Argo CD variant of docs/verification-rbac.yaml's
// controller Role.
const argoVerifierRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: slipway-verifier, namespace: argocd}
rules:
  - apiGroups: [argoproj.io]
    resources: [applications]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: slipway-verifier, namespace: argocd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: slipway-verifier}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: slipway-verifier}
`

// onlyVerification returns the report's verification of env.
func onlyVerification(t *testing.T, rep *report.Report, env string) report.Verification {
	t.Helper()
	for _, v := range rep.Verifications {
		if v.Environment == env {
			return v
		}
	}
	t.Fatalf("the %s report has no verification of %s: %+v", rep.Kind, env, rep.Verifications)
	return report.Verification{}
}

// verifiedRecord verifies the image's verification record with the stock
// cosign CLI and returns its predicate.
func (r *slipwayRun) verifiedRecord(repo, digest string) gates.Verification {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Tool(r.t, "cosign"), "verify-attestation", "--key", r.pubFile, "--insecure-ignore-tlog=true",
		"--type", gates.PredicateVerification, "--allow-http-registry", "--allow-insecure-registry", repo+"@"+digest)
	cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("cosign verify-attestation --type %s %s@%s: %v", gates.PredicateVerification, repo, digest, err)
	}
	var env struct{ Payload []byte }
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]), &env); err != nil {
		r.t.Fatalf("cosign's output: %v\n%s", err, out)
	}
	var st struct{ Predicate gates.Verification }
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		r.t.Fatal(err)
	}
	return st.Predicate
}

// cosignAttest attaches an attestation signed with the CI key, with the
// stock cosign CLI.
func (r *slipwayRun) cosignAttest(ref, predicateType string, predicate any) {
	r.t.Helper()
	b, err := json.Marshal(predicate)
	if err != nil {
		r.t.Fatal(err)
	}
	f := filepath.Join(r.t.TempDir(), "predicate.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Tool(r.t, "cosign"), "attest", "--key", r.keyFile, "--tlog-upload=false", "--yes",
		"--type", predicateType, "--predicate", f, "--allow-http-registry", "--allow-insecure-registry", ref)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+r.password, "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("cosign attest %s: %v\n%s", ref, err, out)
	}
}

// releaseManager is a second key pair, the one prod takes approvals from:
// its public key is committed in the fixture (keys/release-manager.pub).
type releaseManager struct {
	r                 *slipwayRun
	keyFile, password string
}

func releaseManagerKey(t *testing.T, r *slipwayRun) *releaseManager {
	t.Helper()
	pw := fmt.Sprintf("rm-%x-do-not-leak", time.Now().UnixNano())
	kp, err := signing.GenerateKeyPair([]byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "release-manager.key")
	if err := os.WriteFile(key, kp.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.fixture, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.fixture, "keys/release-manager.pub"), kp.PublicKeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &releaseManager{r: r, keyFile: key, password: pw}
}

// use runs fn with the module signing as the release manager.
func (m *releaseManager) use(fn func()) {
	r := m.r
	savedKey, savedPwd := r.keyFile, r.password
	r.keyFile, r.password = m.keyFile, m.password
	r.t.Setenv(cosignPasswordEnv, m.password)
	defer func() {
		r.keyFile, r.password = savedKey, savedPwd
		r.t.Setenv(cosignPasswordEnv, savedPwd)
	}()
	fn()
}
