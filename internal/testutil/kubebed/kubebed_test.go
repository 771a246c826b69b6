package kubebed_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil/kubebed"
)

// TestFluxRollout drives the whole testbed: Flux fetches a commit over
// authenticated smart HTTP and rolls out a Deployment on kwok's node; a
// second commit's image is made to crash, so its rollout stalls and Flux
// reports the health check failure while keeping the first commit as the
// last applied one; lifting the failure lets the rollout finish. It also
// checks that a user without RBAC bindings is forbidden to read.
func TestFluxRollout(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	began := time.Now()
	if err := kubebed.Build(true); err != nil {
		t.Skipf("the testbed's binaries cannot be built: %v", err)
	}
	t.Logf("binaries ready in %s", time.Since(began).Round(time.Millisecond))

	phase := time.Now()
	c := kubebed.Start(t, kubebed.Options{Flux: true})
	t.Logf("phase start: %s", time.Since(phase).Round(time.Millisecond))

	repo := kubebed.NewGitRepo(t)
	url := repo.Serve(t, c.Host, "flux", "s3cret")
	digest1, digest2 := digest("orders v1"), digest("orders v2")
	image1 := "registry.invalid/shop/orders@" + digest1
	image2 := "registry.invalid/shop/orders@" + digest2
	commit1 := commitOrders(t, repo, image1)

	// Phase 1: the first commit is applied and rolled out.
	phase = time.Now()
	c.WatchGit(t, "shop", url, "main", "./deploy", "flux", "s3cret")
	eventually(t, c, "commit 1 applied and rolled out", 90*time.Second, func() (bool, string) {
		ks := kustomization(t, c, "shop")
		if ks.Status.LastAppliedRevision != "main@sha1:"+commit1 || !ks.condition("Ready", "True", "") {
			return false, "kustomization: " + ks.String()
		}
		d := deployment(t, c)
		if !d.rolledOut(2) {
			return false, "deployment: " + d.String()
		}
		return podsRunImage(t, c, digest1, 2)
	})
	t.Logf("phase 1 (WatchGit to commit 1 applied, Available 2/2, imageIDs pinned): %s", time.Since(phase).Round(time.Millisecond))

	// Phase 2: the second commit's image crashes.
	phase = time.Now()
	undo := c.FailImage(t, image2)
	commit2 := commitOrders(t, repo, image2)
	c.Reconcile(t, "shop")
	eventually(t, c, "commit 2's rollout to fail and Flux to report it", 90*time.Second, func() (bool, string) {
		d := deployment(t, c)
		if !d.condition("Progressing", "False", "ProgressDeadlineExceeded") {
			return false, "deployment: " + d.String()
		}
		if d.Status.AvailableReplicas != 2 {
			return false, "old pods should stay available; deployment: " + d.String()
		}
		if ok, msg := podsCrashLooping(t, c, image2); !ok {
			return false, msg
		}
		ks := kustomization(t, c, "shop")
		if ks.Status.LastAttemptedRevision != "main@sha1:"+commit2 ||
			ks.Status.LastAppliedRevision != "main@sha1:"+commit1 ||
			!ks.condition("Ready", "False", "HealthCheckFailed") {
			return false, "kustomization: " + ks.String()
		}
		return true, ""
	})
	t.Logf("phase 2 (FailImage, push, Reconcile to ProgressDeadlineExceeded and HealthCheckFailed): %s", time.Since(phase).Round(time.Millisecond))

	// RBAC: a user with no bindings may not list Deployments; one in a
	// group bound to the view role may, but may not delete.
	phase = time.Now()
	out, err := c.KubectlAs(c.UserKubeconfig(t, "mallory"), "get", "deployments", "-n", "shop")
	if err == nil || !strings.Contains(err.Error(), "(Forbidden)") || !strings.Contains(err.Error(), `User "mallory" cannot list resource "deployments"`) {
		t.Fatalf("mallory listing deployments: want Forbidden, got %v\n%s", err, out)
	}
	c.Apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: shop-viewers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: shop-viewers
`)
	viewer := c.UserKubeconfig(t, "victor", "shop-viewers")
	if out, err := c.KubectlAs(viewer, "get", "deployment", "orders", "-n", "shop", "-o", "name"); err != nil || strings.TrimSpace(out) != "deployment.apps/orders" {
		t.Fatalf("viewer getting the deployment: %v\n%s", err, out)
	}
	if out, err := c.KubectlAs(viewer, "delete", "deployment", "orders", "-n", "shop", "--dry-run=server"); err == nil || !strings.Contains(err.Error(), "(Forbidden)") {
		t.Fatalf("viewer deleting the deployment: want Forbidden, got %v\n%s", err, out)
	}
	t.Logf("phase RBAC: %s", time.Since(phase).Round(time.Millisecond))

	// Phase 3: the image no longer crashes; once the failed pod is
	// replaced, the rollout completes and Flux applies commit 2.
	phase = time.Now()
	undo()
	c.Kubectl(t, "delete", "pods", "-n", "shop", "--wait=false", "-l", "app=orders,pod-template-hash="+newPodTemplateHash(t, c, image2))
	c.Reconcile(t, "shop")
	eventually(t, c, "commit 2 applied and rolled out after the failure is lifted", 90*time.Second, func() (bool, string) {
		d := deployment(t, c)
		if !d.rolledOut(2) {
			return false, "deployment: " + d.String()
		}
		if ok, msg := podsRunImage(t, c, digest2, 2); !ok {
			return false, msg
		}
		ks := kustomization(t, c, "shop")
		if ks.Status.LastAppliedRevision != "main@sha1:"+commit2 || !ks.condition("Ready", "True", "") {
			return false, "kustomization: " + ks.String()
		}
		return true, ""
	})
	t.Logf("phase 3 (undo, replace the failed pod, Reconcile to commit 2 applied): %s", time.Since(phase).Round(time.Millisecond))
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// eventually polls check every half second until it succeeds, failing the
// test after timeout with check's last message and the state of the shop.
func eventually(t *testing.T, c *kubebed.Cluster, what string, timeout time.Duration, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := c.KubectlErr("get", "deployments,replicasets,pods", "-n", "shop", "-o", "wide")
			flux, _ := c.KubectlErr("get", "gitrepositories,kustomizations", "-n", kubebed.FluxNamespace, "-o", "yaml")
			events, _ := c.KubectlErr("get", "events", "-A", "--sort-by=.lastTimestamp")
			t.Fatalf("%s: not within %s; last: %s\n--- shop:\n%s\n--- flux:\n%s\n--- events:\n%s", what, timeout, msg, state, flux, events)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type condition struct{ Type, Status, Reason, Message string }

type conditions []condition

// condition reports whether condition typ has status (and reason, unless
// empty).
func (cs conditions) condition(typ, status, reason string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == status && (reason == "" || c.Reason == reason)
		}
	}
	return false
}

type kustomizationObj struct {
	Status struct {
		LastAppliedRevision   string
		LastAttemptedRevision string
		Conditions            conditions
	}
}

func (k kustomizationObj) condition(typ, status, reason string) bool {
	return k.Status.Conditions.condition(typ, status, reason)
}

func (k kustomizationObj) String() string {
	return fmt.Sprintf("applied %q attempted %q conditions %+v", k.Status.LastAppliedRevision, k.Status.LastAttemptedRevision, k.Status.Conditions)
}

func kustomization(t *testing.T, c *kubebed.Cluster, name string) kustomizationObj {
	var k kustomizationObj
	c.GetJSON(t, &k, "kustomizations.kustomize.toolkit.fluxcd.io", name, "-n", kubebed.FluxNamespace)
	return k
}

type deploymentObj struct {
	Metadata struct{ Generation int64 }
	Spec     struct{ Replicas int }
	Status   struct {
		ObservedGeneration                                          int64
		Replicas, UpdatedReplicas, ReadyReplicas, AvailableReplicas int
		Conditions                                                  conditions
	}
}

func (d deploymentObj) condition(typ, status, reason string) bool {
	return d.Status.Conditions.condition(typ, status, reason)
}

// rolledOut is kubectl rollout status's test, plus Available.
func (d deploymentObj) rolledOut(n int) bool {
	s := d.Status
	return s.ObservedGeneration == d.Metadata.Generation && d.Spec.Replicas == n &&
		s.Replicas == n && s.UpdatedReplicas == n && s.ReadyReplicas == n && s.AvailableReplicas == n &&
		d.condition("Available", "True", "") && d.condition("Progressing", "True", "NewReplicaSetAvailable")
}

func (d deploymentObj) String() string {
	s := d.Status
	return fmt.Sprintf("generation %d observed %d replicas %d updated %d ready %d available %d conditions %+v",
		d.Metadata.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.Conditions)
}

func deployment(t *testing.T, c *kubebed.Cluster) deploymentObj {
	var d deploymentObj
	c.GetJSON(t, &d, "deployment", "orders", "-n", "shop")
	return d
}

type podList struct {
	Items []struct {
		Metadata struct {
			Name              string
			DeletionTimestamp string
			Labels            map[string]string
		}
		Spec struct {
			Containers []struct{ Image string }
		}
		Status struct {
			Phase             string
			Conditions        conditions
			ContainerStatuses []struct {
				Image, ImageID string
				Ready          bool
				RestartCount   int
				State          struct {
					Waiting *struct{ Reason string }
				}
			}
		}
	}
}

func pods(t *testing.T, c *kubebed.Cluster) podList {
	var l podList
	c.GetJSON(t, &l, "pods", "-n", "shop", "-l", "app=orders")
	return l
}

// podsRunImage reports whether exactly n pods exist, all Ready with an
// imageID ending in digest, as a kubelet reports a digest-pinned image.
func podsRunImage(t *testing.T, c *kubebed.Cluster, digest string, n int) (bool, string) {
	l := pods(t, c)
	if len(l.Items) != n {
		return false, fmt.Sprintf("%d pods, want %d", len(l.Items), n)
	}
	for _, p := range l.Items {
		if p.Status.Phase != "Running" || !p.Status.Conditions.condition("Ready", "True", "") || len(p.Status.ContainerStatuses) != 1 {
			return false, fmt.Sprintf("pod %s: phase %s conditions %+v", p.Metadata.Name, p.Status.Phase, p.Status.Conditions)
		}
		if id := p.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(id, "@"+digest) {
			return false, fmt.Sprintf("pod %s: imageID %q, want …@%s", p.Metadata.Name, id, digest)
		}
	}
	return true, ""
}

// podsCrashLooping reports whether the pods running image are all in
// CrashLoopBackOff, not Ready, with a restart counted.
func podsCrashLooping(t *testing.T, c *kubebed.Cluster, image string) (bool, string) {
	found := 0
	for _, p := range pods(t, c).Items {
		if p.Spec.Containers[0].Image != image {
			continue
		}
		found++
		if len(p.Status.ContainerStatuses) != 1 {
			return false, fmt.Sprintf("pod %s: no container status yet", p.Metadata.Name)
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.Ready || cs.RestartCount == 0 ||
			!p.Status.Conditions.condition("Ready", "False", "") {
			return false, fmt.Sprintf("pod %s: %+v, conditions %+v", p.Metadata.Name, cs, p.Status.Conditions)
		}
	}
	if found == 0 {
		return false, "no pod runs " + image
	}
	return true, ""
}

// newPodTemplateHash returns the pod-template-hash label of the pods that
// run image.
func newPodTemplateHash(t *testing.T, c *kubebed.Cluster, image string) string {
	for _, p := range pods(t, c).Items {
		if p.Spec.Containers[0].Image == image {
			return p.Metadata.Labels["pod-template-hash"]
		}
	}
	t.Fatalf("no pod runs %s", image)
	return ""
}

// commit writes a kustomization with the shop Namespace and a Deployment
// of image to deploy/, commits and pushes it, and returns the commit.
func commitOrders(t *testing.T, r *kubebed.GitRepo, image string) string {
	files := map[string]string{
		"deploy/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- namespace.yaml
- deployment.yaml
`,
		"deploy/namespace.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: shop
`,
		"deploy/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
  namespace: shop
spec:
  replicas: 2
  progressDeadlineSeconds: 10
  selector:
    matchLabels:
      app: orders
  template:
    metadata:
      labels:
        app: orders
    spec:
      containers:
      - name: orders
        image: ` + image + `
`,
	}
	return r.Commit(t, files)
}
