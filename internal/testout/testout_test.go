package testout

import (
	"strings"
	"testing"
)

func TestFailures(t *testing.T) {
	cases := map[string]struct {
		out  string
		want []string
	}{
		"go": {`=== RUN   TestHealth
--- PASS: TestHealth (0.00s)
=== RUN   TestCreate
    api_test.go:40: create = 500
--- FAIL: TestCreate (0.01s)
    --- FAIL: TestCreate/sub (0.00s)
FAIL
FAIL	github.com/x/orders	0.020s`, []string{"TestCreate", "TestCreate/sub", "github.com/x/orders"}},
		"unittest": {`test_health (tests.test_app.AppTest.test_health) ... ok
test_validation (tests.test_app.AppTest.test_validation) ... FAIL
======================================================================
FAIL: test_validation (tests.test_app.AppTest.test_validation)
ERROR: test_boom (tests.test_app.AppTest.test_boom)`, []string{"test_validation (tests.test_app.AppTest.test_validation)", "test_boom (tests.test_app.AppTest.test_boom)"}},
		"pytest": {"FAILED tests/test_app.py::test_add - assert 1 == 2", []string{"tests/test_app.py::test_add"}},
		"node tap": {`ok 1 - health endpoints answer
not ok 2 - queue and list notifications
  ---
not ok 3 - skipped one # SKIP`, []string{"queue and list notifications", "skipped one"}},
		"node spec": {"✔ health endpoints answer (3.1ms)\n✖ queue and list notifications (12.5ms)", []string{"queue and list notifications"}},
		"none":      {"all good\nok", nil},
	}
	for name, tc := range cases {
		got := Failures(tc.out)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: Failures = %q, want %q", name, got, tc.want)
		}
	}
}

func TestTailAndSummary(t *testing.T) {
	out := "a\n\nb\nc\n--- FAIL: TestX (0.00s)\n\n"
	if got := Tail(out, 2); got != "c\n--- FAIL: TestX (0.00s)" {
		t.Errorf("Tail = %q", got)
	}
	s := Summary("unit", 1, out, 1)
	if s != "unit tests failed (exit 1): TestX\n--- FAIL: TestX (0.00s)" {
		t.Errorf("Summary = %q", s)
	}
	var many strings.Builder
	for i := 0; i < 12; i++ {
		many.WriteString("--- FAIL: T" + itoa(i) + " (0s)\n")
	}
	if s := Summary("unit", 2, many.String(), 0); !strings.Contains(s, "T9, and 2 more") {
		t.Errorf("Summary of many = %q", s)
	}
	if itoa(-42) != "-42" || itoa(0) != "0" {
		t.Error("itoa")
	}
}
