package kubebed

import (
	"strings"
	"testing"
	"time"
)

// ArgoApplicationCRD is a minimal CustomResourceDefinition of Argo CD's
// Application (group argoproj.io, v1alpha1, with a status subresource):
// enough for the API server to hold Applications and their status. Argo CD
// itself does not build here, so tests write that status the way Argo CD
// writes it.
const ArgoApplicationCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: applications.argoproj.io}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Application, listKind: ApplicationList, plural: applications, singular: application}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// InstallArgoApplications installs ArgoApplicationCRD, waits until it is
// established, then applies manifests (Applications and anything else),
// retrying while the new kind is not yet discovered.
func (c *Cluster) InstallArgoApplications(t testing.TB, manifests string) {
	t.Helper()
	c.Apply(t, ArgoApplicationCRD)
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/applications.argoproj.io")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.ApplyErr(manifests)
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(out, "no matches for kind") && !strings.Contains(out, "the server could not find the requested resource") {
			t.Fatalf("kubebed: applying Applications: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
