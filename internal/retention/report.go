package retention

import (
	"fmt"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/report"
)

// Report renders a plan, and what Apply did with it (nil for a dry run),
// as a run report of kind "prune": one entry per image of every repository
// (kept, with every reason; pruned, with why; failed, with the error) and
// one per orphaned signature or attestation. The caller sets Started and
// Finished.
func Report(res *Result, out *Outcome) *report.Report {
	r := &report.Report{Kind: report.Prune, Project: res.Project, Registry: res.Registry, DryRun: out == nil}
	r.Notes = append(r.Notes, res.Notes...)
	for _, repo := range res.Repositories {
		for _, im := range repo.Images {
			s := report.Service{Name: repo.Service, Repository: repo.Name, Digest: im.Digest, Tags: im.Tags}
			switch {
			case im.Keep:
				s.Status, s.Reason = report.Kept, strings.Join(im.Reasons, "; ")
			default:
				s.Status, s.Reason = report.Pruned, deleteReason(res, im)
				if out != nil {
					if msg, failed := out.Failed[repo.Name+"@"+im.Digest]; failed {
						s.Status, s.Stage, s.Error = report.Failed, "delete", msg
					}
				}
			}
			r.Services = append(r.Services, s)
		}
		for _, a := range repo.Orphans {
			s := report.Service{Name: repo.Service, Status: report.Pruned, Repository: repo.Name, Digest: a.Digest, Tags: []string{a.Tag},
				Reason: fmt.Sprintf("orphaned %s: its image %s is gone", a.Kind, shortDigest(a.Subject))}
			if out != nil {
				if msg, failed := out.Failed[repo.Name+":"+a.Tag]; failed {
					s.Status, s.Stage, s.Error = report.Failed, "delete", msg
				}
			}
			r.Services = append(r.Services, s)
		}
	}
	kept, deleted, orphans := res.Counts()
	switch {
	case out == nil && deleted+orphans > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("dry run: nothing was deleted; %d image(s) and %d orphaned signature(s) would be, %d image(s) kept; run with --apply to delete", deleted, orphans, kept))
	case out == nil:
		r.Notes = append(r.Notes, fmt.Sprintf("dry run: nothing to delete, %d image(s) kept", kept))
	default:
		for _, h := range sortedKeys(out.Refused) {
			r.Notes = append(r.Notes, out.Refused[h])
		}
		for _, h := range out.TagDeleteUnsupported {
			r.Notes = append(r.Notes, fmt.Sprintf("registry %s cannot delete a tag on its own: images were deleted by digest, which removed their tags", h))
		}
	}
	return r
}

// deleteReason says why an image goes.
func deleteReason(res *Result, im Image) string {
	var parts []string
	if im.Created.IsZero() {
		parts = append(parts, "age unknown")
	} else {
		parts = append(parts, fmt.Sprintf("built %s ago (%s), older than %s", roundAge(res.Now.Sub(im.Created)), im.CreatedFrom, res.OlderThan))
	}
	parts = append(parts, "nothing in the GitOps repository names it")
	if res.Keep > 0 {
		parts = append(parts, fmt.Sprintf("not among the newest %d", res.Keep))
	}
	var with []string
	has := map[string]bool{}
	for _, a := range im.Artifacts {
		has[a.Kind] = true
	}
	for _, k := range []struct{ kind, say string }{{"signature", "signature"}, {"attestation", "attestations"}, {"sbom", "SBOM"}} {
		if has[k.kind] {
			with = append(with, k.say)
		}
	}
	if n := len(im.DeleteChildren); n > 0 {
		with = append(with, plural(n, "platform manifest"))
	}
	s := strings.Join(parts, "; ")
	if len(with) > 0 {
		s += "; with its " + strings.Join(with, ", ")
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Describe renders a plan (and what Apply did, nil for a dry run) for a
// terminal: per repository, every image with its tags and what happens to
// it and why.
func Describe(res *Result, out *Outcome) string {
	var b strings.Builder
	verb := "delete"
	if out == nil {
		verb = "would delete"
	}
	fmt.Fprintf(&b, "prune %s: keep the newest %d and anything younger than %s; GitOps %s\n", res.Registry, res.Keep, res.OlderThan, short(res.GitOpsCommit))
	for _, repo := range res.Repositories {
		var del, keep int
		for _, im := range repo.Images {
			if im.Keep {
				keep++
			} else {
				del++
			}
		}
		fmt.Fprintf(&b, "\n%s (%s): %d kept, %s %d image(s) and %d orphan(s)\n", repo.Service, repo.Name, keep, verb, del, len(repo.Orphans))
		for _, im := range repo.Images {
			what := "keep  "
			why := strings.Join(im.Reasons, "; ")
			if !im.Keep {
				what, why = "delete", deleteReason(res, im)
				if out != nil {
					if msg, failed := out.Failed[repo.Name+"@"+im.Digest]; failed {
						what, why = "FAILED", msg
					}
				}
			}
			tags := strings.Join(im.Tags, ", ")
			if tags == "" {
				tags = "(untagged)"
			}
			fmt.Fprintf(&b, "  %s %s  %s\n         %s\n", what, shortDigest(im.Digest), tags, why)
		}
		for _, a := range repo.Orphans {
			what := "delete"
			if out != nil {
				if _, failed := out.Failed[repo.Name+":"+a.Tag]; failed {
					what = "FAILED"
				}
			}
			fmt.Fprintf(&b, "  %s %s  orphaned %s of %s\n", what, a.Tag, a.Kind, shortDigest(a.Subject))
		}
	}
	if out != nil {
		for _, h := range sortedKeys(out.Refused) {
			fmt.Fprintf(&b, "\nREFUSED: %s\n", out.Refused[h])
		}
	}
	notes := append([]string(nil), res.Notes...)
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
