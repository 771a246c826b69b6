package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

// The last report a project reads is its own, or the engine's when that is
// newer and the project's (or names none); never another project's.
func TestLastReportFile(t *testing.T) {
	dir := t.TempDir()
	write := func(project, file string, age time.Duration) {
		t.Helper()
		b, err := (&report.Report{Kind: report.CI, Project: project}).JSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		os.Chtimes(file, at, at)
	}
	global, own := wire.ReportFile(dir, "", report.CI), wire.ReportFile(dir, "shop", report.CI)
	if own == global || !strings.HasSuffix(own, "/last-shop-ci.json") || wire.ReportFile(dir, "a/b c", report.CI) != dir+"/last-a_b_c-ci.json" {
		t.Fatalf("report files: %s, %s", global, own)
	}

	write("billing", global, time.Minute)
	if _, err := lastReportFile(dir, "shop", report.CI); err == nil || !strings.Contains(err.Error(), "no ci report for project shop") {
		t.Errorf("another project's report: %v", err)
	}
	write("shop", own, 2*time.Minute)
	if got, err := lastReportFile(dir, "shop", report.CI); err != nil || got != own {
		t.Errorf("newer report of another project: %s, %v", got, err)
	}
	write("", global, 0) // a run that failed before reading its configuration
	if got, _ := lastReportFile(dir, "shop", report.CI); got != global {
		t.Errorf("newer report with no project: %s", got)
	}
	write("shop", own, -time.Minute)
	if got, _ := lastReportFile(dir, "shop", report.CI); got != own {
		t.Errorf("own report newer: %s", got)
	}
	if got, _ := lastReportFile(dir, "", report.CI); got != global {
		t.Errorf("no project: %s", got)
	}
}
