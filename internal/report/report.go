// Package report is the run report: what a pipeline run did to every
// service, rendered as JSON (for machines), Markdown (for people and the
// GitHub job summary) and a short terminal summary.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Status of one service in a run.
type Status string

// The statuses a service can end a run in.
const (
	// Built: tested, built and published in this run.
	Built Status = "built"
	// Reused: an image built from the same inputs already existed and was
	// tagged for this commit; nothing was rebuilt or retested.
	Reused Status = "reused"
	// Skipped: not selected, or not affected and not needed.
	Skipped Status = "skipped"
	// Failed: the run stopped for this service; nothing of it was published.
	Failed Status = "failed"
	// Promoted: copied to the target environment (promotion runs).
	Promoted Status = "promoted"
	// Unchanged: the environment already runs this digest.
	Unchanged Status = "unchanged"
	// Refused: promotion refused (unverifiable, denylisted, pinned, ...).
	Refused Status = "refused"
	// Pruned: deleted from the registry by prune (in a dry run: would be).
	Pruned Status = "pruned"
	// Kept: left in the registry by prune; Reason says why.
	Kept Status = "kept"
	// Approved: approve signed an approval of the image.
	Approved Status = "approved"
)

// Kind is the kind of run a report describes.
type Kind string

// The kinds of run.
const (
	CI       Kind = "ci"
	Deploy   Kind = "deploy"
	Promote  Kind = "promote"
	Rollback Kind = "rollback"
	Pin      Kind = "pin"
	Unpin    Kind = "unpin"
	Reject   Kind = "reject"
	Prune    Kind = "prune"
	Verify   Kind = "verify"
	Approve  Kind = "approve"
)

// Kinds are the kinds of run, in the order they are listed to people.
var Kinds = []Kind{CI, Deploy, Promote, Rollback, Pin, Unpin, Reject, Prune, Verify, Approve}

// ParseKind returns the kind named s, or an error listing the kinds.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("kind %q is not one of %s", s, strings.Join(names, ", "))
}

// Report is one run.
type Report struct {
	// Kind of run.
	Kind     Kind      `json:"kind"`
	Project  string    `json:"project"`
	Commit   string    `json:"commit,omitempty"`
	Branch   string    `json:"branch,omitempty"`
	Registry string    `json:"registry,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// DryRun is set when nothing was written.
	DryRun      bool         `json:"dryRun,omitempty"`
	Services    []Service    `json:"services"`
	Deployments []Deployment `json:"deployments,omitempty"`
	// Verifications say whether each environment's cluster runs what was
	// deployed (verify, --verify).
	Verifications []Verification `json:"verifications,omitempty"`
	// Notes are warnings a person should read (e.g. images are unsigned).
	Notes []string `json:"notes,omitempty"`
	// Error is a failure of the run as a whole rather than of one service
	// or environment (e.g. the GitOps layout lacks an overlay).
	Error string `json:"error,omitempty"`
}

// Service is what happened to one service.
type Service struct {
	Name        string   `json:"name"`
	Status      Status   `json:"status"`
	Repository  string   `json:"repository,omitempty"`
	Digest      string   `json:"digest,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	InputDigest string   `json:"inputDigest,omitempty"`
	// Stage where the service failed or was refused (test, build, smoke,
	// scan, publish, sign, verify, deploy, ...).
	Stage string `json:"stage,omitempty"`
	// Error explains a failure or a refusal.
	Error string `json:"error,omitempty"`
	// Reason says why prune kept or deleted the image.
	Reason string `json:"reason,omitempty"`
	// Tests: "passed", "failed", "not configured" (no command, or one that
	// ran no test), "skipped" (test.skip, or the unit tests failed first),
	// "not run (unchanged)" for a reused image. Smoke: "passed", "failed", "skipped".
	UnitTests        string `json:"unitTests,omitempty"`
	IntegrationTests string `json:"integrationTests,omitempty"`
	Smoke            string `json:"smoke,omitempty"`
	// Signature is the reference of the cosign signature, "" when unsigned.
	Signature    string   `json:"signature,omitempty"`
	Attestations []string `json:"attestations,omitempty"`
	// Vulnerabilities counts findings by severity.
	Vulnerabilities map[string]int `json:"vulnerabilities,omitempty"`
	// Scan says whether and how the image was scanned for vulnerabilities
	// ("scanned under dev's policy; vulnerability database: …", or "not
	// scanned: …" with the reason).
	Scan string `json:"scan,omitempty"`
	// Blocked lists the findings that failed the gate.
	Blocked   []string `json:"blocked,omitempty"`
	SizeBytes int64    `json:"sizeBytes,omitempty"`
	// Moved is set when the commit's tag was moved from another digest to
	// this one (only with --force).
	Moved *TagMove `json:"moved,omitempty"`
	// Durations of each stage, in order of execution.
	Durations []Timing `json:"durations,omitempty"`
	// Platforms are the images of a multi-platform index (Digest is the
	// index's), in the order they were asked for.
	Platforms []PlatformImage `json:"platforms,omitempty"`
	// TestPlatform is the platform the tests of a multi-platform image ran
	// on, once, natively (the engine's).
	TestPlatform string `json:"testPlatform,omitempty"`
}

// PlatformImage is one platform's image of a multi-platform index.
type PlatformImage struct {
	Platform  string `json:"platform"`
	Digest    string `json:"digest,omitempty"`
	SizeBytes int64  `json:"sizeBytes,omitempty"`
	// Emulated says the platform's build steps ran under QEMU (it is not
	// the engine's, and the Dockerfile runs commands on it).
	Emulated bool `json:"emulated,omitempty"`
	// Signature is the reference of the platform image's own signature.
	Signature string `json:"signature,omitempty"`
	// Check is what the architecture check found the image starts.
	Check string `json:"check,omitempty"`
}

// TagMove is a tag that was moved from one digest to another.
type TagMove struct {
	Tag  string `json:"tag"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Timing is how long one stage took.
type Timing struct {
	Stage   string        `json:"stage"`
	Elapsed time.Duration `json:"elapsedNs"`
}

// Deployment is one GitOps change.
type Deployment struct {
	Environment string   `json:"environment"`
	Services    []string `json:"services"`
	Changed     bool     `json:"changed"`
	Commit      string   `json:"commit,omitempty"`
	Branch      string   `json:"branch,omitempty"`
	PullRequest string   `json:"pullRequest,omitempty"`
	// PullRequestState is the pull request's state after the run: "open",
	// "closed" (the environment already ran its images) or "branch only"
	// (a repository with no forge: the branch was pushed, nothing opened).
	PullRequestState string `json:"pullRequestState,omitempty"`
	Repository       string `json:"repository,omitempty"`
	Diff             string `json:"diff,omitempty"`
	Error            string `json:"error,omitempty"`
	// Held lists the services left as they were because the slipway state
	// holds them back (pinned to another digest, or denylisted), with why.
	Held map[string]string `json:"held,omitempty"`
}

// OK reports whether nothing failed or was refused.
func (r *Report) OK() bool {
	if r.Error != "" {
		return false
	}
	for _, s := range r.Services {
		if s.Status == Failed || s.Status == Refused {
			return false
		}
	}
	for _, d := range r.Deployments {
		if d.Error != "" {
			return false
		}
	}
	for _, v := range r.Verifications {
		if !v.Verified {
			return false
		}
	}
	return true
}

// Count returns how many services ended in status st.
func (r *Report) Count(st Status) int {
	n := 0
	for _, s := range r.Services {
		if s.Status == st {
			n++
		}
	}
	return n
}

// Sort orders services by name and deployments by environment order as given.
func (r *Report) Sort() {
	sort.SliceStable(r.Services, func(i, j int) bool { return r.Services[i].Name < r.Services[j].Name })
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a report rendered by JSON.
func Parse(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading the report: %w", err)
	}
	return &r, nil
}

// AppendStepSummary appends the Markdown report to the file named by
// $GITHUB_STEP_SUMMARY, when that is set (GitHub Actions). It returns
// whether a summary was written.
func (r *Report) AppendStepSummary() (bool, error) {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return false, fmt.Errorf("opening GITHUB_STEP_SUMMARY: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(r.Markdown()); err != nil {
		return false, fmt.Errorf("writing GITHUB_STEP_SUMMARY: %w", err)
	}
	return true, nil
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		return "sha256:" + h[:12]
	}
	return d
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// HumanBytes renders a size as "5.2 MB".
func HumanBytes(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// SeverityOrder is the order in which severities are shown.
var SeverityOrder = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

func vulnSummary(v map[string]int) string {
	if v == nil {
		return "-"
	}
	var parts []string
	for _, s := range SeverityOrder {
		if n := v[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", strings.ToLower(s[:1])+strings.ToLower(s[1:]), n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func total(ts []Timing) time.Duration {
	var d time.Duration
	for _, t := range ts {
		d += t.Elapsed
	}
	return d
}

func round(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// AddCounts is the sum of two vulnerability counts by severity (the
// platform images of one index); neither is changed.
func AddCounts(a, b map[string]int) map[string]int {
	sum := make(map[string]int, len(a)+len(b))
	for k, v := range a {
		sum[k] += v
	}
	for k, v := range b {
		sum[k] += v
	}
	return sum
}
