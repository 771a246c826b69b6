package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

const reportsDir = "/var/lib/slipway-reports"

// reportInput is where the worker reads a report the module hands it.
const reportInput = wire.WorkDir + "/report.json"

// saveReport keeps the run's report in a cache volume, for last-report.
func (m *Slipway) saveReport(ctx context.Context, r *report.Report) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	// The engine's last report of the kind, and the project's own. Each is
	// a temporary file of its own, then an atomic rename: concurrent runs
	// of one kind never leave a torn report.
	var script []string
	for _, dst := range []string{wire.ReportFile(reportsDir, "", r.Kind), wire.ReportFile(reportsDir, r.Project, r.Kind)} {
		script = append(script, fmt.Sprintf(`t="$(mktemp -p %s .last.XXXXXX)" && cp %s "$t" && mv "$t" %s`, reportsDir, reportInput, dst))
	}
	_, err = execChecked(ctx, fresh(m.Worker().
		WithMountedCache(reportsDir, dag.CacheVolume("slipway-reports")).
		WithNewFile(reportInput, string(b))),
		[]string{"sh", "-c", strings.Join(script, " && ")})
	return err
}

// saveReportNoting saves the report and, when that fails, says so in it.
func (m *Slipway) saveReportNoting(ctx context.Context, r *report.Report) {
	if err := m.saveReport(ctx, r); err != nil {
		r.Notes = append(r.Notes, "the report could not be saved for last-report: "+err.Error())
	}
}

// LastReport returns the report of the last ci (or deploy, promote,
// rollback, pin, unpin, reject, prune) run of this project on this engine,
// as markdown (for $GITHUB_STEP_SUMMARY), json or text. It works after a
// failed run too, and never shows another project's run on a shared
// engine.
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
	k, err := report.ParseKind(kind)
	if err != nil {
		return nil, err
	}
	ext := map[string]string{"markdown": "md", "md": "md", "json": "json", "text": "txt"}[format]
	if ext == "" {
		return nil, fmt.Errorf("format %q is not markdown, json or text", format)
	}
	// The project's name, when its configuration can be read (else the
	// engine's last report: the run may have failed on that very
	// configuration).
	project := ""
	if p, err := m.configPlan(ctx); err == nil {
		project = p.Project.Name
	}
	r, err := execChecked(ctx, fresh(m.Worker().
		WithMountedCache(reportsDir, dag.CacheVolume("slipway-reports"))),
		[]string{wire.WorkerBin, "report", "--dir", reportsDir, "--kind", string(k), "--project", project, "--format", format, "--step-summary=false"})
	if err != nil {
		return nil, fmt.Errorf("no %s report on this engine yet: %w", k, err)
	}
	name := "slipway-" + string(k) + "." + ext
	return dag.Directory().WithNewFile(name, r.stdout).File(name), nil
}
