package verify

import (
	"fmt"
	"strings"
	"time"
)

// Summary renders the result for people. A verified environment is one
// line:
//
//	staging: verified in 14s (flux main@sha1:abc1234): orders ✓ 2 pods at sha256:abcd…, catalog ✓ 1 pod at sha256:0123…
//
// otherwise a header line and a line per service (and one for a failing
// controller), with the failing container's log indented below:
//
//	staging: NOT verified after 1m0s (flux main@sha1:abc1234)
//	  orders ✗ CrashLoopBackOff: Deployment shop-staging/orders: 0 of 2 updated pods ready; pod orders-xyz container orders waiting CrashLoopBackOff (restarted 3 times)
//	    log: panic: missing DATABASE_URL
//	  catalog ✓ 1 pod at sha256:0123…
func (r Result) Summary() string {
	took := roundDuration(r.Finished.Sub(r.Started))
	ctrl := ""
	if r.Controller != "" && r.Controller != "none" {
		rev := shortRevision(r.ControllerRevision)
		if rev == "" && r.Reason != "" {
			rev = "nothing applied yet"
		}
		if rev != "" {
			ctrl = fmt.Sprintf(" (%s %s)", r.Controller, rev)
		}
	}
	if r.Verified {
		var parts []string
		for _, s := range r.Services {
			parts = append(parts, s.Name+" ✓ "+s.okText())
		}
		return fmt.Sprintf("%s: verified in %s%s: %s", r.Env, took, ctrl, strings.Join(parts, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: NOT verified after %s%s", r.Env, took, ctrl)
	if r.Reason != "" {
		fmt.Fprintf(&b, "\n  %s ✗ %s: %s", r.Controller, r.Reason, r.Message)
	}
	for _, s := range r.Services {
		if s.Verified {
			fmt.Fprintf(&b, "\n  %s ✓ %s", s.Name, s.okText())
			continue
		}
		fmt.Fprintf(&b, "\n  %s ✗ %s: %s", s.Name, s.Reason, s.Message)
		if s.Log != "" {
			for i, line := range strings.Split(s.Log, "\n") {
				prefix := "\n         "
				if i == 0 {
					prefix = "\n    log: "
				}
				b.WriteString(prefix + line)
			}
		}
	}
	return b.String()
}

func (s ServiceResult) okText() string {
	return fmt.Sprintf("%s at %s", plural(s.Pods, "pod"), shortDigest(s.Digest))
}

// shortRevision abbreviates the commits of controller revisions:
// "main@sha1:abc1234", several joined by ", ".
func shortRevision(rev string) string {
	var out []string
	for _, r := range strings.Split(rev, ", ") {
		if r == "" {
			continue
		}
		c := revisionCommit(r)
		if len(c) > 7 && commitRE.MatchString(c) {
			r = strings.TrimSuffix(r, c) + c[:7]
		}
		out = append(out, r)
	}
	return strings.Join(out, ", ")
}

// roundDuration rounds for reading: hundredths of a second under 1s,
// tenths under 10s, whole seconds above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
