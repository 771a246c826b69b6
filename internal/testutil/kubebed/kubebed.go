// Package kubebed starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, with kwok
// standing in for the kubelets of a fake node, and optionally the Flux GitOps
// controllers (source-controller and kustomize-controller) running out of
// cluster against it.
//
// Everything is real except the containers: Deployments roll out through
// ReplicaSets, the scheduler binds pods to the node, and kwok plays the
// kubelet's part by moving pods to Running and Ready (or, for images made to
// fail with Cluster.FailImage, to CrashLoopBackOff). Pods never run anything,
// so images need not exist; pin them by digest, since kwok reports the image
// reference itself as containerStatuses[].imageID.
//
// The binaries are the project's pinned tool modules (hack/tools/kube, etcd,
// kwok, flux-source and flux-kustomize), built once into the tool cache by
// testutil.BuildTool. A cold build takes many minutes; use Build to build
// them ahead of time or to skip a test where they cannot be built.
//
// A testbed takes about 1 GiB of memory. All its state lives in a
// t.TempDir(), and every process is stopped when the test ends.
package kubebed

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil"
)

// Options configures a testbed.
type Options struct {
	// Host is the IP address the apiserver (and Flux's artifact server)
	// listen on; default 127.0.0.1. Pass an address that clients outside
	// this process's network namespace can reach (for example the bridge
	// address of a container engine) to let them talk to the apiserver.
	// etcd and the components' metrics and health endpoints always listen
	// on 127.0.0.1.
	Host string
	// Flux starts source-controller and kustomize-controller (CRDs applied).
	Flux bool
}

// Cluster is a running testbed.
type Cluster struct {
	// Server is the apiserver's URL, https://host:port.
	Server string
	// Kubeconfig is an admin kubeconfig (user in group system:masters)
	// with the CA, client certificate and key embedded as *-data fields;
	// its context, cluster and user are all named "testbed".
	Kubeconfig []byte
	// KubeconfigPath is a file holding Kubeconfig.
	KubeconfigPath string
	// CA is the PEM-encoded certificate of the cluster's CA, which signed
	// the apiserver's serving certificate and every client certificate.
	CA []byte
	// Host is the address the apiserver and Flux's artifact server listen
	// on (Options.Host).
	Host string
	// Node is the name of the fake node pods are scheduled to.
	Node string
	// Dir holds the testbed's state: etcd's data, certificates,
	// kubeconfigs and one log file per component (<component>.log).
	Dir string

	ca      *authority
	kube    string // the kube binary
	api     *http.Client
	procs   []*proc
	stopped bool
	mu      sync.Mutex
}

// FluxNamespace is the namespace Flux runs in (RUNTIME_NAMESPACE) and
// where WatchGit puts its objects.
const FluxNamespace = "flux-system"

// The tools, by their directory under hack/tools.
const (
	toolKube          = "kube"
	toolEtcd          = "etcd"
	toolKwok          = "kwok"
	toolFluxSource    = "flux-source"
	toolFluxKustomize = "flux-kustomize"
)

// Address ranges of the cluster. Nothing routes to them; they only need to
// be valid and not to overlap.
const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1" // the kubernetes Service, first of serviceCIDR
	podCIDR     = "10.244.0.0/16"
)

// nodeAnnotation marks the nodes kwok manages.
const nodeAnnotation = "kwok.x-k8s.io/node"

//go:embed stages.yaml
var stagesYAML string

func tools(flux bool) []string {
	t := []string{toolKube, toolEtcd, toolKwok}
	if flux {
		t = append(t, toolFluxSource, toolFluxKustomize)
	}
	return t
}

// Build builds (or finds in the tool cache) the binaries a testbed needs,
// Flux's too when flux is set. A test can call it first and skip when it
// fails, for example where the pinned modules cannot be downloaded.
func Build(flux bool) error {
	for _, name := range tools(flux) {
		if _, err := testutil.BuildTool(name); err != nil {
			return fmt.Errorf("building %s: %w", name, err)
		}
	}
	return nil
}

// Start brings up a testbed, with free ports, and waits until it is ready:
// the apiserver serves, the node is Ready and schedulable, the controller
// manager has created the default service account, and (with Flux) both
// Flux controllers report ready. Every process it started is stopped, by
// process group, in t.Cleanup; when the test failed the tail of each
// component's log is logged first. Start fails the test, with the failing
// component's log tail, if anything does not come up.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	began := time.Now()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if net.ParseIP(o.Host) == nil {
		t.Fatalf("kubebed: Host %q is not an IP address", o.Host)
	}

	bins := map[string]string{}
	for _, name := range tools(o.Flux) {
		bins[name] = testutil.Tool(t, name)
	}
	var crdFiles []string
	crds, err := kwokCRDs(t)
	if err != nil {
		t.Fatalf("kubebed: %v", err)
	}
	crdFiles = append(crdFiles, crds...)
	if o.Flux {
		crds, err := fluxCRDs(t)
		if err != nil {
			t.Fatalf("kubebed: %v", err)
		}
		crdFiles = append(crdFiles, crds...)
	}
	built := time.Now()

	dir := t.TempDir()
	c := &Cluster{Host: o.Host, Node: "kwok-node-0", Dir: dir, kube: bins[toolKube]}
	t.Cleanup(func() { c.cleanup(t) })

	local, err := freePorts("127.0.0.1", 6)
	if err != nil {
		t.Fatalf("kubebed: %v", err)
	}
	etcdPort, peerPort := local[0], local[1]
	srcMetrics, srcHealth, kusMetrics, kusHealth := local[2], local[3], local[4], local[5]
	public, err := freePorts(o.Host, 2)
	if err != nil {
		t.Fatalf("kubebed: %v", err)
	}
	apiPort, storagePort := public[0], public[1]
	c.Server = "https://" + hostPort(o.Host, apiPort)

	files, err := c.writePKI()
	if err != nil {
		t.Fatalf("kubebed: certificates: %v", err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"TMPDIR=" + tmp}

	// etcd.
	etcdURL := "http://" + hostPort("127.0.0.1", etcdPort)
	peerURL := "http://" + hostPort("127.0.0.1", peerPort)
	c.start(t, "etcd", bins[toolEtcd], []string{
		"--name=kubebed",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=kubebed=" + peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	}, env)
	plain := &http.Client{Timeout: 2 * time.Second}
	c.waitFor(t, "etcd to be healthy", 30*time.Second, []string{"etcd"}, func() (bool, string) {
		return httpOK(plain, etcdURL+"/health", `"health":"true"`)
	})
	etcdUp := time.Now()

	// kube-apiserver.
	c.start(t, "kube-apiserver", c.kube, []string{
		"apiserver",
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + o.Host,
		"--advertise-address=" + o.Host,
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir=" + filepath.Join(dir, "apiserver"),
		"--tls-cert-file=" + files.serverCert,
		"--tls-private-key-file=" + files.serverKey,
		"--client-ca-file=" + files.caCert,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.saPub,
		"--service-account-signing-key-file=" + files.saKey,
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}, env)
	c.waitFor(t, "kube-apiserver to be ready", 90*time.Second, []string{"kube-apiserver"}, func() (bool, string) {
		return httpOK(c.api, c.Server+"/readyz", "")
	})
	apiUp := time.Now()

	// CRDs, kwok's stages, the node, Flux's namespace.
	args := []string{"apply", "--server-side", "--force-conflicts", "--field-manager=kubebed"}
	for _, f := range crdFiles {
		args = append(args, "-f", f)
	}
	if _, err := c.kubectl(nil, args...); err != nil {
		t.Fatalf("kubebed: applying CRDs: %v", err)
	}
	if _, err := c.kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		t.Fatalf("kubebed: waiting for CRDs: %v", err)
	}
	base := stagesYAML + "\n---\n" + c.nodeManifest()
	if o.Flux {
		base += "\n---\n" + `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + FluxNamespace + `"}}`
	}
	// Discovery may lag behind a CRD becoming Established for a moment.
	c.waitFor(t, "kwok's stages and the node to be created", 30*time.Second, nil, func() (bool, string) {
		if err := c.apply(base); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	crdsUp := time.Now()

	// The rest of the control plane, kwok and Flux, all at once.
	c.start(t, "kube-controller-manager", c.kube, []string{
		"controller-manager",
		"--kubeconfig=" + files.kcmConfig,
		"--controllers=*",
		"--leader-elect=false",
		"--use-service-account-credentials",
		"--service-account-private-key-file=" + files.saKey,
		"--root-ca-file=" + files.caCert,
		"--cluster-signing-cert-file=" + files.caCert,
		"--cluster-signing-key-file=" + files.caKey,
		"--cluster-name=kubebed",
		"--secure-port=0",
	}, env)
	c.start(t, "kube-scheduler", c.kube, []string{
		"scheduler",
		"--kubeconfig=" + files.schedulerConfig,
		"--leader-elect=false",
		"--secure-port=0",
	}, env)
	// kwok reads ~/.kwok/kwok.yaml when it exists: give it a home of its
	// own so that only the flags and the Stage objects configure it.
	kwokHome := filepath.Join(dir, "kwok")
	if err := os.MkdirAll(kwokHome, 0o755); err != nil {
		t.Fatal(err)
	}
	c.start(t, "kwok", bins[toolKwok], []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--manage-nodes-with-annotation-selector=" + nodeAnnotation + "=fake",
		"--enable-crds=Stage",
		"--cidr=" + podCIDR,
		"--node-lease-duration-seconds=40",
	}, append(env, "HOME="+kwokHome))
	if o.Flux {
		fluxEnv := append(env, "KUBECONFIG="+c.KubeconfigPath, "RUNTIME_NAMESPACE="+FluxNamespace)
		storage := hostPort(o.Host, storagePort)
		artifacts := filepath.Join(dir, "flux-artifacts") // must exist
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
		c.start(t, "source-controller", bins[toolFluxSource], []string{
			"--storage-path=" + artifacts,
			"--storage-addr=" + storage,
			"--storage-adv-addr=" + storage,
			"--metrics-addr=" + hostPort("127.0.0.1", srcMetrics),
			"--health-addr=" + hostPort("127.0.0.1", srcHealth),
			"--events-addr=",
		}, fluxEnv)
		c.start(t, "kustomize-controller", bins[toolFluxKustomize], []string{
			"--metrics-addr=" + hostPort("127.0.0.1", kusMetrics),
			"--health-addr=" + hostPort("127.0.0.1", kusHealth),
			"--events-addr=",
		}, fluxEnv)
	}

	c.waitFor(t, "the node to be Ready and schedulable", 60*time.Second, []string{"kwok", "kube-controller-manager"}, func() (bool, string) {
		var node struct {
			Spec struct {
				Taints []struct{ Key, Effect string }
			}
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
		if err := c.getAPI("/api/v1/nodes/"+c.Node, &node); err != nil {
			return false, err.Error()
		}
		ready := false
		for _, cond := range node.Status.Conditions {
			ready = ready || cond.Type == "Ready" && cond.Status == "True"
		}
		if !ready {
			return false, fmt.Sprintf("conditions %v", node.Status.Conditions)
		}
		for _, taint := range node.Spec.Taints {
			if taint.Effect == "NoSchedule" || taint.Effect == "NoExecute" {
				return false, fmt.Sprintf("taints %v", node.Spec.Taints)
			}
		}
		return true, ""
	})
	c.waitFor(t, "the controller manager to create the default service account", 60*time.Second, []string{"kube-controller-manager"}, func() (bool, string) {
		if err := c.getAPI("/api/v1/namespaces/default/serviceaccounts/default", nil); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if o.Flux {
		for name, port := range map[string]int{"source-controller": srcHealth, "kustomize-controller": kusHealth} {
			url := "http://" + hostPort("127.0.0.1", port) + "/readyz"
			c.waitFor(t, name+" to be ready", 60*time.Second, []string{name}, func() (bool, string) {
				return httpOK(plain, url, "")
			})
		}
	}
	done := time.Now()
	t.Logf("kubebed: up in %s at %s (binaries %s, etcd %s, apiserver %s, CRDs and node objects %s, controllers and kwok%s %s)",
		done.Sub(began).Round(10*time.Millisecond), c.Server,
		built.Sub(began).Round(10*time.Millisecond), etcdUp.Sub(built).Round(10*time.Millisecond),
		apiUp.Sub(etcdUp).Round(10*time.Millisecond), crdsUp.Sub(apiUp).Round(10*time.Millisecond),
		map[bool]string{true: " and Flux", false: ""}[o.Flux], done.Sub(crdsUp).Round(10*time.Millisecond))
	return c
}

// pkiFiles are the paths writePKI wrote.
type pkiFiles struct {
	caCert, caKey, serverCert, serverKey, saKey, saPub string
	kcmConfig, schedulerConfig                         string
}

// writePKI makes the cluster's CA, the apiserver's serving certificate,
// the service-account signing key and the kubeconfigs of the admin, the
// controller manager and the scheduler, and sets up c.api.
func (c *Cluster) writePKI() (pkiFiles, error) {
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return pkiFiles{}, err
	}
	ca, err := newAuthority()
	if err != nil {
		return pkiFiles{}, err
	}
	c.ca, c.CA = ca, ca.certPEM
	hosts := []string{c.Host, "127.0.0.1", "localhost", serviceIP,
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	server, err := ca.serving("kube-apiserver", hosts...)
	if err != nil {
		return pkiFiles{}, err
	}
	saKey, saPub, err := signingKey()
	if err != nil {
		return pkiFiles{}, err
	}
	admin, err := ca.client("kubebed-admin", "system:masters")
	if err != nil {
		return pkiFiles{}, err
	}
	kcm, err := ca.client("system:kube-controller-manager")
	if err != nil {
		return pkiFiles{}, err
	}
	sched, err := ca.client("system:kube-scheduler")
	if err != nil {
		return pkiFiles{}, err
	}
	c.Kubeconfig = kubeconfig(c.Server, ca.certPEM, admin)
	f := pkiFiles{
		caCert:          filepath.Join(pki, "ca.crt"),
		caKey:           filepath.Join(pki, "ca.key"),
		serverCert:      filepath.Join(pki, "apiserver.crt"),
		serverKey:       filepath.Join(pki, "apiserver.key"),
		saKey:           filepath.Join(pki, "sa.key"),
		saPub:           filepath.Join(pki, "sa.pub"),
		kcmConfig:       filepath.Join(pki, "controller-manager.kubeconfig"),
		schedulerConfig: filepath.Join(pki, "scheduler.kubeconfig"),
	}
	c.KubeconfigPath = filepath.Join(c.Dir, "admin.kubeconfig")
	for path, data := range map[string][]byte{
		f.caCert:          ca.certPEM,
		f.caKey:           ca.keyPEM,
		f.serverCert:      server.certPEM,
		f.serverKey:       server.keyPEM,
		f.saKey:           saKey,
		f.saPub:           saPub,
		f.kcmConfig:       kubeconfig(c.Server, ca.certPEM, kcm),
		f.schedulerConfig: kubeconfig(c.Server, ca.certPEM, sched),
		c.KubeconfigPath:  c.Kubeconfig,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return pkiFiles{}, err
		}
	}

	cert, err := tls.X509KeyPair(admin.certPEM, admin.keyPEM)
	if err != nil {
		return pkiFiles{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	c.api = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}
	return f, nil
}

func (c *Cluster) nodeManifest() string {
	node := map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name":        c.Node,
			"annotations": map[string]string{nodeAnnotation: "fake"},
			"labels": map[string]string{
				"kubernetes.io/hostname": c.Node,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
	}
	b, _ := json.Marshal(node)
	return string(b)
}

// start starts a component and records it for cleanup; it fails the test
// when the process cannot be started.
func (c *Cluster) start(t testing.TB, name, bin string, args, env []string) {
	t.Helper()
	p, err := startProc(c.Dir, name, bin, args, env)
	if err != nil {
		t.Fatalf("kubebed: %v", err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// waitFor polls check every 200ms until it reports true. It fails the test
// as soon as any component has exited, with that component's log tail, or
// when timeout passes, with check's last message and the log tails of the
// components named in suspects.
func (c *Cluster) waitFor(t testing.TB, what string, timeout time.Duration, suspects []string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := c.deadComponent(); err != nil {
			t.Fatalf("kubebed: waiting for %s: %v", what, err)
		}
		ok, msg := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var tails strings.Builder
			for _, name := range suspects {
				if p := c.proc(name); p != nil {
					fmt.Fprintf(&tails, "\n--- %s log (%s), last lines:\n%s", name, p.log, p.tail(40))
				}
			}
			t.Fatalf("kubebed: %s did not happen within %s; last: %s%s", what, timeout, msg, tails.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deadComponent returns an error with the log tail of the first component
// that has exited.
func (c *Cluster) deadComponent() error {
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		if done, err := p.exited(); done {
			return fmt.Errorf("%s %s; last lines of %s:\n%s", p.name, exitError(err), p.log, p.tail(60))
		}
	}
	return nil
}

// cleanup stops every component: the clients of the apiserver first, then
// the apiserver, then etcd, so that nothing logs errors about a vanished
// server on the way down.
func (c *Cluster) cleanup(t testing.TB) {
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	already := c.stopped
	c.stopped = true
	c.mu.Unlock()
	if already {
		return
	}
	if t.Failed() {
		for _, p := range procs {
			t.Logf("kubebed: %s log (%s), last lines:\n%s", p.name, p.log, p.tail(25))
		}
	}
	began := time.Now()
	var tiers [3][]*proc
	for _, p := range procs {
		switch p.name {
		case "etcd":
			tiers[2] = append(tiers[2], p)
		case "kube-apiserver":
			tiers[1] = append(tiers[1], p)
		default:
			tiers[0] = append(tiers[0], p)
		}
	}
	var killed []string
	var mu sync.Mutex
	for _, tier := range tiers {
		var wg sync.WaitGroup
		for _, p := range tier {
			wg.Go(func() {
				if p.stop() {
					mu.Lock()
					killed = append(killed, p.name)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	if len(killed) > 0 {
		t.Logf("kubebed: stopped in %s; killed after %s without exiting on SIGTERM: %s",
			time.Since(began).Round(10*time.Millisecond), stopGrace, strings.Join(killed, ", "))
	}
}

// Kubectl runs kubectl against the cluster as the admin and returns its
// standard output. It fails the test, with both outputs, when kubectl fails.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.kubectl(nil, args...)
	if err != nil {
		t.Fatalf("kubebed: %v", err)
	}
	return out
}

// KubectlErr is Kubectl for commands that are expected to fail or may
// fail: it returns standard output and, when kubectl fails, an error
// holding its exit status and standard error.
func (c *Cluster) KubectlErr(args ...string) (string, error) {
	return c.kubectl(nil, args...)
}

// KubectlAs is KubectlErr with another kubeconfig, for example one from
// UserKubeconfig.
func (c *Cluster) KubectlAs(kubeconfig []byte, args ...string) (string, error) {
	f, err := os.CreateTemp(c.Dir, "user-*.kubeconfig")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(kubeconfig); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return c.kubectlWith(f.Name(), nil, args...)
}

// Apply applies the manifests (YAML or JSON, several documents separated by
// "---" lines) with server-side apply, as field manager "kubebed", taking
// over fields other managers own.
func (c *Cluster) Apply(t testing.TB, manifests string) {
	t.Helper()
	if err := c.apply(manifests); err != nil {
		t.Fatalf("kubebed: %v", err)
	}
}

// ApplyErr is Apply returning kubectl's output and error instead of
// failing the test (e.g. to retry while a new CRD's kind is discovered).
func (c *Cluster) ApplyErr(manifests string) (string, error) {
	return c.kubectl(strings.NewReader(manifests), "apply", "--server-side", "--force-conflicts", "--field-manager=kubebed", "-f", "-")
}

func (c *Cluster) apply(manifests string) error {
	_, err := c.kubectl(strings.NewReader(manifests), "apply", "--server-side", "--force-conflicts", "--field-manager=kubebed", "-f", "-")
	return err
}

// GetJSON runs `kubectl get <args> -o json` and decodes the output into v.
func (c *Cluster) GetJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.Kubectl(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubebed: decoding kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

// kubectlTimeout bounds one kubectl run, so that a wedged apiserver fails
// a test rather than hanging it.
const kubectlTimeout = 2 * time.Minute

func (c *Cluster) kubectl(stdin io.Reader, args ...string) (string, error) {
	return c.kubectlWith(c.KubeconfigPath, stdin, args...)
}

func (c *Cluster) kubectlWith(kubeconfig string, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	full := append([]string{"kubectl", "--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(c.Dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.kube, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "TMPDIR="+filepath.Join(c.Dir, "tmp"))
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// UserKubeconfig issues a client certificate for user (common name user,
// organizations groups) signed by the cluster's CA and returns a kubeconfig
// for it, with the same server and CA as Kubeconfig and everything
// embedded. The user has only the permissions RBAC grants it (and its
// groups, plus system:authenticated): by default next to none.
func (c *Cluster) UserKubeconfig(t testing.TB, user string, groups ...string) []byte {
	t.Helper()
	kp, err := c.ca.client(user, groups...)
	if err != nil {
		t.Fatalf("kubebed: issuing a certificate for %s: %v", user, err)
	}
	return kubeconfig(c.Server, c.CA, kp)
}

// getAPI GETs path from the apiserver as the admin and decodes the JSON
// response into v (when v is not nil).
func (c *Cluster) getAPI(path string, v any) error {
	resp, err := c.api.Get(c.Server + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

// httpOK reports whether GET url answers 200 with a body containing want.
func httpOK(client *http.Client, url, want string) (bool, string) {
	resp, err := client.Get(url)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return false, fmt.Sprintf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return true, ""
}

// moduleDir returns the directory of module mod in the module cache, as
// required by the tool module hack/tools/<tool>.
func moduleDir(t testing.TB, tool, mod string) (string, error) {
	dir := filepath.Join(testutil.RepoRoot(t), "hack", "tools", tool)
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s in hack/tools/%s: %v\n%s", mod, tool, err, stderr.String())
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("go list -m %s in hack/tools/%s: module not downloaded", mod, tool)
	}
	return d, nil
}

// crdFiles lists the CRD manifests (*.yaml) in sub of module mod's source.
func crdFiles(t testing.TB, tool, mod, sub string, names ...string) ([]string, error) {
	dir, err := moduleDir(t, tool, mod)
	if err != nil {
		return nil, err
	}
	var files []string
	if len(names) == 0 {
		files, err = filepath.Glob(filepath.Join(dir, sub, "*.yaml"))
		if err != nil {
			return nil, err
		}
	} else {
		for _, n := range names {
			files = append(files, filepath.Join(dir, sub, n))
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("CRDs of %s: %w", mod, err)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("CRDs of %s: no *.yaml in %s", mod, filepath.Join(dir, sub))
	}
	return files, nil
}

// kwokCRDs is kwok's Stage CRD: the only kwok API the testbed enables.
func kwokCRDs(t testing.TB) ([]string, error) {
	return crdFiles(t, toolKwok, "sigs.k8s.io/kwok", "kustomize/crd/bases", "kwok.x-k8s.io_stages.yaml")
}

// fluxCRDs are all the CRDs of source-controller and kustomize-controller.
func fluxCRDs(t testing.TB) ([]string, error) {
	src, err := crdFiles(t, toolFluxSource, "github.com/fluxcd/source-controller", "config/crd/bases")
	if err != nil {
		return nil, err
	}
	kus, err := crdFiles(t, toolFluxKustomize, "github.com/fluxcd/kustomize-controller", "config/crd/bases")
	if err != nil {
		return nil, err
	}
	return append(src, kus...), nil
}
