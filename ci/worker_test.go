package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/monorepo"
	"github.com/slipwayci/slipway/internal/plan"
)

const testSource = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestLockedWorker(t *testing.T) {
	lock := "# comment\n" +
		"sha256:ffff ghcr.io/acme/slipway-worker@sha256:aaaa\n" +
		testSource + " ghcr.io/acme/slipway-worker:src-0123\n" + // a tag only: never trusted
		testSource + " ghcr.io/acme/slipway-worker@sha256:bbbb\n"
	if got := lockedWorker(lock, testSource); got != "ghcr.io/acme/slipway-worker@sha256:bbbb" {
		t.Errorf("lockedWorker = %q", got)
	}
	if got := lockedWorker(lock, "sha256:0000"); got != "" {
		t.Errorf("an unknown source found %q", got)
	}
	if got := lockedWorker(workerLock, testSource); got != "" {
		t.Errorf("the shipped lock records %q for a made-up source", got)
	}
}

func TestWorkerRef(t *testing.T) {
	if got := workerRef("ghcr.io/acme/w", testSource); got != "ghcr.io/acme/w:src-0123456789abcdef" {
		t.Errorf("workerRef = %q", got)
	}
}

func TestDescribePaths(t *testing.T) {
	p := &plan.Plan{}
	for i := 0; i < 12; i++ {
		p.Uncommitted = append(p.Uncommitted, monorepo.Change{Path: string(rune('a' + i)), State: monorepo.Modified})
	}
	got := describePaths(p)
	if want := "a (modified), b (modified), c (modified), d (modified), e (modified), f (modified), g (modified), h (modified), i (modified), j (modified), and 2 more"; got != want {
		t.Errorf("describePaths = %q", got)
	}
}

func TestThrowawayVolumeFollowsTheManifests(t *testing.T) {
	p := &plan.Plan{}
	p.Project.Name = "shop"
	p.Project.GitOps.Path = "deploy"
	if got := throwawayVolume(p); got != "slipway-gitops-shop" {
		t.Errorf("default path: %q", got)
	}
	p.Project.GitOps.Path = "kubernetes/manifests"
	if got := throwawayVolume(p); got != "slipway-gitops-shop-kubernetes-manifests" {
		t.Errorf("moved manifests: %q", got)
	}
}

func TestLastLines(t *testing.T) {
	var in []string
	for i := 1; i <= 50; i++ {
		in = append(in, fmt.Sprintf("line %d", i))
	}
	got := lastLines(strings.Join(in, "\n")+"\n", 40)
	lines := strings.Split(got, "\n")
	if len(lines) != 41 || lines[0] != "… (10 lines before)" || lines[1] != "line 11" || lines[40] != "line 50" {
		t.Errorf("lastLines kept %d lines: first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if got := lastLines("one\ntwo\n", 40); got != "one\ntwo" {
		t.Errorf("short output: %q", got)
	}
}

func TestThrowawayIsRefusedInCI(t *testing.T) {
	p := &plan.Plan{}
	if err := (&Slipway{}).refuseThrowawayInCI(p, "ci"); err != nil {
		t.Errorf("on a laptop: %v", err)
	}
	err := (&Slipway{InCI: true}).refuseThrowawayInCI(p, "ci")
	if err == nil || !strings.Contains(err.Error(), "set gitops.repo in slipway.yaml") || !strings.Contains(err.Error(), "--gitops-throwaway") {
		t.Errorf("in CI: %v", err)
	}
	if err := (&Slipway{InCI: true, GitopsThrowaway: true}).refuseThrowawayInCI(p, "ci"); err != nil {
		t.Errorf("in CI, asked for: %v", err)
	}
	if err := (&Slipway{InCI: true, GitopsRepo: "https://git.example.com/acme/gitops.git"}).refuseThrowawayInCI(p, "ci"); err != nil {
		t.Errorf("in CI with a GitOps repository: %v", err)
	}
	p.Project.GitOps.Repo = "git@git.example.com:acme/gitops.git"
	if err := (&Slipway{InCI: true}).refuseThrowawayInCI(p, "ci"); err != nil {
		t.Errorf("in CI with gitops.repo: %v", err)
	}
}

func TestRedactBuildSecrets(t *testing.T) {
	buildSecretsMu.Lock()
	buildSecretValues = []string{"s3cr3t-value", " "}
	buildSecretsMu.Unlock()
	t.Cleanup(func() { buildSecretsMu.Lock(); buildSecretValues = nil; buildSecretsMu.Unlock() })
	if got := redactBuildSecrets("token=s3cr3t-value\nagain s3cr3t-value"); got != "token=***\nagain ***" {
		t.Errorf("redacted: %q", got)
	}
}
