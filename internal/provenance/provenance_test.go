package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden predicates under testdata")

const commit = "0123456789abcdef0123456789abcdef01234567"

var (
	started  = time.Date(2099, 1, 3, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	finished = started.Add(42 * time.Second)
)

func sampleBuild(t *testing.T) Build {
	t.Helper()
	golang, err := ImageDependency("golang:1.26", "sha256:"+strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	distroless, err := ImageDependency("gcr.io/distroless/static-debian12:nonroot", "sha256:"+strings.Repeat("b", 64))
	if err != nil {
		t.Fatal(err)
	}
	return Build{
		BuilderID:      "https://github.com/acme/mono/.github/workflows/ci.yml@refs/heads/main",
		BuilderVersion: map[string]string{"slipway": "v0.3.0", "dagger": "v0.19.10"},
		Service:        "orders",
		Repository:     "https://github.com/acme/mono",
		Ref:            "refs/heads/main",
		Commit:         commit,
		Dockerfile:     "services/orders/Dockerfile",
		Target:         "runtime",
		Platform:       "linux/amd64",
		BuildArgs:      map[string]string{"GO_VERSION": "1.26", "APP": "orders"},
		InputDigest:    "sha256:" + strings.Repeat("c", 64),
		BaseImages:     []ResourceDescriptor{golang, distroless},
		InvocationID:   "run-42",
		StartedOn:      started,
		FinishedOn:     finished,
	}
}

func sampleScan() VulnScan {
	return VulnScan{
		ScannerURI:     "pkg:golang/github.com/google/osv-scanner/v2@v2.5.0",
		ScannerVersion: "2.5.0",
		DBURI:          "file:///var/cache/osv-scanner",
		DBVersion:      "2099-01-03",
		Result: map[string]any{
			"environment": "prod", "pass": false,
			"counts":  map[string]int{"CRITICAL": 1, "HIGH": 1},
			"blocked": []string{"CVE-2099-1001", "CVE-2099-2001"},
		},
		StartedOn:  started,
		FinishedOn: finished,
		BuilderID:  "https://github.com/acme/mono/.github/workflows/ci.yml@refs/heads/main",
		Parameters: map[string]any{"environment": "prod", "failOn": "HIGH"},
	}
}

func sampleTests() TestRun {
	return TestRun{
		Configuration: []ResourceDescriptor{{Name: "unit", URI: "git+https://github.com/acme/mono@" + commit + "#services/orders/service.yaml"}},
		URL:           "https://github.com/acme/mono/actions/runs/42",
		Passed:        []string{"unit", "integration", "smoke"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", name, err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs (run with -update if intended):\n%s", path, pretty.Bytes())
	}
}

func TestPredicatesGolden(t *testing.T) {
	slsa, err := SLSA(sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "slsa.golden.json", slsa)
	vuln, err := VulnPredicate(sampleScan())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "vuln.golden.json", vuln)
	tr, err := TestResult(sampleTests())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "test-result.golden.json", tr)
}

func TestSLSAShape(t *testing.T) {
	b, err := SLSA(sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		BuildDefinition struct {
			BuildType            string               `json:"buildType"`
			ExternalParameters   map[string]any       `json:"externalParameters"`
			ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder  struct{ ID string } `json:"builder"`
			Metadata struct {
				StartedOn string `json:"startedOn"`
			} `json:"metadata"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	ext := p.BuildDefinition.ExternalParameters
	if ext["service"] != "orders" || ext["commit"] != commit || ext["repository"] != "https://github.com/acme/mono" || ext["dockerfile"] != "services/orders/Dockerfile" {
		t.Errorf("externalParameters %v", ext)
	}
	deps := p.BuildDefinition.ResolvedDependencies
	if len(deps) != 3 || deps[0].URI != "git+https://github.com/acme/mono@refs/heads/main" || deps[0].Digest["gitCommit"] != commit {
		t.Fatalf("resolvedDependencies %+v", deps)
	}
	// Base images sorted by URI, with their digests.
	if deps[1].URI != "pkg:docker/distroless/static-debian12@nonroot?repository_url=gcr.io" || deps[1].Digest["sha256"] != strings.Repeat("b", 64) ||
		deps[2].URI != "pkg:docker/golang@1.26" || deps[2].Name != "index.docker.io/library/golang:1.26" {
		t.Errorf("base images %+v", deps[1:])
	}
	if p.RunDetails.Builder.ID != "https://github.com/acme/mono/.github/workflows/ci.yml@refs/heads/main" || p.RunDetails.Metadata.StartedOn != "2099-01-03T09:00:00Z" {
		t.Errorf("runDetails %+v", p.RunDetails)
	}
	if p.BuildDefinition.BuildType != BuildType {
		t.Errorf("buildType %s", p.BuildDefinition.BuildType)
	}
	if _, ok := ext["dirty"]; ok {
		t.Errorf("a clean build records dirty: %v", ext["dirty"])
	}
	dirty := sampleBuild(t)
	dirty.Dirty = true
	b, err = SLSA(dirty)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.BuildDefinition.ExternalParameters["dirty"] != true {
		t.Errorf("a dirty build does not record dirty: true: %v", p.BuildDefinition.ExternalParameters)
	}
}

func TestPredicatesAreDeterministic(t *testing.T) {
	a := sampleBuild(t)
	b := sampleBuild(t)
	b.BaseImages = []ResourceDescriptor{b.BaseImages[1], b.BaseImages[0]}
	b.StartedOn = a.StartedOn.UTC()
	pa, err := SLSA(a)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		pb, err := SLSA(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pa, pb) {
			t.Fatalf("same build, different bytes:\n%s\n%s", pa, pb)
		}
	}
	t1, _ := TestResult(TestRun{Configuration: []ResourceDescriptor{{Name: "unit"}}, Passed: []string{"b", "a"}})
	t2, _ := TestResult(TestRun{Configuration: []ResourceDescriptor{{Name: "unit"}}, Passed: []string{"a", "b"}})
	if !bytes.Equal(t1, t2) {
		t.Errorf("test order changed the predicate:\n%s\n%s", t1, t2)
	}
}

func TestSLSARejects(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Build)
		want string
	}{
		"no builder":             {func(b *Build) { b.BuilderID = "" }, "needs BuilderID"},
		"several missing":        {func(b *Build) { b.Service, b.Dockerfile = "", " " }, "needs Service, Dockerfile"},
		"builder not a URI":      {func(b *Build) { b.BuilderID = "ci" }, `builder ID "ci" is not an absolute URI`},
		"short commit":           {func(b *Build) { b.Commit = "0123456" }, `commit "0123456" is not a full git SHA`},
		"upper-case commit":      {func(b *Build) { b.Commit = strings.ToUpper(commit) }, "is not a full git SHA"},
		"absolute Dockerfile":    {func(b *Build) { b.Dockerfile = "/src/Dockerfile" }, "must be a clean path relative"},
		"escaping Dockerfile":    {func(b *Build) { b.Dockerfile = "../Dockerfile" }, "must be a clean path relative"},
		"secret build argument":  {func(b *Build) { b.BuildArgs = map[string]string{"NPM_TOKEN": "x"} }, "build argument NPM_TOKEN looks like a secret"},
		"password in repository": {func(b *Build) { b.Repository = "https://bot:hunter2@github.com/acme/mono" }, "carries a password"},
		"base without digest":    {func(b *Build) { b.BaseImages = []ResourceDescriptor{{URI: "pkg:docker/golang@1.26"}} }, "has no sha256 digest"},
		"bad input digest":       {func(b *Build) { b.InputDigest = "abc" }, `input digest "abc"`},
	} {
		t.Run(name, func(t *testing.T) {
			b := sampleBuild(t)
			tc.edit(&b)
			p, err := SLSA(b)
			if err == nil {
				t.Fatalf("accepted: %s", p)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want ErrInvalid saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error repeats the password")
			}
		})
	}
	b := sampleBuild(t)
	b.Repository = "git@github.com:acme/mono.git"
	p, err := SLSA(b)
	if err != nil || !bytes.Contains(p, []byte(`"uri":"git+ssh://git@github.com/acme/mono.git@refs/heads/main"`)) {
		t.Errorf("scp-like repository: %v\n%s", err, p)
	}
}

func TestImageDependency(t *testing.T) {
	d := "sha256:" + strings.Repeat("d", 64)
	for ref, want := range map[string]string{
		"golang:1.26":                      "pkg:docker/golang@1.26",
		"docker.io/library/alpine:3.20":    "pkg:docker/alpine@3.20",
		"bitnami/redis:7":                  "pkg:docker/bitnami/redis@7",
		"ghcr.io/acme/base:v1":             "pkg:docker/acme/base@v1?repository_url=ghcr.io",
		"registry.local:5000/base/go:1":    "pkg:docker/base/go@1?repository_url=registry.local%3A5000",
		"alpine@" + d:                      "pkg:docker/alpine@sha256%3A" + strings.Repeat("d", 64),
		"ubuntu":                           "pkg:docker/ubuntu@latest",
		"quay.io/prometheus/busybox:glibc": "pkg:docker/prometheus/busybox@glibc?repository_url=quay.io",
	} {
		got, err := ImageDependency(ref, d)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if got.URI != want || got.Digest["sha256"] != strings.Repeat("d", 64) {
			t.Errorf("%s: %+v, want URI %s", ref, got, want)
		}
	}
	for ref, digest := range map[string]string{
		"golang:1.26":  "sha256:abc",
		"golang:1.26 ": d,
		"alpine@sha256:" + strings.Repeat("e", 64): d,
	} {
		if _, err := ImageDependency(ref, digest); !errors.Is(err, ErrInvalid) {
			t.Errorf("ImageDependency(%q, %q) = %v, want ErrInvalid", ref, digest, err)
		}
	}
}

func TestRepositoryURL(t *testing.T) {
	for in, want := range map[string]string{
		"git@github.com:acme/mono.git":  "ssh://git@github.com/acme/mono.git",
		"github.com:acme/mono":          "ssh://github.com/acme/mono",
		"https://github.com/acme/mono":  "https://github.com/acme/mono",
		"ssh://git@host:2222/acme/mono": "ssh://git@host:2222/acme/mono",
		"file:///srv/git/mono.git":      "file:///srv/git/mono.git",
	} {
		if got := RepositoryURL(in); got != want {
			t.Errorf("RepositoryURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVulnPredicateRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*VulnScan)
		want string
	}{
		"no scanner URI":    {func(v *VulnScan) { v.ScannerURI = "" }, "needs the scanner's URI"},
		"relative URI":      {func(v *VulnScan) { v.ScannerURI = "osv-scanner" }, "is not an absolute URI"},
		"no version":        {func(v *VulnScan) { v.ScannerVersion = "" }, "needs the scanner's version"},
		"no times":          {func(v *VulnScan) { v.StartedOn = time.Time{} }, "start and finish times"},
		"finished first":    {func(v *VulnScan) { v.FinishedOn = v.StartedOn.Add(-time.Second) }, "finished (2099-01-03T08:59:59Z) before it started"},
		"result not object": {func(v *VulnScan) { v.Result = []string{"CVE-1"} }, "must be a JSON object"},
		"result nil":        {func(v *VulnScan) { v.Result = nil }, "must be a JSON object"},
		"unmarshalable":     {func(v *VulnScan) { v.Result = map[string]any{"f": func() {}} }, "scan result"},
	} {
		t.Run(name, func(t *testing.T) {
			v := sampleScan()
			tc.edit(&v)
			if _, err := VulnPredicate(v); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want %q", err, tc.want)
			}
		})
	}
	// A raw JSON result goes in as is.
	v := sampleScan()
	v.Result = json.RawMessage(`{"pass": true}`)
	p, err := VulnPredicate(v)
	if err != nil || !bytes.Contains(p, []byte(`"result":{"pass":true}`)) {
		t.Errorf("%v %s", err, p)
	}
}

func TestTestResult(t *testing.T) {
	cfg := []ResourceDescriptor{{Name: "unit"}}
	for name, tc := range map[string]struct {
		run  TestRun
		want string
		err  string
	}{
		"derived pass":            {run: TestRun{Configuration: cfg, Passed: []string{"a"}}, want: TestPassed},
		"derived fail":            {run: TestRun{Configuration: cfg, Passed: []string{"a"}, Failed: []string{"b"}}, want: TestFailed},
		"derived warn":            {run: TestRun{Configuration: cfg, Warned: []string{"w"}}, want: TestWarned},
		"explicit failed":         {run: TestRun{Result: "failed", Configuration: cfg}, want: TestFailed},
		"passed with failures":    {run: TestRun{Result: "PASSED", Configuration: cfg, Failed: []string{"b"}}, err: "test result PASSED contradicts the failed tests"},
		"warned with failures":    {run: TestRun{Result: "WARNED", Configuration: cfg, Failed: []string{"b"}}, err: "contradicts"},
		"bad word":                {run: TestRun{Result: "OK", Configuration: cfg}, err: `test result "OK" is not PASSED, WARNED or FAILED`},
		"no configuration":        {run: TestRun{Passed: []string{"a"}}, err: "at least one configuration"},
		"anonymous configuration": {run: TestRun{Configuration: []ResourceDescriptor{{}}}, err: "neither a URI nor a name"},
		"relative URL":            {run: TestRun{Configuration: cfg, URL: "runs/42"}, err: "is not an absolute URI"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := TestResult(tc.run)
			if tc.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Result      string   `json:"result"`
				FailedTests []string `json:"failedTests"`
			}
			if err := json.Unmarshal(b, &p); err != nil || p.Result != tc.want || p.FailedTests == nil {
				t.Errorf("%s: %+v %v", b, p, err)
			}
		})
	}
}

func TestCheckCycloneDX(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "trivy-image.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := CheckCycloneDX(b)
	if err != nil || info != (BOM{SpecVersion: "1.6", Components: 3}) {
		t.Fatalf("%+v %v", info, err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"empty":          {"", "not a JSON object"},
		"array":          {"[]", "not a JSON object"},
		"broken":         {`{"bomFormat": `, "not CycloneDX JSON"},
		"SPDX":           {`{"spdxVersion": "SPDX-2.3", "packages": []}`, "is SPDX (SPDX-2.3), not CycloneDX"},
		"scanner report": {`{"SchemaVersion": 2, "Results": []}`, "has no bomFormat"},
		"other format":   {`{"bomFormat": "SWID", "specVersion": "1.6"}`, `bomFormat is "SWID"`},
		"no version":     {`{"bomFormat": "CycloneDX"}`, "specVersion is none"},
		"XML-only 1.1":   {`{"bomFormat": "CycloneDX", "specVersion": "1.1"}`, `specVersion is "1.1"`},
		"numeric":        {`{"bomFormat": "CycloneDX", "specVersion": 1.5}`, "not CycloneDX JSON"},
		"components map": {`{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {}}`, "components is not a list"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := CheckCycloneDX([]byte(tc.in)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want %q", err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	slsa, _ := SLSA(sampleBuild(t))
	vuln, _ := VulnPredicate(sampleScan())
	tests, _ := TestResult(sampleTests())
	sbom, _ := os.ReadFile(filepath.Join("testdata", "trivy-image.cdx.json"))
	for kind, p := range map[string][]byte{"slsa": slsa, "vuln": vuln, "test": tests, "sbom": sbom} {
		if err := Check(kind, p); err != nil {
			t.Errorf("Check(%s) of a built predicate: %v", kind, err)
		}
	}
	for _, tc := range []struct {
		kind, in, want string
	}{
		{"slsa", `[]`, "slsa predicate is not a JSON object"},
		{"slsa", `{"predicate": {}}`, "needs buildDefinition and runDetails"},
		{"slsa", `{"buildDefinition": {"externalParameters": {}}, "runDetails": {"builder": {"id": "x"}}}`, "no buildDefinition.buildType"},
		{"slsa", `{"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "x"}}}`, "no buildDefinition.externalParameters"},
		{"slsa", `{"buildDefinition": {"buildType": "x", "externalParameters": {}}, "runDetails": {}}`, "no runDetails.builder.id"},
		{"vuln", `{"scanner": {"uri": "x"}}`, "needs scanner.uri and scanner.version"},
		{"vuln", `{"scanner": {"uri": "x", "version": "1", "result": []}}`, "scanner.result must be a JSON object"},
		{"vuln", `{"scanner": {"uri": "x", "version": "1", "result": {}}}`, "needs metadata"},
		{"vuln", `{"scanner": {"uri": "x", "version": "1", "result": {}}, "metadata": {"scanStartedOn": "2099-01-01T00:00:00Z", "scanFinishedOn": "yesterday"}}`, `metadata.scanFinishedOn "yesterday"`},
		{"test", `{"result": "OK", "configuration": [{}]}`, `result "OK" is not PASSED`},
		{"test", `{"result": "PASSED"}`, "has no configuration"},
		{"sbom", `{"spdxVersion": "SPDX-2.3"}`, "is SPDX"},
		{"provenance", `{}`, `unknown attestation kind "provenance"`},
	} {
		if err := Check(tc.kind, []byte(tc.in)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s, %s) = %v; want %q", tc.kind, tc.in, err, tc.want)
		}
	}
}
