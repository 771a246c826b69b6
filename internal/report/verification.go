package report

import (
	"fmt"
	"strings"
	"time"
)

// Verification is one environment's check that its cluster runs what the
// GitOps repository says.
type Verification struct {
	Environment string `json:"environment"`
	Verified    bool   `json:"verified"`
	// Controller applies the GitOps repository (flux, argocd, none);
	// ControllerRevision is what it reports applied.
	Controller         string `json:"controller"`
	ControllerRevision string `json:"controllerRevision,omitempty"`
	// GitOpsCommit is the commit that had to be applied.
	GitOpsCommit string `json:"gitopsCommit,omitempty"`
	// Reason and Message: the controller's own failure, when it failed.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Seconds is how long the wait lasted.
	Seconds  float64               `json:"seconds"`
	Services []VerificationService `json:"services"`
	// Recorded says where the signed verification records went, or why
	// none was written.
	Recorded string `json:"recorded,omitempty"`
	// RolledBack lists what --rollback-on-failure did.
	RolledBack []string `json:"rolledBack,omitempty"`
}

// VerificationService is one service's part of a verification.
type VerificationService struct {
	Name      string   `json:"name"`
	Digest    string   `json:"digest"`
	Verified  bool     `json:"verified"`
	Workloads []string `json:"workloads,omitempty"`
	// Pods is how many ready pods run exactly Digest.
	Pods    int    `json:"pods"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Log is the end of the failing container's log, when readable.
	Log string `json:"log,omitempty"`
	// Record is the signed verification record's reference.
	Record string `json:"record,omitempty"`
}

// verificationText renders the verifications for Text.
func (r *Report) verificationText(b *strings.Builder) {
	for _, v := range r.Verifications {
		verdict := "verified"
		if !v.Verified {
			verdict = "NOT verified"
		}
		fmt.Fprintf(b, "  %s: %s in %s", v.Environment, verdict, round(time.Duration(v.Seconds*float64(time.Second))))
		if v.ControllerRevision != "" {
			fmt.Fprintf(b, " (%s applied %s)", v.Controller, v.ControllerRevision)
		}
		b.WriteString("\n")
		if v.Reason != "" {
			fmt.Fprintf(b, "    %s %s: %s\n", v.Controller, v.Reason, v.Message)
		}
		for _, s := range v.Services {
			mark := "ok "
			if !s.Verified {
				mark = "FAIL"
			}
			line := fmt.Sprintf("    %-4s %s %s", mark, s.Name, shortDigest(s.Digest))
			if s.Verified {
				line += fmt.Sprintf("  %d pods ready", s.Pods)
			} else {
				line += "  " + s.Reason
				if s.Message != "" {
					line += ": " + s.Message
				}
			}
			b.WriteString(line + "\n")
			if s.Log != "" {
				fmt.Fprintf(b, "         log:\n%s\n", indentBy(s.Log, "           "))
			}
		}
		if v.Recorded != "" {
			fmt.Fprintf(b, "    records: %s\n", v.Recorded)
		}
		for _, rb := range v.RolledBack {
			fmt.Fprintf(b, "    rolled back: %s\n", rb)
		}
	}
}

func indentBy(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// ShortDigest shortens a digest for people, as the report does.
func ShortDigest(d string) string { return shortDigest(d) }

// verificationMarkdown renders the verifications for Markdown.
func (r *Report) verificationMarkdown(b *strings.Builder) {
	if len(r.Verifications) == 0 {
		return
	}
	b.WriteString("### Cluster verification\n\n")
	for _, v := range r.Verifications {
		mark, verdict := "✅", "verified"
		if !v.Verified {
			mark, verdict = "❌", "not verified"
		}
		fmt.Fprintf(b, "- %s **%s** %s in %s", mark, v.Environment, verdict, round(time.Duration(v.Seconds*float64(time.Second))))
		if v.ControllerRevision != "" {
			fmt.Fprintf(b, " (%s applied `%s`)", v.Controller, v.ControllerRevision)
		}
		b.WriteString("\n")
		if v.Reason != "" {
			fmt.Fprintf(b, "  - %s %s: %s\n", v.Controller, v.Reason, v.Message)
		}
		for _, s := range v.Services {
			if s.Verified {
				fmt.Fprintf(b, "  - %s `%s`: %d pods ready\n", s.Name, shortDigest(s.Digest), s.Pods)
				continue
			}
			fmt.Fprintf(b, "  - ❌ %s `%s`: %s: %s\n", s.Name, shortDigest(s.Digest), s.Reason, s.Message)
			if s.Log != "" {
				fmt.Fprintf(b, "\n    ```\n%s\n    ```\n", indentBy(s.Log, "    "))
			}
		}
		for _, rb := range v.RolledBack {
			fmt.Fprintf(b, "  - rolled back: %s\n", rb)
		}
	}
	b.WriteString("\n")
}
