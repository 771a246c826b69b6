package kubebed

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"
)

// stageSettle is how long FailImage gives kwok to see a new Stage before it
// makes kwok look at the existing pods again. kwok watches Stages; a local
// watch delivers in milliseconds.
const stageSettle = time.Second

// FailImage makes every pod with a container whose image is exactly image
// (the string in the pod spec, e.g. "reg/shop/orders@sha256:…") fail the
// way a crashing container does under a kubelet: the pod is Running but not
// Ready, and that container is waiting with reason CrashLoopBackOff,
// restartCount 1 and a last state terminated with exit code 1. A Deployment
// rolling out such pods makes no progress and, past its
// progressDeadlineSeconds, reports Progressing=False with reason
// ProgressDeadlineExceeded. Pods with other images become Ready as usual.
//
// It is a kwok Stage that outweighs the pod-ready stage for matching pods,
// so the choice between the two is deterministic. Pods created from now on
// fail from the start; pods that already run the image are made to fail as
// well (FailImage touches them so that kwok looks at them again).
//
// The returned undo removes the Stage and gives kwok a moment to notice:
// pods created afterwards become Ready, while pods already failing stay so
// until they are replaced, for example by deleting them or by a new rollout.
func (c *Cluster) FailImage(t testing.TB, image string) (undo func()) {
	t.Helper()
	if image == "" {
		t.Fatal("kubebed: FailImage: empty image")
	}
	sum := sha256.Sum256([]byte(image))
	name := "kubebed-fail-" + hex.EncodeToString(sum[:])[:16]
	c.Apply(t, jsonDocs(t, failStage(name, image)))

	// Existing pods: a Stage applies to the events that follow it, so
	// touch the pods that run the image once kwok knows the Stage.
	time.Sleep(stageSettle)
	var pods struct {
		Items []struct {
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				Containers []struct{ Image string }
			}
		}
	}
	c.GetJSON(t, &pods, "pods", "--all-namespaces")
	at := time.Now().Format(time.RFC3339Nano)
	for _, p := range pods.Items {
		for _, ctr := range p.Spec.Containers {
			if ctr.Image == image {
				// The pod may be gone already; that is fine.
				_, _ = c.KubectlErr("annotate", "--overwrite", "-n", p.Metadata.Namespace, "pod", p.Metadata.Name,
					"kubebed.slipway/fail-image-at="+at)
				break
			}
		}
	}
	return func() {
		t.Helper()
		c.Kubectl(t, "delete", "--ignore-not-found", "stages.kwok.x-k8s.io", name)
		time.Sleep(stageSettle)
	}
}

// failStage is the kwok Stage behind FailImage. It matches pods that run
// image, are not being deleted, are Pending or Running, and are not already
// in CrashLoopBackOff (so that it does not match its own result again).
// Its weight, 1, beats pod-ready's 0 where both match. A pod that already
// runs keeps its addresses (podIPs merge, so a second allocation would add
// an invalid second IP of the same family).
func failStage(name, image string) map[string]any {
	q := strconv.Quote(image) // a Go template string literal
	tmpl := `{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
{{ if eq .image ` + q + ` }}
- image: {{ .image | Quote }}
  imageID: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 1
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off 10s restarting failed container=%s" .name | Quote }}
{{ else }}
- image: {{ .image | Quote }}
  imageID: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
{{ if not .status.podIP }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ or .status.startTime $now | Quote }}
`
	expr := func(key, op string, values ...string) map[string]any {
		e := map[string]any{"key": key, "operator": op}
		if len(values) > 0 {
			e["values"] = values
		}
		return e
	}
	return map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Stage",
		"metadata":   map[string]any{"name": name, "annotations": map[string]string{"kubebed.slipway/image": image}},
		"spec": map[string]any{
			"resourceRef": map[string]any{"apiGroup": "v1", "kind": "Pod"},
			"selector": map[string]any{
				"matchExpressions": []any{
					expr(".metadata.deletionTimestamp", "DoesNotExist"),
					expr(".spec.containers.[].image", "In", image),
					expr(".status.phase", "In", "Pending", "Running"),
					expr(".status.containerStatuses.[].state.waiting.reason", "NotIn", "CrashLoopBackOff"),
				},
			},
			"weight": 1,
			"next":   map[string]any{"statusTemplate": tmpl},
		},
	}
}
