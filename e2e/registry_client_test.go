package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The tests reach registries from the host, some through a tunnel the
// dagger CLI holds open (exposeRegistry). Every request of crane and
// remote gets an answer within registryTimeout or an error naming what was
// asked, instead of hanging the run.
const registryTimeout = 30 * time.Second

// maxTunnelRestarts bounds how often one tunnel is restarted.
const maxTunnelRestarts = 2

// base is the transport requests really go through.
var base http.RoundTripper

func init() {
	t, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = registryTimeout
	base = t
	remote.DefaultTransport = tunnelTransport{}
}

// tunnels are the open registry tunnels, by host:port.
var tunnels sync.Map

// registryTunnel is a `dagger call embedded-registry up --ports` session.
// Under a loaded engine such a session has been seen to stop passing data
// while its port stays open (requests then time out); the registry behind
// it is fine, and every call through the engine reaches it. A tunnel that
// stops answering is restarted on the same port, and the request retried
// once; the test log says so. Restarts are bounded, so a registry that
// really hangs still fails the test.
type registryTunnel struct {
	t        testing.TB
	cli      string
	args     []string
	addr     string
	mu       sync.Mutex
	cancel   context.CancelFunc
	cmd      *exec.Cmd
	out      *bytes.Buffer
	restarts int
}

func (tn *registryTunnel) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tn.cli, tn.args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		return err
	}
	tn.cancel, tn.cmd, tn.out = cancel, cmd, out
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := crane.Catalog(tn.addr, crane.WithTransport(base)); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the embedded registry did not come up on %s:\n%s", tn.addr, tail(out.String(), 40))
		}
		time.Sleep(time.Second)
	}
}

func (tn *registryTunnel) stop() {
	if tn.cancel != nil {
		tn.cancel()
		tn.cmd.Wait()
	}
}

// restart replaces a tunnel that stopped answering.
func (tn *registryTunnel) restart(cause error) error {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.restarts >= maxTunnelRestarts {
		return fmt.Errorf("the tunnel to %s was restarted %d times already", tn.addr, tn.restarts)
	}
	tn.restarts++
	tn.t.Logf("the registry tunnel on %s stopped answering (%v): restarting it (%d of %d)", tn.addr, cause, tn.restarts, maxTunnelRestarts)
	tn.stop()
	return tn.start()
}

// tunnelTransport sends requests through base, and retries a read that
// timed out on a registry tunnel once the tunnel is restarted.
type tunnelTransport struct{}

func (tunnelTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := base.RoundTrip(req)
	if err == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return resp, err
	}
	var ne net.Error
	v, ok := tunnels.Load(req.URL.Host)
	if !ok || !errors.As(err, &ne) || !ne.Timeout() {
		return resp, err
	}
	if rerr := v.(*registryTunnel).restart(err); rerr != nil {
		return nil, fmt.Errorf("%w (and %v)", err, rerr)
	}
	return base.RoundTrip(req.Clone(req.Context()))
}

// untagged reports whether the registry says ref does not exist (an
// answer of 404). Any other failure to ask fails the test: a registry that
// cannot be reached does not prove that nothing was tagged.
func untagged(t *testing.T, ref string) bool {
	t.Helper()
	_, err := crane.Digest(ref)
	if err == nil {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return true
	}
	t.Fatalf("asking the registry for %s: %v", ref, err)
	return false
}
