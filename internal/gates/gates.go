// Package gates holds the records that let an environment trust what
// happened upstream, and the promotion gates that read them:
//
//   - a verification record says that an environment's cluster ran an image
//     (or failed to): environment, service, digest, the GitOps commit and
//     the controller revision that applied it, when, and which run saw it;
//   - an approval says that someone allowed a digest into an environment.
//
// Both are in-toto predicates, signed and attached to the image as cosign
// attestations; the gates read only statements whose signatures verified.
package gates

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Predicate types of the records.
const (
	PredicateVerification = "https://slipway.dev/attestation/verification/v1"
	PredicateApproval     = "https://slipway.dev/attestation/approval/v1"
)

// Results of a verification.
const (
	Verified = "verified"
	Failed   = "failed"
)

// Verification is the predicate of a verification record.
type Verification struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	// Digest is the image (or index) digest the cluster was checked for.
	Digest string `json:"digest"`
	// Result is "verified" or "failed".
	Result string `json:"result"`
	// GitOpsCommit is the commit of the GitOps repository that was
	// expected to be applied.
	GitOpsCommit string `json:"gitopsCommit,omitempty"`
	// Controller and ControllerRevision: what applied it, e.g. "flux" and
	// "main@sha1:…".
	Controller         string `json:"controller"`
	ControllerRevision string `json:"controllerRevision,omitempty"`
	// Pods is how many ready pods ran exactly Digest.
	Pods int `json:"pods,omitempty"`
	// Reason and Message say why a verification failed.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Time is when the cluster was seen in that state.
	Time time.Time `json:"time"`
	// Run identifies the slipway run (e.g. a CI run URL).
	Run string `json:"run,omitempty"`
}

// Approval is the predicate of an approval.
type Approval struct {
	Environment string `json:"environment"`
	// Service is the approved service ("" approves the digest for any
	// service, which a digest identifies anyway).
	Service string    `json:"service,omitempty"`
	Digest  string    `json:"digest"`
	By      string    `json:"by,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
}

// Validate checks a verification record before it is signed.
func (v Verification) Validate() error {
	switch {
	case v.Environment == "" || v.Service == "":
		return errors.New("verification record: environment and service are required")
	case !strings.HasPrefix(v.Digest, "sha256:"):
		return fmt.Errorf("verification record: %q is not a sha256 digest", v.Digest)
	case v.Result != Verified && v.Result != Failed:
		return fmt.Errorf("verification record: result %q (want %s or %s)", v.Result, Verified, Failed)
	case v.Time.IsZero():
		return errors.New("verification record: no time")
	}
	return nil
}

// Validate checks an approval before it is signed.
func (a Approval) Validate() error {
	switch {
	case a.Environment == "":
		return errors.New("approval: environment is required")
	case !strings.HasPrefix(a.Digest, "sha256:") || len(a.Digest) != len("sha256:")+64:
		return fmt.Errorf("approval: %q is not a full sha256 digest", a.Digest)
	case a.Time.IsZero():
		return errors.New("approval: no time")
	}
	return nil
}

// Verifications decodes verification predicates (of statements whose
// signatures verified) and keeps those about digest and service (any
// service when ""), oldest first. A predicate naming another digest is dropped: the statement's
// subject is the image, and a record copied onto another image must not
// count there.
func Verifications(predicates []json.RawMessage, service, digest string) []Verification {
	var out []Verification
	for _, p := range predicates {
		var v Verification
		if json.Unmarshal(p, &v) != nil || v.Validate() != nil {
			continue
		}
		if v.Digest != digest || service != "" && v.Service != service {
			continue
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Approvals decodes approval predicates and keeps those for env, digest and
// service (or any service).
func Approvals(predicates []json.RawMessage, env, service, digest string) []Approval {
	var out []Approval
	for _, p := range predicates {
		var a Approval
		if json.Unmarshal(p, &a) != nil || a.Validate() != nil {
			continue
		}
		if a.Environment != env || a.Digest != digest || (a.Service != "" && a.Service != service) {
			continue
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Latest returns the newest record for env.
func Latest(recs []Verification, env string) (Verification, bool) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Environment == env {
			return recs[i], true
		}
	}
	return Verification{}, false
}

// SoakStart is when the image's current healthy stretch in env began: the
// first "verified" record after the last "failed" one. ok is false when the
// newest record is a failure or there is none.
func SoakStart(recs []Verification, env string) (time.Time, bool) {
	var start time.Time
	for _, r := range recs {
		if r.Environment != env {
			continue
		}
		switch r.Result {
		case Failed:
			start = time.Time{}
		case Verified:
			if start.IsZero() {
				start = r.Time
			}
		}
	}
	return start, !start.IsZero()
}

// ErrGate marks a refusal by a promotion gate.
var ErrGate = errors.New("promotion gate")

// CheckVerifiedIn requires that the newest record of each of envs says
// verified.
func CheckVerifiedIn(recs []Verification, envs []string, now time.Time) error {
	for _, env := range envs {
		r, ok := Latest(recs, env)
		switch {
		case !ok:
			return fmt.Errorf("%w: requireVerifiedIn: never verified in %s (run `verify --env %s` once it runs there)", ErrGate, env, env)
		case r.Result != Verified:
			return fmt.Errorf("%w: requireVerifiedIn: its last verification in %s failed %s (%s: %s)", ErrGate, env, Ago(r.Time, now), r.Reason, r.Message)
		}
	}
	return nil
}

// CheckSoak requires that the image has run verified in env for at least
// min, and says when it will pass when it has not.
func CheckSoak(recs []Verification, env string, min time.Duration, now time.Time) error {
	if min <= 0 {
		return nil
	}
	start, ok := SoakStart(recs, env)
	if !ok {
		if r, found := Latest(recs, env); found && r.Result == Failed {
			return fmt.Errorf("%w: minSoak %s: its last verification in %s failed %s (%s); it soaks again from its next successful verification", ErrGate, Human(min), env, Ago(r.Time, now), r.Reason)
		}
		return fmt.Errorf("%w: minSoak %s: never verified in %s, so it has not started soaking (run `verify --env %s`)", ErrGate, Human(min), env, env)
	}
	soaked := now.Sub(start)
	if soaked < min {
		return fmt.Errorf("%w: minSoak: soaked %s of %s in %s (verified there at %s): passes at %s", ErrGate,
			Human(soaked), Human(min), env, start.UTC().Format("15:04 UTC"), start.Add(min).UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return nil
}

// CheckApproval requires at least one approval.
func CheckApproval(approvals []Approval, env string, rejected []string) error {
	if len(approvals) > 0 {
		return nil
	}
	msg := fmt.Sprintf("%v: requireApproval: no approval for %s by an accepted approver (environments[%s].approvers); approve with `dagger call approve --env %s --digest <digest>`", ErrGate, env, env, env)
	if len(rejected) > 0 {
		msg += "; not accepted: " + strings.Join(rejected, "; ")
	}
	return errors.New(msg)
}

// Ago renders how long before now t was: "3h12m ago".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return Human(now.Sub(t)) + " ago"
}

// Human renders a duration for people: 47m, 2h, 3h12m, 2d4h, 12s.
func Human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d.Hours())/24, int(d.Hours())%24
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// Describe is one line about the newest verification in env, for reports
// and `images`: "verified in staging 3h ago", "failed in staging 5m ago
// (CrashLoopBackOff)".
func Describe(recs []Verification, env string, now time.Time) string {
	r, ok := Latest(recs, env)
	if !ok {
		return ""
	}
	if r.Result == Verified {
		return fmt.Sprintf("verified in %s %s", env, Ago(r.Time, now))
	}
	s := fmt.Sprintf("failed in %s %s", env, Ago(r.Time, now))
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

// DescribeAll is Describe for every environment with a record, in the
// order they were first verified.
func DescribeAll(recs []Verification, now time.Time) []string {
	var envs []string
	seen := map[string]bool{}
	for _, r := range recs {
		if !seen[r.Environment] {
			seen[r.Environment] = true
			envs = append(envs, r.Environment)
		}
	}
	out := make([]string, 0, len(envs))
	for _, e := range envs {
		out = append(out, Describe(recs, e, now))
	}
	return out
}
