package gitops

import (
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

// maxTitleServices is how many services a commit title names before it
// says "and N more" (the body always lists every one).
const maxTitleServices = 5

// CommitMessage renders the message of an environment's commit: a title
// naming the environment and services, then one paragraph per service with
// its old → new digest and the full new reference, then a Source-Commit
// trailer when the source commit is known.
func CommitMessage(p *Plan, sourceCommit string) string {
	var b strings.Builder
	b.WriteString(title(p))
	b.WriteString("\n\n")
	b.WriteString(body(p))
	if sourceCommit != "" {
		b.WriteString("\nSource-Commit: " + sourceCommit + "\n")
	}
	return b.String()
}

func title(p *Plan) string {
	names := p.serviceNames()
	if len(names) == 0 {
		// Only other files (a state file) change.
		var files []string
		for _, f := range p.Files {
			files = append(files, f.Path)
		}
		return fmt.Sprintf("deploy(%s): update %s", p.Environment, strings.Join(files, ", "))
	}
	shown := names
	more := ""
	if len(names) > maxTitleServices {
		shown = names[:maxTitleServices]
		more = fmt.Sprintf(" and %d more", len(names)-maxTitleServices)
	}
	return fmt.Sprintf("deploy(%s): %s%s", p.Environment, strings.Join(shown, ", "), more)
}

func body(p *Plan) string {
	var b strings.Builder
	for _, s := range p.ChangedServices() {
		fmt.Fprintf(&b, "%s: %s → %s\n  %s\n  in %s %s\n", s.Service, oldRef(s.Old), s.New.Digest, s.New, s.File, s.Key)
	}
	if p.Note != "" {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(strings.TrimRight(p.Note, "\n") + "\n")
	}
	return b.String()
}

// pullRequestBody is the description of an environment's pull request.
func pullRequestBody(p *Plan, sourceCommit, sourceURL string) string {
	var b strings.Builder
	source := "`" + sourceCommit + "`"
	if len(sourceCommit) > 12 {
		source = "`" + sourceCommit[:12] + "`"
	}
	if u := strings.TrimSuffix(sourceURL, "/"); sourceCommit != "" && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		source = "[" + source + "](" + u + "/commit/" + sourceCommit + ")"
	}
	fmt.Fprintf(&b, "Deploys to **%s**", p.Environment)
	if sourceCommit != "" {
		fmt.Fprintf(&b, " the images built from %s", source)
	}
	b.WriteString(".\n\n| service | image | new digest | running now | built from |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range p.ChangedServices() {
		from := "—"
		if sourceCommit != "" {
			from = source
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | `%s` | %s |\n", s.Service, s.New.Name, s.New.Digest, oldRef(s.Old), from)
	}
	if p.Note != "" {
		b.WriteString("\n" + strings.TrimRight(p.Note, "\n") + "\n")
	}
	fmt.Fprintf(&b, "\nOpened by slipway. This is **%s**'s one pull request: every later run replaces its content with the newest images, and it is closed when %s already runs them.\n", p.Environment, p.Environment)
	return b.String()
}

// oldRef names what a service ran before: its digest, else its reference,
// else "(none)".
func oldRef(i edit.Image) string {
	switch {
	case i.Digest != "":
		return i.Digest
	case i.Name != "" || i.Tag != "":
		return i.String()
	}
	return "(none)"
}
