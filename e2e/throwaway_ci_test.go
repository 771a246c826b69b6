package e2e

import (
	"strings"
	"testing"
)

// TestModuleRefusesTheThrowawayRepositoryInCI: in CI (--in-ci), a run with
// no GitOps repository configured would deploy into the throwaway one,
// which no cluster reads, and pass. ci and promote refuse before anything
// runs, naming the setting to add; --gitops-throwaway lets them through.
func TestModuleRefusesTheThrowawayRepositoryInCI(t *testing.T) {
	r := newSlipwayRun(t)
	r.moduleArgs = []string{"--in-ci=true"}
	for _, call := range [][]string{{"ci"}, {"promote", "--from", "dev", "--to", "staging"}, {"deploy", "--env", "dev"}} {
		out, err := r.call(call...)
		if err == nil || !strings.Contains(out, "would write into the throwaway GitOps repository, which no cluster reads") ||
			!strings.Contains(out, "set gitops.repo in slipway.yaml (or pass --gitops-repo") || !strings.Contains(out, "--gitops-throwaway") {
			t.Errorf("%s in CI: err=%v\n%s", call[0], err, tail(out, 20))
		}
		if strings.Contains(out, "building") || strings.Contains(out, "unit tests") {
			t.Errorf("%s in CI did work before refusing:\n%s", call[0], tail(out, 20))
		}
	}
	// Asked for, the throwaway repository takes the run (no images are
	// built: --skip-deploy would not reach the check, so ask for a deploy
	// of what does not exist yet and see it pass the check).
	r.moduleArgs = []string{"--in-ci=true", "--gitops-throwaway"}
	out, _ := r.call("deploy", "--env", "dev")
	if strings.Contains(out, "which no cluster reads") {
		t.Errorf("--gitops-throwaway did not let deploy through:\n%s", tail(out, 20))
	}
}
