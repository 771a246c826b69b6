package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/scancmd"
)

// releaseRun runs a release-management worker command (promote, rollback,
// pin, unpin, reject) and returns its report, which the worker writes even
// when it refuses.
func (m *Slipway) releaseRun(ctx context.Context, kind string, args []string, publicKey *dagger.Secret, by string) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	c, gargs := m.gitopsWorker(reg, p)
	if publicKey != nil {
		c = c.WithSecretVariable("SLIPWAY_SIGNING_PUBLIC_KEY", publicKey)
	}
	full := append([]string{toolBin, kind}, args...)
	full = append(full, gargs...)
	full = append(full, "--out", workDir+"/report.json")
	if kind == "promote" || kind == "rollback" || kind == "prune" {
		full = append(full, "--registry", reg.address)
		full = append(full, reg.insecureArgs()...)
	}
	var rescanNote string
	if kind == "promote" || kind == "rollback" {
		// Given the source URL ci records (--source-url), the SLSA
		// provenance must name it; without, only its signed commit is
		// checked.
		if m.SourceURL != "" {
			full = append(full, "--source-url", m.SourceURL)
		}
		// Re-scan the exact digests under the target environment's policy,
		// with the scanner binary taken from the scanner's container (the
		// one --scanner-image names, for either scanner) and the same
		// database ci uses: --vuln-db, or the scanner's own download.
		scanner := p.Project.Scan.Scanner
		db, err := m.vulnDatabase(ctx, scanner)
		if err != nil {
			return "", err
		}
		if db.info.Available {
			bin, from := scancmd.Bin(scanner), m.osvScanner()
			if scanner == scancmd.Trivy {
				from = m.trivyScanner()
			}
			c = db.mount(c.WithFile(bin, from.File(bin)), "/var/lib/slipway-vuln-db")
			full = append(full, "--scanner", bin, "--vuln-db", "/var/lib/slipway-vuln-db")
			rescanNote = "re-scanned against the " + db.info.Describe(time.Now())
		} else {
			rescanNote = "images were not re-scanned: " + db.info.Describe(time.Now()) + "; supply --vuln-db DIR (" + scancmd.HowToGetDB(scanner) + ")"
		}
	}
	if by != "" {
		full = append(full, "--by", by)
	}
	r, err := exec(ctx, c.WithEnvVariable("SLIPWAY_RUN", runID()), full)
	if err != nil {
		return "", err
	}
	b, ferr := r.ctr.File(workDir + "/report.json").Contents(ctx)
	if ferr != nil {
		if r.exit != 0 {
			return "", fmt.Errorf("%s", r.stderr)
		}
		return "", ferr
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(b), &rep); err != nil {
		return "", fmt.Errorf("reading the %s report: %w", kind, err)
	}
	if rescanNote != "" {
		rep.Notes = append(rep.Notes, rescanNote)
	}
	if err := m.saveReport(ctx, &rep); err != nil {
		rep.Notes = append(rep.Notes, "the report could not be saved for last-report: "+err.Error())
	}
	out := rep.Text() + diffs(&rep)
	if r.exit != 0 || !rep.OK() {
		return "", errors.New(out + failures(&rep))
	}
	return out, nil
}

// Promote moves exactly what one environment runs into the next, without
// rebuilding: for every service (or the given ones) it reads the digest
// from the source environment's GitOps state, refuses denylisted digests and
// pinned targets, verifies the signature and every attestation the target
// requires, copies or tags by digest, and writes one GitOps commit (or pull
// request) for the target. Every check runs before the first write: a
// refusal changes nothing anywhere. Promoting what is already there changes
// nothing.
// +cache="never"
func (m *Slipway) Promote(
	ctx context.Context,
	// Environment to promote from, e.g. staging.
	from string,
	// Environment to promote to, e.g. prod.
	to string,
	// Only these services (default: every service deployed to both).
	// +optional
	service []string,
	// Check everything and show what would be copied and the GitOps diff; write nothing.
	// +optional
	dryRun bool,
	// Copy the images into this registry for the target (default: tag them where they are).
	// +optional
	toRegistry string,
	// cosign public key to verify with, when the signing key is not given.
	// +optional
	publicKey *dagger.Secret,
) (string, error) {
	args := []string{"--from", from, "--to", to}
	for _, s := range service {
		args = append(args, "--service", s)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	if toRegistry != "" {
		args = append(args, "--to-registry", toRegistry)
	}
	return m.releaseRun(ctx, "promote", args, publicKey, "")
}

// Rollback points one environment's service back at an older image (a
// commit SHA whose image was published, or a digest), after the same checks
// as a promotion, and pins it there in the same commit: ci and promote leave
// it alone until `unpin`.
// +cache="never"
func (m *Slipway) Rollback(
	ctx context.Context,
	// Environment to roll back, e.g. prod.
	env string,
	// Service to roll back.
	service string,
	// Commit SHA (7+ characters) or image digest to go back to.
	to string,
	// Why (recorded in the pin).
	// +optional
	reason string,
	// Show what would change; write nothing.
	// +optional
	dryRun bool,
	// cosign public key to verify with, when the signing key is not given.
	// +optional
	publicKey *dagger.Secret,
	// Who rolls back, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	args := []string{"--env", env, "--service", service, "--to", to}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	return m.releaseRun(ctx, "rollback", args, publicKey, by)
}

// Pin holds an environment's service at the digest it runs now: ci and
// promote leave it alone until `unpin`.
// +cache="never"
func (m *Slipway) Pin(
	ctx context.Context,
	// Environment.
	env string,
	// Service.
	service string,
	// Why.
	reason string,
	// Who pins, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.releaseRun(ctx, "pin", []string{"--env", env, "--service", service, "--reason", reason}, nil, by)
}

// Unpin releases a pin: ci and promote may change the service again.
// +cache="never"
func (m *Slipway) Unpin(
	ctx context.Context,
	// Environment.
	env string,
	// Service.
	service string,
	// Who unpins, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.releaseRun(ctx, "unpin", []string{"--env", env, "--service", service}, nil, by)
}

// Reject denylists an image digest for good: it is never deployed, promoted
// or rolled back to again, in any environment.
// +cache="never"
func (m *Slipway) Reject(
	ctx context.Context,
	// Image digest (sha256:...) to reject.
	digest string,
	// Why (recorded in the denylist).
	reason string,
	// Who rejects, e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	return m.releaseRun(ctx, "reject", []string{"--digest", digest, "--reason", reason}, nil, by)
}

// Prune deletes images that no environment runs, pins or names in the
// GitOps repository, that are older than olderThan and not among the newest
// keep of their repository, together with their signatures and
// attestations. A dry run unless apply: it lists what it would delete and
// why everything else is kept.
// +cache="never"
func (m *Slipway) Prune(
	ctx context.Context,
	// Only images older than this are deleted (Go duration, e.g. 720h).
	// +optional
	// +default="720h"
	olderThan string,
	// Always keep this many newest images per repository.
	// +optional
	// +default=10
	keep int,
	// Only these services (default: all).
	// +optional
	service []string,
	// Delete for real (default: list what would be deleted).
	// +optional
	apply bool,
) (string, error) {
	args := []string{"--older-than", olderThan, "--keep", strconv.Itoa(keep)}
	for _, s := range service {
		args = append(args, "--service", s)
	}
	if apply {
		args = append(args, "--apply")
	}
	return m.releaseRun(ctx, "prune", args, nil, "")
}
