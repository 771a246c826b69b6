package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/slipwayci/slipway/internal/report"
)

func init() {
	register("report", "render a run report (JSON) as markdown or text; append to the GitHub job summary", runReport)
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	in := fs.String("in", "", "report JSON file (required)")
	format := fs.String("format", "text", "text, markdown or json")
	summary := fs.Bool("step-summary", true, "also append the markdown to $GITHUB_STEP_SUMMARY when set")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return fmt.Errorf("%w: -in is required", errUsage)
	}
	b, err := os.ReadFile(*in)
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
