package main

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/wire"
)

// releaseVerb is one release-management run of the worker (promote,
// rollback, pin, unpin, reject, prune): the command and its flags, and
// what it needs wired in.
type releaseVerb struct {
	kind report.Kind
	args []string
	// publicKey verifies signatures when no signing key is given.
	publicKey *dagger.Secret
	// by names who runs it, recorded in the state file.
	by string
	// registry: the verb reads or writes images, so it needs the
	// registry's address and its plain-HTTP hosts.
	registry bool
	// verify: the verb points an environment at images it checks first.
	// Their SLSA provenance must name --source-url when given, and they
	// are re-scanned under the target environment's policy.
	verify bool
	// afterEnv, when set, is verified in its cluster once the verb wrote
	// there (--verify); rollbackOnFailure then rolls back what fails.
	afterEnv          string
	rollbackOnFailure bool
}

// release runs a release-management verb and returns its report, which the
// worker writes even when it refuses.
func (m *Slipway) release(ctx context.Context, v releaseVerb) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	// What writes (or, for prune, deletes images no environment of the
	// throwaway repository names) is refused in CI; dry runs are not.
	if writes := v.kind == report.Prune && slices.Contains(v.args, "--apply") || v.kind != report.Prune && !slices.Contains(v.args, "--dry-run"); writes {
		if err := m.refuseThrowawayInCI(p, string(v.kind)); err != nil {
			return "", err
		}
	}
	c, gargs := m.gitopsWorker(reg, p)
	if v.publicKey != nil {
		c = c.WithSecretVariable(wire.EnvSigningPublicKey, v.publicKey)
	}
	if v.kind == report.Promote && m.Kubeconfig != nil {
		// minSoak checks afresh that the source environment's cluster
		// still runs what is promoted.
		c = c.WithSecretVariable(wire.EnvKubeconfig, m.Kubeconfig)
	}
	args := append(append([]string{wire.WorkerBin, string(v.kind)}, v.args...), gargs...)
	args = append(args, "--out", wire.ResultFile)
	if v.registry {
		args = append(args, "--registry", reg.address)
		args = append(args, reg.insecureArgs()...)
	}
	var rescanNote string
	if v.verify {
		// Given the source URL ci records (--source-url), the SLSA
		// provenance must name it; without, only its signed commit is
		// checked.
		if m.SourceURL != "" {
			args = append(args, "--source-url", m.SourceURL)
		}
		if c, args, rescanNote, err = m.withRescan(ctx, c, args, p.Project.Scan.Scanner); err != nil {
			return "", err
		}
	}
	if v.by != "" {
		args = append(args, "--by", v.by)
	}
	rep, r, err := runWorker(ctx, fresh(c), args, exitIsVerdict, report.Parse)
	if err != nil {
		return "", err
	}
	if rescanNote != "" {
		rep.Notes = append(rep.Notes, rescanNote)
	}
	if v.afterEnv != "" && r.exit == 0 && rep.OK() && !slices.Contains(v.args, "--dry-run") {
		m.verifyDeployed(ctx, reg, p, rep, []string{v.afterEnv}, v.rollbackOnFailure, v.publicKey)
	}
	m.saveReportNoting(ctx, rep)
	out := rep.Text() + rep.Diffs()
	if r.exit != 0 || !rep.OK() {
		return "", errors.New(out + rep.Failures())
	}
	return out, nil
}

// withRescan gives a verifying verb what it needs to re-scan the exact
// digests under the target environment's policy: the scanner binary, taken
// from the scanner's container (the one --scanner-image names, for either
// scanner), and the same database ci uses (--vuln-db, or the scanner's own
// download). Without a database it says, in the returned note, that the
// images were not re-scanned and how to supply one.
func (m *Slipway) withRescan(ctx context.Context, c *dagger.Container, args []string, scanner string) (*dagger.Container, []string, string, error) {
	db, err := m.vulnDatabase(ctx, scanner)
	if err != nil {
		return nil, nil, "", err
	}
	if !db.info.Available {
		return c, args, "images were not re-scanned: " + db.info.Describe(time.Now()) + "; supply --vuln-db DIR (" + scancmd.HowToGetDB(scanner) + ")", nil
	}
	bin, from := scancmd.Bin(scanner), m.osvScanner()
	if scanner == scancmd.Trivy {
		from = m.trivyScanner()
	}
	c = db.mount(c.WithFile(bin, from.File(bin)), wire.VulnDBDir)
	args = append(args, "--scanner", bin, "--vuln-db", wire.VulnDBDir)
	return c, args, "re-scanned against the " + db.info.Describe(time.Now()), nil
}
