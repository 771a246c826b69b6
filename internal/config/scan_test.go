package config

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestWhichEnvironmentsAskForAScan(t *testing.T) {
	fsys := fstest.MapFS{
		"services/api/Dockerfile": file("FROM scratch\n"),
		"services/api/go.mod":     file("module api\n"),
		"slipway.yaml": file(`environments:
  - name: dev
    autoDeploy: true
  - name: qa
    autoDeploy: true
    policy: {failOn: none}
  - name: preview
    autoDeploy: true
    policy: {failOn: high}
  - name: staging
    requireAttestations: [vuln]
    policy: {failOn: NONE}
`),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"dev":     "",
		"qa":      "",
		"preview": "environment preview's policy blocks HIGH findings (policy.failOn: HIGH)",
		"staging": "environment staging requires the vuln attestation (requireAttestations)",
	}
	for _, e := range cfg.Project.Environments {
		if got := e.ScanRequirement(); got != want[e.Name] {
			t.Errorf("%s: ScanRequirement() = %q, want %q", e.Name, got, want[e.Name])
		}
	}
	if e := cfg.Project.Environments[0]; e.Policy.FailOn != "CRITICAL" {
		t.Errorf("dev's failOn defaulted to %q, want CRITICAL (it still applies when a scan runs)", e.Policy.FailOn)
	}
	// staging asks for a scan but is reached by promotion, not by ci.
	if got := strings.Join(cfg.Project.ScanRequirements(), "|"); got != want["preview"] {
		t.Errorf("ScanRequirements() = %q", got)
	}
}

func TestTheBuiltInEnvironmentsAskForAScan(t *testing.T) {
	cfg, err := LoadFS(fstest.MapFS{"services/api/Dockerfile": file("FROM scratch\n"), "services/api/go.mod": file("module api\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Project.ScanRequirements(); len(got) != 1 || !strings.Contains(got[0], "environment dev's policy blocks CRITICAL") {
		t.Errorf("ScanRequirements() of the built-in environments = %q", got)
	}
}
