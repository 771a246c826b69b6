package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
)

const reportsDir = "/var/lib/slipway-reports"

// saveReport keeps the run's report in a cache volume, for last-report.
func (m *Slipway) saveReport(ctx context.Context, r *report.Report) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	_, err = mustExec(ctx, m.Tool().
		WithMountedCache(reportsDir, dag.CacheVolume("slipway-reports")).
		WithNewFile(workDir+"/report.json", string(b)).
		WithEnvVariable("SLIPWAY_RUN", runID()),
		// A temporary file of its own, then an atomic rename: concurrent
		// runs of one kind never leave a torn report.
		[]string{"sh", "-c", fmt.Sprintf(`t="$(mktemp -p %s .last-%s.XXXXXX)" && cp %s/report.json "$t" && mv "$t" %s/last-%s.json`,
			reportsDir, r.Kind, workDir, reportsDir, r.Kind)})
	return err
}

// reportKinds are the runs whose reports last-report keeps.
var reportKinds = []string{"ci", "deploy", "promote", "rollback", "pin", "unpin", "reject", "prune"}

// LastReport returns the report of the last ci (or deploy, promote,
// rollback, pin, unpin, reject, prune) run on this engine, as markdown (for
// $GITHUB_STEP_SUMMARY), json or text. It works after a failed run too.
// +cache="never"
func (m *Slipway) LastReport(
	ctx context.Context,
	// Which run: ci, deploy, promote, rollback, pin, unpin, reject or prune.
	// +optional
	// +default="ci"
	kind string,
	// markdown, json or text.
	// +optional
	// +default="markdown"
	format string,
) (*dagger.File, error) {
	if !slices.Contains(reportKinds, kind) {
		return nil, fmt.Errorf("kind %q is not one of %s", kind, strings.Join(reportKinds, ", "))
	}
	ext := map[string]string{"markdown": "md", "md": "md", "json": "json", "text": "txt"}[format]
	if ext == "" {
		return nil, fmt.Errorf("format %q is not markdown, json or text", format)
	}
	r, err := mustExec(ctx, m.Tool().
		WithMountedCache(reportsDir, dag.CacheVolume("slipway-reports")).
		WithEnvVariable("SLIPWAY_RUN", runID()),
		[]string{toolBin, "report", "--in", fmt.Sprintf("%s/last-%s.json", reportsDir, kind), "--format", format, "--step-summary=false"})
	if err != nil {
		return nil, fmt.Errorf("no %s report on this engine yet: %w", kind, err)
	}
	return dag.Directory().WithNewFile("slipway-"+kind+"."+ext, r.stdout).File("slipway-" + kind + "." + ext), nil
}
