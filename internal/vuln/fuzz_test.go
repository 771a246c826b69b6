package vuln

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/slipwayci/slipway/internal/config"
)

// The seed corpus (the fixtures and a few edge cases) runs in every plain
// `go test`; `go test -fuzz FuzzParseTrivy ./internal/vuln` explores.

func addFixtures(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds match %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := filepath.Rel("testdata", p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(readTestdata(f, b))
	}
}

// checkFindings asserts the parsers' contract on any input: an error is
// ErrBadReport and comes without findings; findings are sorted, have an ID,
// a package and a known severity, and their aliases never repeat the ID.
func checkFindings(t *testing.T, fs []Finding, err error) {
	if err != nil {
		if !errors.Is(err, ErrBadReport) {
			t.Fatalf("error %v does not wrap ErrBadReport", err)
		}
		if fs != nil {
			t.Fatal("findings with an error")
		}
		return
	}
	for i, f := range fs {
		if f.ID == "" || f.Package == "" {
			t.Fatalf("finding %d without ID or package: %+v", i, f)
		}
		if f.Severity.Rank() == 0 && f.Severity != Unknown {
			t.Fatalf("finding %d has severity %q", i, f.Severity)
		}
		for _, a := range f.Aliases {
			if a == f.ID || a == "" {
				t.Fatalf("finding %d lists its ID or an empty alias: %+v", i, f)
			}
		}
		if i > 0 && fs[i-1].Severity.Rank() < f.Severity.Rank() {
			t.Fatalf("findings not sorted by severity at %d", i)
		}
	}
	if _, err := json.Marshal(fs); err != nil {
		t.Fatal(err)
	}
	// Whatever parsed can be evaluated.
	d := Evaluate(fs, config.Policy{FailOn: "LOW", Strict: true}, nil, testNow)
	if d.Total != len(fs) {
		t.Fatalf("Evaluate counted %d of %d findings", d.Total, len(fs))
	}
}

func FuzzParseTrivy(f *testing.F) {
	f.Add(readTestdata(f, "trivy-image.json"))
	f.Add([]byte(`{"SchemaVersion": 2}`))
	f.Add([]byte(`{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "a", "Severity": "x", "CVSS": {"nvd": {"V3Score": 99}}}]}]}`))
	f.Add([]byte(`{"bomFormat": "CycloneDX"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseTrivy(data)
		checkFindings(t, fs, err)
	})
}

func FuzzParseOSVScanner(f *testing.F) {
	f.Add(readTestdata(f, "osv-scanner-image.json"))
	f.Add([]byte(`{"results": []}`))
	f.Add([]byte(`{"results": [{"packages": [{"package": {"name": "a", "ecosystem": "Go", "version": "1"}, "groups": [{"ids": ["X", "Y"], "max_severity": "NaN"}], "vulnerabilities": [{"id": "X", "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]}]}]}]}`))
	f.Add([]byte(`{"results": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseOSVScanner(data)
		checkFindings(t, fs, err)
	})
}

func FuzzParseIgnoreFile(f *testing.F) {
	addFixtures(f, "ignore/*.yaml")
	f.Add([]byte("ignores:\n  - {id: CVE-1, reason: r, expires: 2099-01-01, package: p}\n"))
	f.Add([]byte("ignores: &a\n  - *a\n"))
	f.Add([]byte("ignores:\n  - id: CVE-1\n    <<: {reason: r}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseIgnoreFile("f.yaml", data)
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 || l != nil {
				t.Fatalf("error %v (%T) is not a non-empty config.Errors, or came with entries", err, err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" {
					t.Fatalf("error does not name the file: %v", e)
				}
			}
			return
		}
		for _, e := range l {
			if e.ID == "" || e.Reason == "" || e.Expires == "" || e.Line == 0 || e.ExpiresAt().IsZero() {
				t.Fatalf("accepted an incomplete entry %+v", e)
			}
			if !e.Matches(Finding{ID: e.ID, Package: e.Package}) {
				t.Fatalf("entry %+v does not match its own ID", e)
			}
		}
	})
}
