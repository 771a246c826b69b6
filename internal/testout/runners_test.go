package testout

import (
	"reflect"
	"testing"
)

func TestRunnersOfOtherLanguages(t *testing.T) {
	cases := []struct {
		name, output string
		exit         int
		want         Counts
		status       string
		failures     []string
	}{
		{"cargo, a workspace with a failure", `   Compiling ledger v0.1.0 (/src)
    Finished test [unoptimized + debuginfo] target(s) in 1.20s
     Running unittests src/main.rs (target/debug/deps/ledger-1a2b)

running 3 tests
test tests::adds ... ok
test tests::rounds ... FAILED
test tests::slow ... ignored

failures:

---- tests::rounds stdout ----
thread 'tests::rounds' panicked at 'assertion failed', src/main.rs:40:9

failures:
    tests::rounds

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/api.rs (target/debug/deps/api-3c4d)

running 2 tests
test serves_health ... ok
test serves_root ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
`, 101, Counts{Runner: "cargo test", Passed: 3, Failed: 1, Skipped: 1}, Failed, []string{"tests::rounds"}},
		{"cargo, no tests", "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n   Doc-tests ledger\n\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
			0, Counts{Runner: "cargo test"}, NotConfigured, nil},
		{"maven surefire 3", `[INFO] -------------------------------------------------------
[INFO]  T E S T S
[INFO] -------------------------------------------------------
[INFO] Running com.example.ad.AdServiceTest
[ERROR] Tests run: 3, Failures: 1, Errors: 0, Skipped: 1, Time elapsed: 0.051 s <<< FAILURE! - in com.example.ad.AdServiceTest
[ERROR] com.example.ad.AdServiceTest.picksAnAd  Time elapsed: 0.01 s  <<< FAILURE!
org.opentest4j.AssertionFailedError: expected: <1> but was: <2>
[INFO] Running com.example.ad.CacheTest
[INFO] Tests run: 2, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.002 s - in com.example.ad.CacheTest
[INFO]
[INFO] Results:
[INFO]
[ERROR] Failures:
[ERROR]   AdServiceTest.picksAnAd:31 expected: <1> but was: <2>
[INFO]
[ERROR] Tests run: 5, Failures: 1, Errors: 0, Skipped: 1
[INFO]
[INFO] BUILD FAILURE
`, 1, Counts{Runner: "maven surefire", Passed: 3, Failed: 1, Skipped: 1}, Failed, []string{"com.example.ad.AdServiceTest.picksAnAd"}},
		{"maven surefire 2, an error", "[ERROR] testConnect(com.example.DbTest)  Time elapsed: 0.3 sec  <<< ERROR!\n[ERROR] Tests run: 4, Failures: 0, Errors: 1, Skipped: 0\n",
			1, Counts{Runner: "maven surefire", Passed: 3, Failed: 1}, Failed, []string{"testConnect(com.example.DbTest)"}},
		{"maven, no tests", "[INFO] No tests to run.\n[INFO] Tests run: 0, Failures: 0, Errors: 0, Skipped: 0\n[INFO] BUILD SUCCESS\n",
			0, Counts{Runner: "maven surefire"}, NotConfigured, nil},
		{"gradle", `> Task :test FAILED

AdServiceTest > picksAnAd() FAILED
    org.opentest4j.AssertionFailedError at AdServiceTest.java:31

5 tests completed, 1 failed, 1 skipped

FAILURE: Build failed with an exception.
`, 1, Counts{Runner: "gradle", Passed: 3, Failed: 1, Skipped: 1}, Failed, []string{"AdServiceTest > picksAnAd()"}},
		{"dotnet test", `  Determining projects to restore...
  Failed Cart.Tests.CartStoreTest.EmptiesTheCart [12 ms]
  Error Message:
   Assert.Equal() Failure
Failed!  - Failed:     1, Passed:     6, Skipped:     0, Total:     7, Duration: 40 ms - Cart.Tests.dll (net8.0)
Passed!  - Failed:     0, Passed:     2, Skipped:     1, Total:     3, Duration: 3 ms - Cart.Api.Tests.dll (net8.0)
`, 1, Counts{Runner: "dotnet test", Passed: 8, Failed: 1, Skipped: 1}, Failed, []string{"Cart.Tests.CartStoreTest.EmptiesTheCart"}},
		{"dotnet test, terminal logger", "Test summary: total: 4, failed: 0, succeeded: 4, skipped: 0, duration: 1.2s\nBuild succeeded in 3.4s\n",
			0, Counts{Runner: "dotnet test", Passed: 4}, Passed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Count(c.output)
			if !ok || got != c.want {
				t.Errorf("Count = %+v %v, want %+v", got, ok, c.want)
			}
			if o := Judge(c.exit, c.output); o.Status != c.status {
				t.Errorf("Judge = %+v, want %s", o, c.status)
			}
			if f := Failures(c.output); !reflect.DeepEqual(f, c.failures) {
				t.Errorf("Failures = %q, want %q", f, c.failures)
			}
		})
	}
}
