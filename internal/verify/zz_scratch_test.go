package verify_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testutil/kubebed"
)

func TestScratchFlux(t *testing.T) {
	c := kubebed.Start(t, kubebed.Options{})
	c.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n")
	cmd := exec.Command("/root/.cache/slipway/tools/flux-source-19c02dfbd891", "--storage-path="+t.TempDir(), "--storage-addr=127.0.0.1:0", "--storage-adv-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--health-addr=127.0.0.1:0", "--events-addr=")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.KubeconfigPath, "RUNTIME_NAMESPACE=flux-system")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Start()
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("exited: %v", err)
	case <-time.After(8 * time.Second):
		cmd.Process.Kill()
		t.Log("still running")
	}
}
