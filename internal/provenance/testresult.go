package provenance

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/testout"
)

// Test results, as the in-toto test-result predicate writes them.
const (
	TestPassed = "PASSED"
	TestWarned = "WARNED"
	TestFailed = "FAILED"
)

// TestRun describes a service's test run, for in-toto's test-result
// predicate.
type TestRun struct {
	// Result is PASSED, WARNED or FAILED. Empty means: FAILED when any test
	// failed, else WARNED when any warned, else PASSED. A Result that
	// contradicts the lists (PASSED with failed tests) is refused.
	Result string
	// Configuration names what was run, e.g. the test command or the
	// service.yaml that declares it (at least one is required).
	Configuration []ResourceDescriptor
	// URL links to the run's log or report (optional).
	URL string
	// Passed, Warned and Failed name the tests (or test suites: unit,
	// integration, smoke) in each state.
	Passed, Warned, Failed []string
	// Service is the service whose tests ran; it is recorded in the
	// predicate, so that the signed statement names its service.
	Service string
	// Suites records each kind of test (unit, integration): its status,
	// command and counts. When set, Passed, Warned and Failed are derived
	// from it (passed suites pass, failed ones fail, and suites that did
	// not run, not configured or skipped, warn) and must not be given.
	Suites map[string]TestSuite
}

// TestSuite is what happened to one kind of test.
type TestSuite struct {
	// Status is passed, failed, not configured or skipped (testout's
	// statuses). Only a suite whose command ran tests is passed.
	Status string `json:"status"`
	// Command is the command that ran (empty when none did).
	Command string `json:"command,omitempty"`
	// Counts are the runner's counts, when its output gave them.
	Counts *testout.Counts `json:"counts,omitempty"`
	// Reason says why a suite is not passed.
	Reason string `json:"reason,omitempty"`
}

// TestSuiteKinds are the suites every test-result predicate slipway writes
// accounts for.
var TestSuiteKinds = []string{"unit", "integration"}

type testPredicate struct {
	Result        string               `json:"result"`
	Configuration []ResourceDescriptor `json:"configuration"`
	URL           string               `json:"url,omitempty"`
	PassedTests   []string             `json:"passedTests"`
	WarnedTests   []string             `json:"warnedTests"`
	FailedTests   []string             `json:"failedTests"`
	// Service and Suites are slipway's additions to in-toto's
	// test-result predicate.
	Service string               `json:"service,omitempty"`
	Suites  map[string]TestSuite `json:"suites,omitempty"`
}

// checkSuites validates the suites and derives the passed, warned and
// failed lists from them.
func (r *TestRun) checkSuites() error {
	if len(r.Suites) == 0 {
		return nil
	}
	if len(r.Passed)+len(r.Warned)+len(r.Failed) > 0 {
		return fmt.Errorf("%w: give either the suites or the passed, warned and failed lists, not both", ErrInvalid)
	}
	names := make([]string, 0, len(r.Suites))
	for n := range r.Suites {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.Suites[n]
		if !slices.Contains(testout.Statuses, s.Status) {
			return fmt.Errorf("%w: %s tests: status %q is not one of %s", ErrInvalid, n, s.Status, strings.Join(testout.Statuses, ", "))
		}
		switch s.Status {
		case testout.Passed:
			if s.Command == "" {
				return fmt.Errorf("%w: %s tests passed, but no command is recorded", ErrInvalid, n)
			}
			if c := s.Counts; c != nil && (c.Passed == 0 || c.Failed > 0) {
				return fmt.Errorf("%w: %s tests cannot have passed with %d passed and %d failed tests", ErrInvalid, n, c.Passed, c.Failed)
			}
			r.Passed = append(r.Passed, n)
		case testout.Failed:
			r.Failed = append(r.Failed, n)
		default:
			r.Warned = append(r.Warned, n)
		}
	}
	for _, k := range TestSuiteKinds {
		if _, ok := r.Suites[k]; !ok {
			return fmt.Errorf("%w: the %s tests are not accounted for (passed, failed, not configured or skipped)", ErrInvalid, k)
		}
	}
	return nil
}

// TestResult returns the in-toto test-result predicate
// (PredicateTestResult) of the run, with test names sorted. With Suites, the
// result is PASSED only when every suite passed: a suite that was not
// configured or was skipped makes it WARNED, a failed one FAILED.
func TestResult(r TestRun) ([]byte, error) {
	if err := r.checkSuites(); err != nil {
		return nil, err
	}
	result := strings.ToUpper(strings.TrimSpace(r.Result))
	derived := TestPassed
	switch {
	case len(r.Failed) > 0:
		derived = TestFailed
	case len(r.Warned) > 0:
		derived = TestWarned
	}
	switch result {
	case "":
		result = derived
	case TestPassed, TestWarned, TestFailed:
		if result == TestPassed && derived != TestPassed || result == TestWarned && derived == TestFailed {
			return nil, fmt.Errorf("%w: test result %s contradicts the %s tests listed", ErrInvalid, result, strings.ToLower(derived))
		}
	default:
		return nil, fmt.Errorf("%w: test result %q is not PASSED, WARNED or FAILED", ErrInvalid, r.Result)
	}
	if len(r.Configuration) == 0 {
		return nil, fmt.Errorf("%w: a test result needs at least one configuration (what was run)", ErrInvalid)
	}
	for i, c := range r.Configuration {
		if c.URI == "" && c.Name == "" {
			return nil, fmt.Errorf("%w: test configuration %d has neither a URI nor a name", ErrInvalid, i)
		}
	}
	if r.URL != "" {
		if err := absURI("test result URL", r.URL); err != nil {
			return nil, err
		}
	}
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return sortedCopy(s)
	}
	return marshal(testPredicate{
		Result:        result,
		Configuration: r.Configuration,
		URL:           r.URL,
		PassedTests:   nonNil(r.Passed),
		WarnedTests:   nonNil(r.Warned),
		FailedTests:   nonNil(r.Failed),
		Service:       r.Service,
		Suites:        r.Suites,
	})
}
