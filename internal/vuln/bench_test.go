package vuln

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/slipwayci/slipway/internal/config"
)

// syntheticTrivy is a Trivy report with n findings over n/4 packages.
func syntheticTrivy(n int) []byte {
	type v struct {
		VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity string
		VendorIDs                                                          []string
	}
	var vs []v
	sev := []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}
	for i := 0; i < n; i++ {
		vs = append(vs, v{fmt.Sprintf("CVE-2099-%05d", i), fmt.Sprintf("pkg%d", i/4), "1.0", "1.1", sev[i%5], []string{fmt.Sprintf("GHSA-%05d", i)}})
	}
	b, _ := json.Marshal(map[string]any{"SchemaVersion": 2, "Results": []any{map[string]any{"Target": "image", "Vulnerabilities": vs}}})
	return b
}

func BenchmarkParseTrivy1000(b *testing.B) {
	data := syntheticTrivy(1000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseTrivy(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseOSVScannerFixture(b *testing.B) {
	data := readTestdata(b, "osv-scanner-image.json")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseOSVScanner(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate1000x100: 1000 findings against 100 ignore entries.
func BenchmarkEvaluate1000x100(b *testing.B) {
	fs, err := ParseTrivy(syntheticTrivy(1000))
	if err != nil {
		b.Fatal(err)
	}
	var ign IgnoreList
	for i := 0; i < 100; i++ {
		e, err := NewIgnoreEntry(fmt.Sprintf("GHSA-%05d", i*7), "accepted", "2099-01-31", "")
		if err != nil {
			b.Fatal(err)
		}
		ign = append(ign, e)
	}
	p := config.Policy{FailOn: "HIGH", Strict: true}
	for b.Loop() {
		Evaluate(fs, p, ign, testNow)
	}
}
