package testout

import (
	"regexp"
	"strconv"
	"strings"
)

// The runners of languages slipway has defaults for besides Go, Python and
// Node: cargo test (Rust), Maven Surefire and Gradle (Java), dotnet test
// (.NET). Each sums its summaries: a workspace or multi-module build prints
// one per crate, module or test project.

var (
	// test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s
	cargoResult = regexp.MustCompile(`^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored;`)
	// [INFO] Tests run: 5, Failures: 1, Errors: 0, Skipped: 2   (the per-class
	// lines add ", Time elapsed …" and are left out)
	surefireResult = regexp.MustCompile(`^(?:\[(?:INFO|ERROR|WARNING)\]\s+)?Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)\s*$`)
	// 5 tests completed, 1 failed, 1 skipped
	gradleResult = regexp.MustCompile(`^(\d+) tests? completed, (\d+) failed(?:, (\d+) skipped)?\s*$`)
	// Passed!  - Failed:     0, Passed:     3, Skipped:     0, Total:     3, Duration: …
	dotnetResult = regexp.MustCompile(`^(?:Passed|Failed)!\s+-\s+Failed:\s+(\d+), Passed:\s+(\d+), Skipped:\s+(\d+), Total:\s+(\d+)`)
	// Test summary: total: 3, failed: 1, succeeded: 2, skipped: 0, duration: 1.2s
	dotnetSummary = regexp.MustCompile(`^Test summary: total: (\d+), failed: (\d+), succeeded: (\d+), skipped: (\d+)`)
)

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func countCargo(lines []string) (Counts, bool) {
	c, ok := Counts{Runner: "cargo test"}, false
	for _, l := range lines {
		if m := cargoResult.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			ok = true
			c.Passed += atoi(m[1])
			c.Failed += atoi(m[2])
			c.Skipped += atoi(m[3])
		}
	}
	return c, ok
}

func countSurefire(lines []string) (Counts, bool) {
	c, ok := Counts{Runner: "maven surefire"}, false
	for _, l := range lines {
		if m := surefireResult.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			ok = true
			run, failed, errs, skipped := atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])
			c.Failed += failed + errs
			c.Skipped += skipped
			c.Passed += run - failed - errs - skipped
		}
	}
	return c, ok
}

func countGradle(lines []string) (Counts, bool) {
	c, ok := Counts{Runner: "gradle"}, false
	for _, l := range lines {
		if m := gradleResult.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			ok = true
			total, failed, skipped := atoi(m[1]), atoi(m[2]), atoi(m[3])
			c.Failed += failed
			c.Skipped += skipped
			c.Passed += total - failed - skipped
		}
	}
	return c, ok
}

func countDotnet(lines []string) (Counts, bool) {
	c, ok := Counts{Runner: "dotnet test"}, false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if m := dotnetResult.FindStringSubmatch(t); m != nil {
			ok = true
			c.Failed += atoi(m[1])
			c.Passed += atoi(m[2])
			c.Skipped += atoi(m[3])
		} else if m := dotnetSummary.FindStringSubmatch(t); m != nil {
			ok = true
			c.Failed += atoi(m[2])
			c.Passed += atoi(m[3])
			c.Skipped += atoi(m[4])
		}
	}
	return c, ok
}
