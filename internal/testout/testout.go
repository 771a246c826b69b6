// Package testout reads the output of a test run: which tests failed, and
// the last lines worth showing, so that a failure report names the test
// instead of pasting a wall of log.
package testout

import (
	"regexp"
	"strings"
)

var patterns = []*regexp.Regexp{
	regexp.MustCompile(`^\s*--- FAIL: (\S+)`),                // go test
	regexp.MustCompile(`^(?:FAIL|ERROR): (\S+ \([^)]*\))`),   // unittest
	regexp.MustCompile(`^(?:FAILED) (\S+::\S+)`),             // pytest -rf summary
	regexp.MustCompile(`^\s*not ok \d+ - (.+?)(?:\s+#.*)?$`), // node --test (TAP)
	regexp.MustCompile(`^\s*✖ (.+?) \(\d+(?:\.\d+)?m?s\)$`),  // node --test spec reporter
	regexp.MustCompile(`^FAIL\s+(\S+)\s+\d+(?:\.\d+)?s$`),    // go test package line
	regexp.MustCompile(`^test (\S+) \.\.\. FAILED$`),         // cargo test
	// Maven Surefire 3 ("Class.method  Time elapsed … <<< FAILURE!") and 2
	// ("method(Class)  Time elapsed …").
	regexp.MustCompile(`^\[ERROR\] (\S+(?:\([^)]*\))?)\s+Time elapsed: .*<<< (?:FAILURE|ERROR)!`),
	regexp.MustCompile(`^(\S.*? > .+?) FAILED$`),       // gradle
	regexp.MustCompile(`^\s*Failed (\S+) \[[^\]]*\]$`), // dotnet test
}

// Failures returns the names of the failed tests found in output, in order,
// without duplicates. It understands go test, Python unittest and pytest,
// node --test (TAP and spec reporters), cargo test, Maven Surefire, Gradle
// and dotnet test.
func Failures(output string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		for _, p := range patterns {
			if m := p.FindStringSubmatch(line); m != nil {
				name := strings.TrimSpace(m[1])
				if !seen[name] {
					seen[name] = true
					out = append(out, name)
				}
				break
			}
		}
	}
	return out
}

// Tail returns the last n non-empty lines of output.
func Tail(output string, n int) string {
	lines := strings.Split(strings.TrimRight(output, "\n"), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			kept = append(kept, lines[i])
		}
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	return strings.Join(kept, "\n")
}

// Summary is a one-paragraph account of a failed test run: the failed test
// names when they can be found, then the tail of the output.
func Summary(kind string, exit int, output string, tailLines int) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteString(" tests failed (exit ")
	b.WriteString(itoa(exit))
	b.WriteString(")")
	if f := Failures(output); len(f) > 0 {
		b.WriteString(": ")
		if len(f) > 10 {
			b.WriteString(strings.Join(f[:10], ", "))
			b.WriteString(", and " + itoa(len(f)-10) + " more")
		} else {
			b.WriteString(strings.Join(f, ", "))
		}
	}
	if t := Tail(output, tailLines); t != "" {
		b.WriteString("\n")
		b.WriteString(t)
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var d []byte
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	if neg {
		d = append([]byte{'-'}, d...)
	}
	return string(d)
}
