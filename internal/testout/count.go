package testout

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Suite statuses, as the test-result attestation records them. A suite is
// only ever "passed" when its command ran and the runner ran tests.
const (
	// Passed: the command exited 0 and ran tests (or its runner does not
	// say how many).
	Passed = "passed"
	// Failed: the command exited non-zero.
	Failed = "failed"
	// NotConfigured: there is no command for this kind of test, or the
	// command found no test to run.
	NotConfigured = "not configured"
	// Skipped: something real stopped the suite: test.skip in
	// service.yaml, an earlier suite that failed, or every test skipping
	// itself.
	Skipped = "skipped"
)

// Statuses lists the suite statuses.
var Statuses = []string{Passed, Failed, NotConfigured, Skipped}

// Counts are the numbers of tests a runner reported.
type Counts struct {
	// Runner is the runner whose summary was read: "go test",
	// "unittest", "pytest", "cargo test", "maven surefire", "gradle",
	// "dotnet test" or "node --test".
	Runner string `json:"runner"`
	// Passed, Failed and Skipped count tests (Go: test functions and
	// subtests; unittest and pytest: errors count as failures; node:
	// todo tests count as skipped).
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

var (
	goTestLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): \S+`)
	goPkgLine  = regexp.MustCompile(`^(ok|FAIL|\?)\s+\S+\s+(.*)$`)
	goElapsed  = regexp.MustCompile(`^(\d+(\.\d+)?s|\(cached\))`)

	unittestRan    = regexp.MustCompile(`^Ran (\d+) tests? in `)
	unittestResult = regexp.MustCompile(`^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$`)

	pytestSummary = regexp.MustCompile(`^=*\s*((?:\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?|rerun)(?:, )?)+)(?: in [\d.]+s.*?)?\s*=*$`)
	pytestNoTests = regexp.MustCompile(`^=*\s*no tests ran(?: in [\d.]+s.*?)?\s*=*$`)
	pytestPart    = regexp.MustCompile(`(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?|rerun)`)

	nodeCount = regexp.MustCompile(`^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$`)
)

// Count reads the test counts from a runner's output: go test (with -v, the
// --- PASS/FAIL/SKIP lines; without, only "no test files" is countable),
// Python's unittest ("Ran N tests" and the OK/FAILED line), pytest's
// summary line, cargo test, Maven Surefire, Gradle and dotnet test
// (runners.go), and node --test (the TAP "# pass N" or spec "ℹ pass N"
// summary). ok is false when the output says nothing countable.
func Count(output string) (c Counts, ok bool) {
	lines := strings.Split(strings.ReplaceAll(output, "\r\n", "\n"), "\n")
	if c, ok := countGo(lines); ok {
		return c, true
	}
	if c, ok := countUnittest(lines); ok {
		return c, true
	}
	if c, ok := countPytest(lines); ok {
		return c, true
	}
	for _, count := range []func([]string) (Counts, bool){countCargo, countSurefire, countGradle, countDotnet} {
		if c, ok := count(lines); ok {
			return c, true
		}
	}
	return countNode(lines)
}

func countGo(lines []string) (Counts, bool) {
	c := Counts{Runner: "go test"}
	tests, pkgs, ran, verbose := 0, 0, 0, false
	for _, l := range lines {
		if strings.HasPrefix(l, "=== RUN ") {
			verbose = true
		}
		if m := goTestLine.FindStringSubmatch(l); m != nil {
			tests++
			switch m[1] {
			case "PASS":
				c.Passed++
			case "FAIL":
				c.Failed++
			case "SKIP":
				c.Skipped++
			}
			continue
		}
		if m := goPkgLine.FindStringSubmatch(l); m != nil {
			rest := m[2]
			switch {
			case m[1] == "?" && strings.Contains(rest, "[no test files]"):
				pkgs++
			case m[1] == "ok" && strings.Contains(rest, "[no tests to run]"):
				pkgs++
			case (m[1] == "ok" || m[1] == "FAIL") && goElapsed.MatchString(rest):
				pkgs++
				ran++
			}
		}
	}
	switch {
	case verbose && tests > 0:
		// Without -v, only failures print a line: the counts would be
		// partial.
		return c, true
	case pkgs > 0 && ran == 0:
		// Every package said it has no tests (to run).
		return c, true
	}
	return Counts{}, false
}

func countUnittest(lines []string) (Counts, bool) {
	total := -1
	c := Counts{Runner: "unittest"}
	for _, l := range lines {
		if m := unittestRan.FindStringSubmatch(l); m != nil {
			total, _ = strconv.Atoi(m[1])
			c.Failed, c.Skipped = 0, 0
			continue
		}
		if total < 0 {
			continue
		}
		if m := unittestResult.FindStringSubmatch(l); m != nil {
			for _, part := range strings.Split(m[2], ",") {
				k, v, found := strings.Cut(strings.TrimSpace(part), "=")
				if !found {
					continue
				}
				n, _ := strconv.Atoi(v)
				switch k {
				case "failures", "errors", "unexpected successes":
					c.Failed += n
				case "skipped":
					c.Skipped += n
				}
			}
		}
	}
	if total < 0 {
		return Counts{}, false
	}
	c.Passed = max(total-c.Failed-c.Skipped, 0)
	return c, true
}

func countPytest(lines []string) (Counts, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if pytestNoTests.MatchString(l) {
			return Counts{Runner: "pytest"}, true
		}
		m := pytestSummary.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		c := Counts{Runner: "pytest"}
		counted := false
		for _, p := range pytestPart.FindAllStringSubmatch(m[1], -1) {
			n, _ := strconv.Atoi(p[1])
			switch p[2] {
			case "passed", "xfailed":
				c.Passed += n
				counted = true
			case "failed", "error", "errors", "xpassed":
				c.Failed += n
				counted = true
			case "skipped":
				c.Skipped += n
				counted = true
			}
		}
		if counted || strings.Contains(m[1], "deselected") {
			return c, true
		}
	}
	return Counts{}, false
}

func countNode(lines []string) (Counts, bool) {
	c := Counts{Runner: "node --test"}
	seen := map[string]bool{}
	var n = map[string]int{}
	for _, l := range lines {
		if m := nodeCount.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			v, _ := strconv.Atoi(m[2])
			n[m[1]], seen[m[1]] = v, true
		}
	}
	if !seen["tests"] || !seen["pass"] || !seen["fail"] {
		return Counts{}, false
	}
	c.Passed = n["pass"]
	c.Failed = n["fail"] + n["cancelled"]
	c.Skipped = n["skipped"] + n["todo"]
	return c, true
}

// Outcome is what a test command's exit status and output say about one
// suite.
type Outcome struct {
	// Status is Passed, Failed, NotConfigured or Skipped.
	Status string `json:"status"`
	// Counts are the runner's counts, nil when its output gave none.
	Counts *Counts `json:"counts,omitempty"`
	// Reason says why a suite that did not pass is in its state.
	Reason string `json:"reason,omitempty"`
}

// Judge turns a test command's exit status and output into the suite's
// outcome: a non-zero exit is Failed; an exit of 0 is Passed only when the
// runner ran tests (or does not say): a runner that ran none is
// NotConfigured, and one whose every test skipped itself is Skipped. A
// runner that reports failed tests while exiting 0 is Failed.
func Judge(exit int, output string) Outcome {
	c, ok := Count(output)
	o := Outcome{Status: Passed}
	if ok {
		o.Counts = &c
	}
	switch {
	case exit != 0:
		o.Status, o.Reason = Failed, fmt.Sprintf("the command exited %d", exit)
	case ok && c.Failed > 0:
		o.Status, o.Reason = Failed, fmt.Sprintf("%s reported %d failed test(s)", c.Runner, c.Failed)
	case ok && c.Passed == 0 && c.Skipped == 0:
		o.Status, o.Reason = NotConfigured, fmt.Sprintf("the command ran no tests (%s found none)", c.Runner)
	case ok && c.Passed == 0:
		o.Status, o.Reason = Skipped, fmt.Sprintf("every test skipped itself (%s: %d skipped)", c.Runner, c.Skipped)
	}
	return o
}
