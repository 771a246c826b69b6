package kube_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/kube"
	"github.com/slipwayci/slipway/internal/testutil/kubebed"
)

// selfSigned returns a PEM certificate and key.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ci"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParseKubeconfigContexts(t *testing.T) {
	cert, key := selfSigned(t)
	cfg := `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example.com:6443/
    certificate-authority-data: ` + b64(cert) + `
- name: prod-cluster
  cluster:
    server: https://prod.example.com
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes.prod
users:
- name: dev-user
  user:
    client-certificate-data: ` + b64(cert) + `
    client-key-data: ` + b64(key) + `
- name: prod-user
  user:
    token: abc
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: shop-dev}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
`
	c, err := kube.ParseKubeconfig([]byte(cfg), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Context != "dev" || c.Server != "https://dev.example.com:6443" || c.Namespace != "shop-dev" {
		t.Errorf("current context: got context %q server %q namespace %q", c.Context, c.Server, c.Namespace)
	}
	c, err = kube.ParseKubeconfig([]byte(cfg), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if c.Context != "prod" || c.Server != "https://prod.example.com" || c.Timeout != kube.DefaultTimeout {
		t.Errorf("prod: got context %q server %q timeout %s", c.Context, c.Server, c.Timeout)
	}

	_, err = kube.ParseKubeconfig([]byte(cfg), "staging")
	if want := `kubeconfig: context "staging" not found (contexts: dev, prod)`; err == nil || err.Error() != want {
		t.Errorf("unknown context: got %v, want %s", err, want)
	}
	noCurrent := strings.Replace(cfg, "current-context: dev\n", "", 1)
	_, err = kube.ParseKubeconfig([]byte(noCurrent), "")
	if err == nil || !strings.Contains(err.Error(), "no current-context") || !strings.Contains(err.Error(), "dev, prod") {
		t.Errorf("no current-context: got %v", err)
	}
}

func TestParseKubeconfigErrors(t *testing.T) {
	cert, _ := selfSigned(t)
	base := func(cluster, user string) string {
		return `apiVersion: v1
kind: Config
current-context: ci
clusters:
- name: c
  cluster:
` + cluster + `
users:
- name: u
  user:
` + user + `
contexts:
- name: ci
  context: {cluster: c, user: u}
`
	}
	server := "    server: https://k8s.example.com\n"
	for _, tc := range []struct {
		name, cluster, user string
		want                []string
	}{
		{"exec", server, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: gke-gcloud-auth-plugin\n",
			[]string{`user "u" (context "ci")`, `exec plugin "gke-gcloud-auth-plugin"`, "ServiceAccount token", "client certificate"}},
		{"auth-provider", server, "    auth-provider:\n      name: oidc\n",
			[]string{`auth-provider "oidc"`, "ServiceAccount token", "client certificate"}},
		{"no server", "    insecure-skip-tls-verify: true\n", "    token: x\n",
			[]string{`cluster "c" (context "ci") has no server`}},
		{"bad CA data", server + "    certificate-authority-data: '%%%'\n", "    token: x\n",
			[]string{"certificate-authority-data", "not base64"}},
		{"CA is not PEM", server + "    certificate-authority-data: " + b64([]byte("hello")) + "\n", "    token: x\n",
			[]string{"certificate-authority-data holds no PEM certificate"}},
		{"CA and insecure", server + "    insecure-skip-tls-verify: true\n    certificate-authority-data: " + b64(cert) + "\n", "    token: x\n",
			[]string{"both a certificate authority and insecure-skip-tls-verify"}},
		{"missing CA file", server + "    certificate-authority: /nonexistent/ca.crt\n", "    token: x\n",
			[]string{`cluster "c" (context "ci"): certificate-authority:`, "/nonexistent/ca.crt"}},
		{"cert without key", server, "    client-certificate-data: " + b64(cert) + "\n",
			[]string{"client certificate but no client-key"}},
		{"key of another cert", server, "    client-certificate-data: " + b64(cert) + "\n    client-key-data: " + b64(mustKey(t)) + "\n",
			[]string{"client certificate and key"}},
		{"token and password", server, "    token: x\n    username: admin\n    password: y\n",
			[]string{"both a token and username/password"}},
		{"missing token file", server, "    tokenFile: /nonexistent/token\n",
			[]string{"tokenFile", "/nonexistent/token"}},
		{"credentials over http", "    server: http://k8s.example.com\n", "    token: x\n",
			[]string{"plain http", "refusing to send credentials"}},
		{"not a URL", "    server: k8s.example.com:6443\n", "    token: x\n",
			[]string{`server "k8s.example.com:6443" is not an http(s) URL`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kube.ParseKubeconfig([]byte(base(tc.cluster, tc.user)), "")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	undefined := `current-context: ci
clusters:
- name: a
  cluster: {server: "https://a.example.com"}
contexts:
- name: ci
  context: {cluster: b, user: nobody}
`
	_, err := kube.ParseKubeconfig([]byte(undefined), "")
	if want := `kubeconfig: context "ci" names cluster "b", which is not defined (clusters: a)`; err == nil || err.Error() != want {
		t.Errorf("undefined cluster: got %v, want %s", err, want)
	}
	undefined = strings.Replace(undefined, "cluster: b", "cluster: a", 1)
	_, err = kube.ParseKubeconfig([]byte(undefined), "")
	if want := `kubeconfig: context "ci" names user "nobody", which is not defined (users: none)`; err == nil || err.Error() != want {
		t.Errorf("undefined user: got %v, want %s", err, want)
	}
	if _, err := kube.ParseKubeconfig([]byte("clusters: [oops"), ""); err == nil || !strings.HasPrefix(err.Error(), "kubeconfig: not a valid kubeconfig") {
		t.Errorf("invalid YAML: got %v", err)
	}
}

func mustKey(t *testing.T) []byte {
	_, key := selfSigned(t)
	return key
}

// TestLoadKubeconfigRelativeFiles: file paths are relative to the
// kubeconfig's directory, as kubectl takes them.
func TestLoadKubeconfigRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t)
	for name, data := range map[string][]byte{"ca.crt": cert, "client.crt": cert, "client.key": key, "token": []byte("tok\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `current-context: a
clusters:
- name: c
  cluster: {server: "https://k8s.example.com", certificate-authority: ca.crt}
users:
- name: cert
  user: {client-certificate: client.crt, client-key: client.key}
- name: tok
  user: {tokenFile: token}
contexts:
- name: a
  context: {cluster: c, user: cert}
- name: b
  context: {cluster: c, user: tok}
`
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []string{"a", "b"} {
		if _, err := kube.LoadKubeconfig(path, ctx); err != nil {
			t.Errorf("context %s: %v", ctx, err)
		}
	}
	// ParseKubeconfig reads them from the working directory, where they
	// are not.
	if _, err := kube.ParseKubeconfig([]byte(cfg), "a"); err == nil || !strings.Contains(err.Error(), "certificate-authority") {
		t.Errorf("ParseKubeconfig with relative files elsewhere: got %v", err)
	}
}

func TestResourcePathsAndSelectors(t *testing.T) {
	for got, want := range map[string]string{
		kube.Pods.Path("shop", "orders-1"):              "/api/v1/namespaces/shop/pods/orders-1",
		kube.Deployments.Path("shop", ""):               "/apis/apps/v1/namespaces/shop/deployments",
		kube.Deployments.Path("", ""):                   "/apis/apps/v1/deployments",
		kube.Kustomizations.Path("flux-system", "apps"): "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps",
		kube.ArgoApplications.Path("argocd", "shop"):    "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	sel := kube.LabelSelector{
		MatchLabels: map[string]string{"tier": "web", "app": "orders"},
		MatchExpressions: []kube.LabelSelectorRequirement{
			{Key: "track", Operator: "In", Values: []string{"stable", "canary"}},
			{Key: "legacy", Operator: "DoesNotExist"},
			{Key: "zone", Operator: "Exists"},
			{Key: "env", Operator: "NotIn", Values: []string{"dev"}},
		},
	}
	if got, want := sel.String(), "app=orders,tier=web,track in (stable,canary),!legacy,zone,env notin (dev)"; got != want {
		t.Errorf("selector: got %s, want %s", got, want)
	}
}

// TestAgainstAPIServer reads from a real kube-apiserver: as the admin
// (client certificate), as users RBAC grants nothing or one Role, and with
// a ServiceAccount token, inline and from a file.
func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane")
	}
	if err := kubebed.Build(false); err != nil {
		t.Skipf("the testbed's binaries cannot be built: %v", err)
	}
	c := kubebed.Start(t, kubebed.Options{})
	ctx := context.Background()
	admin, err := kube.ParseKubeconfig(c.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop, labels: {app: orders}}
spec:
  replicas: 1
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers:
      - name: orders
        image: registry.invalid/shop/orders@sha256:`+strings.Repeat("a", 64)+`
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: catalog, namespace: shop, labels: {app: catalog}}
spec:
  replicas: 1
  selector: {matchLabels: {app: catalog}}
  template:
    metadata: {labels: {app: catalog}}
    spec:
      containers:
      - name: catalog
        image: registry.invalid/shop/catalog:1.0
`)

	t.Run("get", func(t *testing.T) {
		var d kube.Deployment
		if err := admin.Get(ctx, kube.Deployments.Path("shop", "orders"), &d); err != nil {
			t.Fatal(err)
		}
		if d.Metadata.Name != "orders" || d.Metadata.UID == "" || d.Spec.Selector.MatchLabels["app"] != "orders" ||
			len(d.Spec.Template.Spec.Containers) != 1 || !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, strings.Repeat("a", 64)) {
			t.Errorf("deployment read back wrong: %+v", d)
		}
	})
	t.Run("not found", func(t *testing.T) {
		var d kube.Deployment
		err := admin.Get(ctx, kube.Deployments.Path("shop", "nope"), &d)
		if !errors.Is(err, kube.ErrNotFound) || errors.Is(err, kube.ErrForbidden) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), `deployments.apps "nope" not found`) {
			t.Errorf("error lacks the server's message: %v", err)
		}
		// A kind the server does not serve (no Argo CD here).
		var a kube.Application
		if err := admin.Get(ctx, kube.ArgoApplications.Path("argocd", "shop"), &a); !errors.Is(err, kube.ErrNotFound) {
			t.Errorf("an Application without its CRD: got %v, want ErrNotFound", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		var all kube.DeploymentList
		if err := admin.List(ctx, kube.Deployments.Path("shop", ""), kube.ListOptions{}, &all); err != nil {
			t.Fatal(err)
		}
		if len(all.Items) != 2 {
			t.Errorf("got %d deployments, want 2", len(all.Items))
		}
		var one kube.DeploymentList
		if err := admin.List(ctx, kube.Deployments.Path("", ""), kube.ListOptions{LabelSelector: "app in (catalog)"}, &one); err != nil {
			t.Fatal(err)
		}
		if len(one.Items) != 1 || one.Items[0].Metadata.Name != "catalog" {
			t.Errorf("cluster-wide list by selector: got %+v", one.Items)
		}
		var none kube.PodList
		if err := admin.List(ctx, kube.Pods.Path("shop", ""), kube.ListOptions{LabelSelector: "app=nothing"}, &none); err != nil || none.Items == nil || len(none.Items) != 0 {
			t.Errorf("empty list: got %v, %v", none.Items, err)
		}
	})
	t.Run("logs of a missing pod", func(t *testing.T) {
		_, err := admin.Logs(ctx, "shop", "nope", "orders", 10)
		if !errors.Is(err, kube.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})

	t.Run("forbidden then a Role", func(t *testing.T) {
		mallory, err := kube.ParseKubeconfig(c.UserKubeconfig(t, "mallory"), "")
		if err != nil {
			t.Fatal(err)
		}
		var dl kube.DeploymentList
		err = mallory.List(ctx, kube.Deployments.Path("shop", ""), kube.ListOptions{}, &dl)
		if !errors.Is(err, kube.ErrForbidden) || errors.Is(err, kube.ErrUnauthorized) {
			t.Fatalf("got %v, want ErrForbidden", err)
		}
		for _, w := range []string{
			"kube: list /apis/apps/v1/namespaces/shop/deployments: forbidden (HTTP 403)",
			`User "mallory" cannot list resource "deployments" in API group "apps" in the namespace "shop"`,
			`RBAC verb "list" on "deployments" in API group "apps", in namespace "shop"`,
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		var pod kube.Pod
		err = mallory.Get(ctx, kube.Pods.Path("shop", "x"), &pod)
		if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), `RBAC verb "get" on "pods" in the core API group (""), in namespace "shop"`) {
			t.Errorf("get pod: got %v", err)
		}
		_, err = mallory.Logs(ctx, "shop", "x", "orders", 5)
		if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), `"pods/log"`) {
			t.Errorf("logs: got %v", err)
		}

		c.Apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployment-reader, namespace: shop}
rules:
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory-reads-deployments, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployment-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
`)
		// The authorizer learns of the binding through a watch: a moment.
		eventually(t, "mallory to be allowed to list deployments", func() error {
			return mallory.List(ctx, kube.Deployments.Path("shop", ""), kube.ListOptions{}, &dl)
		})
		if len(dl.Items) != 2 {
			t.Fatalf("with the Role: got %d deployments, want 2", len(dl.Items))
		}
		// Only in that namespace.
		err = mallory.List(ctx, kube.Deployments.Path("", ""), kube.ListOptions{}, &dl)
		if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), `"deployments" in API group "apps", cluster-wide`) {
			t.Errorf("cluster-wide with a namespaced Role: got %v", err)
		}
	})

	t.Run("service account token", func(t *testing.T) {
		c.Apply(t, `apiVersion: v1
kind: ServiceAccount
metadata: {name: slipway, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: slipway-view, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: slipway, namespace: shop}
`)
		token := strings.TrimSpace(c.Kubectl(t, "create", "token", "slipway", "-n", "shop", "--duration=1h"))
		ca := caData(t, c.Kubeconfig)
		cfg := func(user string) []byte {
			return []byte(`current-context: ci
clusters:
- name: k
  cluster: {server: "` + c.Server + `", certificate-authority-data: ` + ca + `}
users:
- name: ci
  user: ` + user + `
contexts:
- name: ci
  context: {cluster: k, user: ci, namespace: shop}
`)
		}
		sa, err := kube.ParseKubeconfig(cfg(`{token: "`+token+`"}`), "")
		if err != nil {
			t.Fatal(err)
		}
		var pl kube.PodList
		eventually(t, "the ServiceAccount to be allowed to list pods", func() error {
			return sa.List(ctx, kube.Pods.Path(sa.Namespace, ""), kube.ListOptions{}, &pl)
		})
		tokenFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokenFile, []byte("not-a-valid-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fromFile, err := kube.ParseKubeconfig(cfg(`{tokenFile: "`+tokenFile+`"}`), "")
		if err != nil {
			t.Fatal(err)
		}
		err = fromFile.List(ctx, kube.Pods.Path("shop", ""), kube.ListOptions{}, &pl)
		if !errors.Is(err, kube.ErrUnauthorized) || !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), "unauthorized (HTTP 401)") {
			t.Fatalf("a rejected token: got %v, want ErrUnauthorized", err)
		}
		// The file is read at every request: a rotated token is used at once.
		if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := fromFile.List(ctx, kube.Pods.Path("shop", ""), kube.ListOptions{}, &pl); err != nil {
			t.Fatalf("token file: %v", err)
		}
		// The RoleBinding grants nothing in another namespace.
		var d kube.Deployment
		err = sa.Get(ctx, kube.Deployments.Path("kube-system", "x"), &d)
		if !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), `system:serviceaccount:shop:slipway`) {
			t.Errorf("another namespace: got %v", err)
		}
	})

	t.Run("untrusted server certificate", func(t *testing.T) {
		other, _ := selfSigned(t)
		cfg := strings.Replace(string(c.Kubeconfig), caData(t, c.Kubeconfig), b64(other), 1)
		cl, err := kube.ParseKubeconfig([]byte(cfg), "")
		if err != nil {
			t.Fatal(err)
		}
		var d kube.Deployment
		err = cl.Get(ctx, kube.Deployments.Path("shop", "orders"), &d)
		if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.HasPrefix(err.Error(), "kube: get /apis/apps/v1/namespaces/shop/deployments/orders: ") {
			t.Errorf("got %v, want a certificate error naming the request", err)
		}
	})
}

// caData returns the certificate-authority-data of a kubeconfig.
func caData(t *testing.T, kubeconfig []byte) string {
	t.Helper()
	for _, line := range strings.Split(string(kubeconfig), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "certificate-authority-data: "); ok {
			return v
		}
	}
	t.Fatal("no certificate-authority-data in the kubeconfig")
	return ""
}

// eventually retries f until it succeeds, for up to 30 seconds.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
