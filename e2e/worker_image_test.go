package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/wire"
)

// TestWorkerImageMustMatchSource: the worker holds the signing key, so the
// module runs a prebuilt worker image only when its dev.slipway.worker-source
// label is this module's source digest. An image that is not (here a plain
// alpine:3.22, as a planted or stale image would be) is refused with the
// reason, and the worker is compiled from source instead; the harness's own
// prebuilt worker of this checkout is used, pinned by digest.
func TestWorkerImageMustMatchSource(t *testing.T) {
	r := newSlipwayRun(t)
	run := func(image string) (string, error) {
		t.Helper()
		// The worker's binary exists only in a real worker: its size
		// proves which container Tool returned.
		cmd := exec.Command(r.cli, "call", "--progress=plain", "-m", r.module, "--source", r.fixture,
			"--worker-image", image, "worker", "file", "--path", wire.WorkerBin, "size")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("alpine:3.22")
	if err != nil {
		t.Fatalf("a refused worker image must fall back to the worker compiled from source: %v\n%s", err, tail(out, 40))
	}
	if !strings.Contains(out, "worker: alpine:3.22 was built from other source") || !strings.Contains(out, "compiling it from source") {
		t.Errorf("the refusal does not say why:\n%s", tail(out, 40))
	}
	if strings.Contains(out, "worker: prebuilt") {
		t.Errorf("alpine:3.22 was used as the worker:\n%s", tail(out, 40))
	}

	prebuilt := os.Getenv("SLIPWAY_WORKER_IMAGE")
	if prebuilt == "" {
		t.Skip("no prebuilt worker of this checkout (hack/worker.sh; make test sets SLIPWAY_WORKER_IMAGE)")
	}
	out, err = run(prebuilt)
	if err != nil {
		t.Fatalf("the prebuilt worker: %v\n%s", err, tail(out, 40))
	}
	if !strings.Contains(out, "worker: prebuilt ") || !strings.Contains(out, "@sha256:") {
		t.Errorf("the prebuilt worker of this source was not used, pinned by digest:\n%s", tail(out, 40))
	}
}
