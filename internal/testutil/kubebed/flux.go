package kubebed

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Flux's API versions the testbed writes.
const (
	sourceAPI    = "source.toolkit.fluxcd.io/v1"
	kustomizeAPI = "kustomize.toolkit.fluxcd.io/v1"
)

// WatchGit makes Flux apply directory path of branch of the git repository
// at url (http or https; Flux speaks the smart HTTP protocol only) to the
// cluster. It creates, in namespace FluxNamespace, a GitRepository and a
// Kustomization both called name, and a Secret name+"-auth" with username
// and password for basic authentication when password is not empty.
//
// The Kustomization prunes what later commits remove and waits for what it
// applied to become healthy (wait: true, timeout 30s): a commit whose
// Deployment does not roll out leaves it Ready=False with reason
// HealthCheckFailed, status.lastAttemptedRevision on that commit and
// status.lastAppliedRevision on the last healthy one ("<branch>@sha1:<commit>").
// Both objects poll every minute; call Reconcile to act on a push at once.
//
// WatchGit returns as soon as the objects exist; it does not wait for the
// first fetch.
func (c *Cluster) WatchGit(t testing.TB, name, url, branch, path, username, password string) {
	t.Helper()
	var docs []any
	spec := map[string]any{
		"url":      url,
		"ref":      map[string]any{"branch": branch},
		"interval": "1m",
		"timeout":  "20s",
	}
	if password != "" {
		secret := name + "-auth"
		docs = append(docs, map[string]any{
			"apiVersion": "v1",
			"kind":       "Secret",
			"metadata":   map[string]any{"name": secret, "namespace": FluxNamespace},
			"type":       "Opaque",
			"stringData": map[string]string{"username": username, "password": password},
		})
		spec["secretRef"] = map[string]any{"name": secret}
	}
	docs = append(docs,
		map[string]any{
			"apiVersion": sourceAPI,
			"kind":       "GitRepository",
			"metadata":   map[string]any{"name": name, "namespace": FluxNamespace},
			"spec":       spec,
		},
		map[string]any{
			"apiVersion": kustomizeAPI,
			"kind":       "Kustomization",
			"metadata":   map[string]any{"name": name, "namespace": FluxNamespace},
			"spec": map[string]any{
				"interval":  "1m",
				"path":      path,
				"prune":     true,
				"wait":      true,
				"timeout":   "30s",
				"sourceRef": map[string]any{"kind": "GitRepository", "name": name},
			},
		})
	c.Apply(t, jsonDocs(t, docs...))
}

// Reconcile asks Flux to fetch the GitRepository name and apply the
// Kustomization name now rather than at their next interval, by setting
// the reconcile.fluxcd.io/requestedAt annotation on both. It returns at
// once; a new commit is fetched and then applied within seconds.
func (c *Cluster) Reconcile(t testing.TB, name string) {
	t.Helper()
	at := time.Now().Format(time.RFC3339Nano)
	c.Kubectl(t, "annotate", "--overwrite", "-n", FluxNamespace,
		"gitrepositories.source.toolkit.fluxcd.io/"+name, "kustomizations.kustomize.toolkit.fluxcd.io/"+name,
		"reconcile.fluxcd.io/requestedAt="+at)
}

// jsonDocs renders objects as JSON documents separated by "---" lines,
// which kubectl reads as it reads YAML.
func jsonDocs(t testing.TB, docs ...any) string {
	t.Helper()
	var b strings.Builder
	for i, d := range docs {
		if i > 0 {
			b.WriteString("\n---\n")
		}
		j, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("kubebed: %v", err)
		}
		b.Write(j)
	}
	return b.String()
}
