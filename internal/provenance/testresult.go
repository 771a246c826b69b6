package provenance

import (
	"fmt"
	"strings"
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
}

type testPredicate struct {
	Result        string               `json:"result"`
	Configuration []ResourceDescriptor `json:"configuration"`
	URL           string               `json:"url,omitempty"`
	PassedTests   []string             `json:"passedTests"`
	WarnedTests   []string             `json:"warnedTests"`
	FailedTests   []string             `json:"failedTests"`
}

// TestResult returns the in-toto test-result predicate
// (PredicateTestResult) of the run, with test names sorted.
func TestResult(r TestRun) ([]byte, error) {
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
	})
}
