package main

import (
	"context"
	"fmt"

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
		[]string{"sh", "-c", fmt.Sprintf("cp %s/report.json %s/last-%s.json.tmp && mv %s/last-%s.json.tmp %s/last-%s.json",
			workDir, reportsDir, r.Kind, reportsDir, r.Kind, reportsDir, r.Kind)})
	return err
}

// LastReport returns the report of the last ci (or promote, rollback,
// prune) run on this engine, as markdown (for $GITHUB_STEP_SUMMARY), json or
// text. It works after a failed run too.
// +cache="never"
func (m *Slipway) LastReport(
	ctx context.Context,
	// Which run: ci, promote, rollback or prune.
	// +optional
	// +default="ci"
	kind string,
	// markdown, json or text.
	// +optional
	// +default="markdown"
	format string,
) (*dagger.File, error) {
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
