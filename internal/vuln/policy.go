package vuln

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
)

// Decision is the outcome of the vulnerability gate for one image in one
// environment.
type Decision struct {
	// Pass is true when nothing blocks: no finding at or above the
	// threshold (that is fixable, under fixableOnly) is left unignored, and,
	// under a strict policy, no ignore entry is stale.
	Pass bool `json:"pass"`
	// Policy is the policy applied, with FailOn upper-cased.
	Policy config.Policy `json:"policy"`
	// Counts counts every finding by severity, ignored ones included;
	// severities without findings are absent.
	Counts map[Severity]int `json:"counts"`
	// Total is the number of findings.
	Total int `json:"total"`
	// Blocked are the findings that fail the gate, most severe first.
	Blocked []Finding `json:"blocked"`
	// Ignored are the findings an unexpired ignore entry let through.
	Ignored []IgnoredFinding `json:"ignored,omitempty"`
	// Expired are the ignore entries past their date: they no longer apply.
	Expired []IgnoreEntry `json:"expired,omitempty"`
	// Stale are the unexpired ignore entries that match no finding.
	Stale []IgnoreEntry `json:"stale,omitempty"`
	// Reasons say, one line each, why the gate failed; empty when it passed.
	Reasons []string `json:"reasons,omitempty"`
}

// IgnoredFinding is a finding and the ignore entry that let it through.
type IgnoredFinding struct {
	Finding Finding     `json:"finding"`
	Entry   IgnoreEntry `json:"entry"`
}

// failOnRank returns the rank of the lowest blocking severity, 0 for NONE
// (nothing blocks), and false for a value that is not a severity.
func failOnRank(failOn string) (int, bool) {
	switch strings.ToUpper(strings.TrimSpace(failOn)) {
	case "NONE":
		return 0, true
	case "", string(Critical):
		return Critical.Rank(), true
	case string(High):
		return High.Rank(), true
	case string(Medium):
		return Medium.Rank(), true
	case string(Low):
		return Low.Rank(), true
	}
	return 0, false
}

// Evaluate applies policy and ignores to findings at time now.
//
// A finding blocks when its severity is at or above policy.FailOn (NONE:
// nothing blocks; UNKNOWN never reaches a threshold), it has a fixed version
// or policy.FixableOnly is off, and no unexpired ignore entry matches it
// (by ID or alias, and package when the entry names one). Expired entries
// are not applied and are listed in Decision.Expired. Unexpired entries
// that match no finding at all are listed in Decision.Stale and fail the
// gate when policy.Strict. An empty FailOn means CRITICAL; a FailOn that is
// not a severity fails the gate.
func Evaluate(findings []Finding, policy config.Policy, ignores IgnoreList, now time.Time) Decision {
	policy.FailOn = strings.ToUpper(strings.TrimSpace(policy.FailOn))
	if policy.FailOn == "" {
		policy.FailOn = string(Critical)
	}
	d := Decision{Policy: policy, Counts: map[Severity]int{}, Blocked: []Finding{}}
	threshold, valid := failOnRank(policy.FailOn)
	if !valid {
		d.Reasons = append(d.Reasons, fmt.Sprintf("policy failOn %q is not a severity (one of %s)", policy.FailOn, strings.Join(config.Severities, ", ")))
	}

	var active IgnoreList
	for _, e := range ignores {
		if e.Expired(now) {
			d.Expired = append(d.Expired, e)
		} else {
			active = append(active, e)
		}
	}
	used := make([]bool, len(active))

	for _, f := range sortFindings(findings) {
		d.Total++
		d.Counts[f.Severity]++
		var by *IgnoreEntry
		for i := range active {
			if active[i].Matches(f) {
				used[i] = true
				if by == nil {
					by = &active[i]
				}
			}
		}
		if by != nil {
			d.Ignored = append(d.Ignored, IgnoredFinding{Finding: f, Entry: *by})
			continue
		}
		if threshold == 0 || f.Severity.Rank() < threshold {
			continue
		}
		if policy.FixableOnly && !f.Fixable() {
			continue
		}
		d.Blocked = append(d.Blocked, f)
	}
	for i, e := range active {
		if !used[i] {
			d.Stale = append(d.Stale, e)
		}
	}

	if len(d.Blocked) > 0 {
		what := fmt.Sprintf("%d finding(s) at or above %s", len(d.Blocked), policy.FailOn)
		if policy.FixableOnly {
			what += " with a fix available"
		}
		d.Reasons = append(d.Reasons, what+": "+strings.Join(d.BlockingIDs(), ", "))
	}
	if policy.Strict {
		for _, e := range d.Stale {
			d.Reasons = append(d.Reasons, fmt.Sprintf("stale ignore entry %s at %s matches no finding (the policy is strict: remove it)", e.ID, e.Where()))
		}
	}
	d.Pass = len(d.Reasons) == 0
	return d
}

// BlockingIDs lists the IDs of the blocking findings, each once, most
// severe first.
func (d Decision) BlockingIDs() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range d.Blocked {
		if !seen[f.ID] {
			seen[f.ID] = true
			out = append(out, f.ID)
		}
	}
	return out
}

// CountsByName returns Counts keyed by plain strings (the run report's
// shape).
func (d Decision) CountsByName() map[string]int {
	out := make(map[string]int, len(d.Counts))
	for s, n := range d.Counts {
		out[string(s)] = n
	}
	return out
}

// CountsLine is "2 CRITICAL, 1 HIGH, 4 LOW" (most severe first), or "no
// findings".
func (d Decision) CountsLine() string {
	var parts []string
	for _, s := range Severities {
		if n := d.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

// Summary is the decision for a person: the verdict, the counts, what
// blocked and why, what was ignored (with the reason and the expiry), and
// which ignore entries have expired or are stale. subject names the image
// or service, env the environment.
func (d Decision) Summary(subject, env string) string {
	var b strings.Builder
	verdict := "PASS"
	if !d.Pass {
		verdict = "FAIL"
	}
	rule := "failOn " + d.Policy.FailOn
	if d.Policy.FixableOnly {
		rule += ", fixable only"
	}
	if d.Policy.Strict {
		rule += ", strict"
	}
	fmt.Fprintf(&b, "vulnerability gate %s: %s in %s (%s): %s\n", verdict, subject, env, rule, d.CountsLine())
	for _, f := range d.Blocked {
		fix := "no fix available"
		if f.Fixable() {
			fix = "fixed in " + f.Fixed
		}
		fmt.Fprintf(&b, "  blocked: %s %s in %s %s (%s)", f.Severity, f.ID, f.Package, f.Installed, fix)
		if f.Source != "" {
			fmt.Fprintf(&b, " at %s", f.Source)
		}
		b.WriteString("\n")
	}
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "  reason: %s\n", r)
	}
	for _, i := range d.Ignored {
		fmt.Fprintf(&b, "  ignored: %s %s in %s until %s (%s: %s)\n", i.Finding.Severity, i.Finding.ID, i.Finding.Package, i.Entry.Expires, i.Entry.Where(), i.Entry.Reason)
	}
	for _, e := range d.Expired {
		fmt.Fprintf(&b, "  expired ignore: %s at %s expired after %s and no longer applies\n", e.ID, e.Where(), e.Expires)
	}
	for _, e := range d.Stale {
		fmt.Fprintf(&b, "  stale ignore: %s at %s matches no finding\n", e.ID, e.Where())
	}
	return b.String()
}
