package vuln

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/config"
)

// matrixFindings covers every severity, fixable or not.
var matrixFindings = []Finding{
	{ID: "CVE-2099-1001", Package: "zlib", Installed: "1:1.2.13.dfsg-1", Fixed: "1:1.2.13.dfsg-1+deb12u1", Severity: Critical, Source: "/var/lib/dpkg/status"},
	{ID: "CVE-2099-1005", Package: "libslipdemo1", Installed: "2.0.1-3", Severity: Critical, Source: "/var/lib/dpkg/status"},
	{ID: "CVE-2099-2001", Aliases: []string{"GHSA-2099-slip-0001", "GO-2099-0001"}, Package: "stdlib", Installed: "1.26.8", Fixed: "1.26.9", Severity: High, Source: "/usr/local/bin/demo"},
	{ID: "CVE-2099-2002", Package: "stdlib", Installed: "1.26.8", Fixed: "1.26.9", Severity: Medium, Source: "/usr/local/bin/demo"},
	{ID: "CVE-2099-1006", Package: "libslipdemo1", Installed: "2.0.1-3", Severity: Low, Source: "/var/lib/dpkg/status"},
	{ID: "CVE-2099-1002", Package: "libslipdemo1", Installed: "2.0.1-3", Severity: Unknown, Source: "/var/lib/dpkg/status"},
}

func entry(t *testing.T, id, expires, pkg string) IgnoreEntry {
	t.Helper()
	e, err := NewIgnoreEntry(id, "accepted for the test", expires, pkg)
	if err != nil {
		t.Fatal(err)
	}
	e.File, e.Line = ".slipway/vuln-ignore.yaml", 7
	return e
}

func TestPolicyMatrix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  config.Policy
		blocked []string
	}{
		{"dev fails at CRITICAL", config.Policy{FailOn: "CRITICAL"}, []string{"CVE-2099-1001", "CVE-2099-1005"}},
		{"prod fails at HIGH", config.Policy{FailOn: "HIGH"}, []string{"CVE-2099-1001", "CVE-2099-1005", "CVE-2099-2001"}},
		{"prod fails at HIGH, fixable only", config.Policy{FailOn: "HIGH", FixableOnly: true}, []string{"CVE-2099-1001", "CVE-2099-2001"}},
		{"dev, fixable only", config.Policy{FailOn: "CRITICAL", FixableOnly: true}, []string{"CVE-2099-1001"}},
		{"MEDIUM", config.Policy{FailOn: "MEDIUM"}, []string{"CVE-2099-1001", "CVE-2099-1005", "CVE-2099-2001", "CVE-2099-2002"}},
		{"LOW never blocks on UNKNOWN", config.Policy{FailOn: "LOW"}, []string{"CVE-2099-1001", "CVE-2099-1005", "CVE-2099-2001", "CVE-2099-2002", "CVE-2099-1006"}},
		{"lower case", config.Policy{FailOn: "high"}, []string{"CVE-2099-1001", "CVE-2099-1005", "CVE-2099-2001"}},
		{"empty means CRITICAL", config.Policy{}, []string{"CVE-2099-1001", "CVE-2099-1005"}},
		{"NONE only reports", config.Policy{FailOn: "NONE", Strict: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(matrixFindings, tc.policy, nil, testNow)
			if got := d.BlockingIDs(); !reflect.DeepEqual(got, tc.blocked) {
				t.Errorf("blocked %v, want %v", got, tc.blocked)
			}
			if d.Pass != (len(tc.blocked) == 0) {
				t.Errorf("pass = %t with %d blocked (reasons %v)", d.Pass, len(tc.blocked), d.Reasons)
			}
			if d.Total != 6 || !reflect.DeepEqual(d.Counts, map[Severity]int{Critical: 2, High: 1, Medium: 1, Low: 1, Unknown: 1}) {
				t.Errorf("counts %v total %d", d.Counts, d.Total)
			}
			if !d.Pass && (len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], strings.Join(tc.blocked, ", "))) {
				t.Errorf("reasons %q do not name the blocking IDs", d.Reasons)
			}
		})
	}
	d := Evaluate(matrixFindings, config.Policy{FailOn: "SEVERE"}, nil, testNow)
	if d.Pass || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], `failOn "SEVERE" is not a severity`) {
		t.Errorf("a bad failOn must fail the gate, not pass it: %+v", d)
	}
}

func TestIgnores(t *testing.T) {
	prod := config.Policy{FailOn: "HIGH"}
	strict := config.Policy{FailOn: "HIGH", Strict: true}

	t.Run("unexpired entries let findings pass", func(t *testing.T) {
		ign := IgnoreList{
			entry(t, "CVE-2099-1001", "2099-01-31", ""),
			entry(t, "CVE-2099-1005", "2099-01-10", "libslipdemo1"), // last day today
			entry(t, "go-2099-0001", "2099-02-01", ""),              // by alias, any case
		}
		d := Evaluate(matrixFindings, strict, ign, testNow)
		if !d.Pass || len(d.Blocked) != 0 || len(d.Ignored) != 3 || len(d.Stale) != 0 || len(d.Expired) != 0 {
			t.Fatalf("decision %s", dump(d))
		}
		if d.Ignored[2].Finding.ID != "CVE-2099-2001" || d.Ignored[2].Entry.ID != "go-2099-0001" {
			t.Errorf("ignored %s", dump(d.Ignored))
		}
		// Counts still show what was found.
		if d.Counts[Critical] != 2 || d.Total != 6 {
			t.Errorf("counts %v", d.Counts)
		}
	})

	t.Run("an expired entry fails again and is reported", func(t *testing.T) {
		ign := IgnoreList{entry(t, "CVE-2099-1001", "2099-01-09", ""), entry(t, "CVE-2099-1005", "2099-01-31", ""), entry(t, "CVE-2099-2001", "2099-01-31", "")}
		d := Evaluate(matrixFindings, prod, ign, testNow)
		if d.Pass || !reflect.DeepEqual(d.BlockingIDs(), []string{"CVE-2099-1001"}) {
			t.Fatalf("decision %s", dump(d))
		}
		if len(d.Expired) != 1 || d.Expired[0].ID != "CVE-2099-1001" || len(d.Stale) != 0 {
			t.Errorf("expired %v stale %v", d.Expired, d.Stale)
		}
		s := d.Summary("api", "prod")
		for _, want := range []string{
			"vulnerability gate FAIL: api in prod (failOn HIGH): 2 CRITICAL, 1 HIGH, 1 MEDIUM, 1 LOW, 1 UNKNOWN",
			"blocked: CRITICAL CVE-2099-1001 in zlib 1:1.2.13.dfsg-1 (fixed in 1:1.2.13.dfsg-1+deb12u1) at /var/lib/dpkg/status",
			"expired ignore: CVE-2099-1001 at .slipway/vuln-ignore.yaml:7 expired after 2099-01-09 and no longer applies",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("summary does not say %q:\n%s", want, s)
			}
		}
	})

	t.Run("a stale entry is reported, and fails only a strict policy", func(t *testing.T) {
		few := matrixFindings[3:] // nothing at HIGH or above
		ign := IgnoreList{
			entry(t, "CVE-2099-9999", "2099-01-31", ""),         // matches nothing
			entry(t, "CVE-2099-2002", "2099-01-31", ""),         // below the threshold: used, not stale
			entry(t, "CVE-2099-1006", "2099-01-31", "zlib"),     // right ID, wrong package: stale
			entry(t, "CVE-2099-8888", "2099-01-01", "anything"), // expired: reported as expired, not stale
		}
		lax := Evaluate(few, prod, ign, testNow)
		if !lax.Pass || len(lax.Stale) != 2 || lax.Stale[0].ID != "CVE-2099-9999" || lax.Stale[1].ID != "CVE-2099-1006" || len(lax.Expired) != 1 {
			t.Fatalf("non-strict decision %s", dump(lax))
		}
		d := Evaluate(few, strict, ign, testNow)
		if d.Pass || len(d.Blocked) != 0 || len(d.Reasons) != 2 {
			t.Fatalf("strict decision %s", dump(d))
		}
		if !strings.Contains(d.Reasons[0], "stale ignore entry CVE-2099-9999 at .slipway/vuln-ignore.yaml:7 matches no finding") {
			t.Errorf("reason %q", d.Reasons[0])
		}
		if !strings.Contains(d.Summary("api", "prod"), "stale ignore: CVE-2099-1006 at .slipway/vuln-ignore.yaml:7 matches no finding") {
			t.Errorf("summary:\n%s", d.Summary("api", "prod"))
		}
	})

	t.Run("fixableOnly leaves unfixed findings to the report", func(t *testing.T) {
		d := Evaluate(matrixFindings, config.Policy{FailOn: "CRITICAL", FixableOnly: true}, IgnoreList{entry(t, "CVE-2099-1001", "2099-01-31", "")}, testNow)
		if !d.Pass || len(d.Ignored) != 1 {
			t.Errorf("decision %s", dump(d))
		}
	})
}

func TestDecisionGolden(t *testing.T) {
	ign := IgnoreList{entry(t, "CVE-2099-1001", "2099-01-31", ""), entry(t, "CVE-2099-1007", "2099-01-31", ""), entry(t, "CVE-2099-1005", "2098-12-31", "")}
	d := Evaluate(matrixFindings, config.Policy{FailOn: "HIGH", Strict: true}, ign, testNow)
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string][]byte{
		"decision.golden.json": append(js, '\n'),
		"decision.golden.txt":  []byte(d.Summary("api", "prod")),
	} {
		path := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs (run with -update if intended):\n%s", path, got)
		}
	}
	if got := d.CountsByName(); got["CRITICAL"] != 2 || got["UNKNOWN"] != 1 || len(got) != 5 {
		t.Errorf("CountsByName %v", got)
	}
	if (Decision{Counts: map[Severity]int{}}).CountsLine() != "no findings" {
		t.Error("CountsLine of nothing")
	}
}
