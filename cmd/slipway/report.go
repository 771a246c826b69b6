package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("report", "render a run report (JSON) as markdown or text; append to the GitHub job summary", runReport)
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	in := fs.String("in", "", "report JSON file (or -dir and -kind)")
	dir := fs.String("dir", "", "the reports directory: render the last report of -kind for -project")
	kind := fs.String("kind", "", "with -dir: the kind of run (ci, deploy, promote, …)")
	project := fs.String("project", "", "with -dir: the project whose report to render (empty: the engine's last)")
	format := fs.String("format", "text", "text, markdown or json")
	summary := fs.Bool("step-summary", true, "also append the markdown to $GITHUB_STEP_SUMMARY when set")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*in == "") == (*dir == "") || (*dir != "" && *kind == "") {
		return fmt.Errorf("%w: give -in, or -dir with -kind", errUsage)
	}
	path := *in
	if *dir != "" {
		k, err := report.ParseKind(*kind)
		if err != nil {
			return err
		}
		if path, err = lastReportFile(*dir, *project, k); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r, err := report.Parse(b)
	if err != nil {
		return err
	}
	switch *format {
	case "text":
		fmt.Fprint(stdout, r.Text())
	case "markdown", "md":
		fmt.Fprint(stdout, r.Markdown())
	case "json":
		stdout.Write(b)
	default:
		return fmt.Errorf("%w: -format %q is not text, markdown or json", errUsage, *format)
	}
	if *summary {
		if _, err := r.AppendStepSummary(); err != nil {
			return err
		}
	}
	return nil
}

// lastReportFile picks the last report of a kind for a project: its own,
// or the engine's when that one is newer and is the project's or names no
// project (a run that failed before reading its configuration). Another
// project's report is never picked.
func lastReportFile(dir, project string, kind report.Kind) (string, error) {
	global := wire.ReportFile(dir, "", kind)
	if project == "" {
		return global, nil
	}
	own := wire.ReportFile(dir, project, kind)
	ownInfo, ownErr := os.Stat(own)
	if gi, err := os.Stat(global); err == nil && (ownErr != nil || gi.ModTime().After(ownInfo.ModTime())) {
		if b, err := os.ReadFile(global); err == nil {
			if r, err := report.Parse(b); err == nil && (r.Project == "" || r.Project == project) {
				return global, nil
			}
		}
	}
	if ownErr != nil {
		return "", fmt.Errorf("no %s report for project %s on this engine yet", kind, project)
	}
	return own, nil
}
