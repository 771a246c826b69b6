package report

import (
	"fmt"
	"strings"
)

var statusIcon = map[Status]string{
	Built: "✅", Reused: "♻️", Skipped: "⏭️", Failed: "❌", Promoted: "🚀", Unchanged: "⏸️", Refused: "⛔",
	Pruned: "🗑️", Kept: "📌", Approved: "✍️",
}

// Markdown renders the report for people: a headline, one table row per
// service, the GitOps changes with their diffs folded, and the notes.
func (r *Report) Markdown() string {
	var b strings.Builder
	verdict := "succeeded"
	if !r.OK() {
		verdict = "failed"
	}
	title := fmt.Sprintf("slipway %s %s", r.Kind, verdict)
	if r.DryRun {
		title += " (dry run: nothing was written)"
	}
	fmt.Fprintf(&b, "## %s\n\n", title)
	var meta []string
	if r.Project != "" {
		meta = append(meta, "project `"+r.Project+"`")
	}
	if r.Commit != "" {
		meta = append(meta, "commit `"+short(r.Commit)+"`")
	}
	if r.Branch != "" {
		meta = append(meta, "branch `"+r.Branch+"`")
	}
	if r.Registry != "" {
		meta = append(meta, "registry `"+r.Registry+"`")
	}
	if !r.Finished.IsZero() && !r.Started.IsZero() {
		meta = append(meta, "took "+round(r.Finished.Sub(r.Started)))
	}
	if len(meta) > 0 {
		b.WriteString(strings.Join(meta, " · ") + "\n\n")
	}
	counts := []string{}
	for _, st := range []Status{Built, Reused, Promoted, Unchanged, Pruned, Kept, Approved, Skipped, Refused, Failed} {
		if n := r.Count(st); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(counts) > 0 {
		b.WriteString("**" + strings.Join(counts, ", ") + "**\n\n")
	}
	if r.Kind == Prune && len(r.Services) > 0 {
		b.WriteString("| service | status | digest | tags | why |\n|---|---|---|---|---|\n")
		for _, s := range r.Services {
			fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s |\n", s.Name, statusIcon[s.Status], s.Status,
				code(shortDigest(s.Digest)), dash(strings.Join(s.Tags, ", ")), dash(s.Reason))
		}
		b.WriteString("\n")
	} else if len(r.Services) > 0 {
		b.WriteString("| service | status | digest | tests | smoke | signed | vulnerabilities | size | time |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Services {
			tests := s.UnitTests
			if s.IntegrationTests != "" {
				tests += " / " + s.IntegrationTests
			}
			signed := "no"
			if s.Signature != "" {
				signed = "yes"
				if len(s.Attestations) > 0 {
					signed += fmt.Sprintf(" (+%d attestation%s)", len(s.Attestations), plural(len(s.Attestations)))
				}
			}
			if s.Status == Skipped || s.Status == Failed && s.Digest == "" {
				signed = "-"
			}
			size := HumanBytes(s.SizeBytes)
			if len(s.Platforms) > 0 {
				size = PlatformSummary(s.Platforms)
			}
			fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s | %s | %s | %s |\n",
				s.Name, statusIcon[s.Status], s.Status, code(shortDigest(s.Digest)), dash(tests), dash(s.Smoke), signed,
				vulnCell(s), size, round(total(s.Durations)))
		}
		b.WriteString("\n")
	}
	for _, s := range r.Services {
		if s.Error == "" {
			continue
		}
		fmt.Fprintf(&b, "<details open><summary>❌ <b>%s</b> %s at <code>%s</code></summary>\n\n```\n%s\n```\n", s.Name, s.Status, s.Stage, strings.TrimSpace(s.Error))
		if len(s.Blocked) > 0 {
			b.WriteString("\nBlocked by: " + strings.Join(s.Blocked, ", ") + "\n")
		}
		b.WriteString("</details>\n\n")
	}
	published := false
	for _, s := range r.Services {
		if s.Digest != "" && (s.Status == Built || s.Status == Reused || s.Status == Promoted || s.Status == Unchanged) {
			if !published {
				b.WriteString("### Images\n\n")
				published = true
			}
			fmt.Fprintf(&b, "- **%s** `%s@%s`", s.Name, s.Repository, s.Digest)
			if len(s.Tags) > 0 {
				fmt.Fprintf(&b, " tags: `%s`", strings.Join(s.Tags, "`, `"))
			}
			b.WriteString("\n")
			if s.Signature != "" {
				fmt.Fprintf(&b, "  - signature `%s`\n", s.Signature)
			}
			for _, a := range s.Attestations {
				fmt.Fprintf(&b, "  - attestation %s\n", a)
			}
		}
	}
	if published {
		b.WriteString("\n")
	}
	if len(r.Deployments) > 0 {
		b.WriteString("### GitOps\n\n")
		for _, d := range r.Deployments {
			switch {
			case d.Error != "":
				fmt.Fprintf(&b, "- ❌ **%s**: %s\n", d.Environment, d.Error)
			case !d.Changed && d.PullRequestState == "closed":
				fmt.Fprintf(&b, "- **%s**: already up to date; its pull request %s was closed\n", d.Environment, d.PullRequest)
			case !d.Changed:
				fmt.Fprintf(&b, "- **%s**: already up to date (no commit)\n", d.Environment)
			case d.PullRequestState == "branch only":
				fmt.Fprintf(&b, "- **%s**: branch `%s` pushed for %s (no pull request: the repository has no forge)\n", d.Environment, d.Branch, strings.Join(d.Services, ", "))
			case d.PullRequest != "":
				fmt.Fprintf(&b, "- **%s**: pull request %s (branch `%s`) for %s\n", d.Environment, d.PullRequest, d.Branch, strings.Join(d.Services, ", "))
			case r.DryRun:
				fmt.Fprintf(&b, "- **%s**: would update %s\n", d.Environment, strings.Join(d.Services, ", "))
			default:
				fmt.Fprintf(&b, "- **%s**: commit `%s` updates %s\n", d.Environment, short(d.Commit), strings.Join(d.Services, ", "))
			}
			if d.Diff != "" {
				fmt.Fprintf(&b, "\n<details><summary>diff for %s</summary>\n\n```diff\n%s\n```\n</details>\n\n", d.Environment, strings.TrimRight(d.Diff, "\n"))
			}
		}
		b.WriteString("\n")
	}
	r.verificationMarkdown(&b)
	if r.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", r.Error)
	}
	if len(r.Notes) > 0 {
		b.WriteString("### Notes\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func code(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + s + "`"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Text renders a compact plain-text summary for terminals and CI logs.
func (r *Report) Text() string {
	var b strings.Builder
	verdict := "OK"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "slipway %s %s", r.Kind, verdict)
	if r.DryRun {
		b.WriteString(" (dry run)")
	}
	if r.Commit != "" {
		fmt.Fprintf(&b, "  commit %s", short(r.Commit))
	}
	if !r.Finished.IsZero() && !r.Started.IsZero() {
		fmt.Fprintf(&b, "  in %s", round(r.Finished.Sub(r.Started)))
	}
	b.WriteString("\n")
	w := 7
	for _, s := range r.Services {
		if len(s.Name) > w {
			w = len(s.Name)
		}
	}
	for _, s := range r.Services {
		line := fmt.Sprintf("  %-*s  %-9s", w, s.Name, s.Status)
		if s.Digest != "" {
			line += "  " + shortDigest(s.Digest)
		}
		if s.Signature != "" {
			line += "  signed"
		} else if s.Digest != "" && s.Status != Skipped && r.Kind != Prune {
			line += "  unsigned"
		}
		if s.Vulnerabilities != nil {
			line += "  vulns: " + vulnSummary(s.Vulnerabilities)
		} else if strings.HasPrefix(s.Scan, "not scanned") {
			line += "  not scanned"
		}
		if s.Reason != "" {
			line += "  " + s.Reason
		}
		if s.Error != "" {
			first := strings.SplitN(strings.TrimSpace(s.Error), "\n", 2)[0]
			line += fmt.Sprintf("  [%s] %s", s.Stage, first)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
		if len(s.Platforms) > 0 {
			line := "  " + strings.Repeat(" ", w) + "  platforms: " + PlatformSummary(s.Platforms)
			if s.TestPlatform != "" {
				line += "; tests ran on " + s.TestPlatform
			}
			b.WriteString(line + "\n")
		}
	}
	for _, d := range r.Deployments {
		switch {
		case d.Error != "":
			fmt.Fprintf(&b, "  gitops %s: FAILED %s\n", d.Environment, d.Error)
		case !d.Changed && d.PullRequestState == "closed":
			fmt.Fprintf(&b, "  gitops %s: up to date, closed pull request %s\n", d.Environment, d.PullRequest)
		case !d.Changed:
			fmt.Fprintf(&b, "  gitops %s: up to date, no commit\n", d.Environment)
		case d.PullRequestState == "branch only":
			fmt.Fprintf(&b, "  gitops %s: branch %s pushed (no pull request: the repository has no forge)\n", d.Environment, d.Branch)
		case d.PullRequest != "":
			fmt.Fprintf(&b, "  gitops %s: pull request %s\n", d.Environment, d.PullRequest)
		case r.DryRun:
			fmt.Fprintf(&b, "  gitops %s: would update %s\n", d.Environment, strings.Join(d.Services, ", "))
		default:
			fmt.Fprintf(&b, "  gitops %s: commit %s (%s)\n", d.Environment, short(d.Commit), strings.Join(d.Services, ", "))
		}
	}
	if r.Error != "" {
		b.WriteString("  error: " + r.Error + "\n")
	}
	r.verificationText(&b)
	for _, n := range r.Notes {
		b.WriteString("  note: " + n + "\n")
	}
	return b.String()
}

// vulnCell is the vulnerabilities cell of a service: the counts, or "not
// scanned".
func vulnCell(s Service) string {
	if s.Vulnerabilities == nil && strings.HasPrefix(s.Scan, "not scanned") {
		return "not scanned"
	}
	return vulnSummary(s.Vulnerabilities)
}

// Diffs renders the GitOps diffs of the report's deployments for terminals,
// one block per environment (the state file's changes under "state").
func (r *Report) Diffs() string {
	var b strings.Builder
	for _, d := range r.Deployments {
		if d.Diff == "" {
			continue
		}
		env := d.Environment
		if env == "" {
			env = "state"
		}
		fmt.Fprintf(&b, "\n--- gitops diff (%s) ---\n%s", env, d.Diff)
		if !strings.HasSuffix(d.Diff, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Failures renders every failed service's and environment's whole error,
// indented under what failed, for the end of a failed run's output.
func (r *Report) Failures() string {
	var b strings.Builder
	for _, s := range r.Services {
		if s.Error != "" {
			fmt.Fprintf(&b, "\nservice %s failed at %s:\n%s\n", s.Name, s.Stage, Indent(s.Error))
		}
	}
	for _, d := range r.Deployments {
		if d.Error != "" {
			fmt.Fprintf(&b, "\ngitops %s failed:\n%s\n", d.Environment, Indent(d.Error))
		}
	}
	for _, v := range r.Verifications {
		for _, s := range v.Services {
			if !s.Verified {
				fmt.Fprintf(&b, "\n%s is not verified in %s: %s: %s\n", s.Name, v.Environment, s.Reason, s.Message)
			}
		}
		if !v.Verified && v.Reason != "" {
			fmt.Fprintf(&b, "\n%s: %s %s: %s\n", v.Environment, v.Controller, v.Reason, v.Message)
		}
	}
	return b.String()
}

// Indent indents every line of s by two spaces, for output nested under a
// heading.
func Indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}

// PlatformSummary is one line about a multi-platform index's images: each
// platform with its size and whether its build ran emulated
// ("linux/amd64 12.1 MB, linux/arm64 11.8 MB (emulated)").
func PlatformSummary(ps []PlatformImage) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		part := p.Platform
		if p.SizeBytes > 0 {
			part += " " + HumanBytes(p.SizeBytes)
		}
		if p.Emulated {
			part += " (emulated)"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
