package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

// Verify waits until an environment's cluster runs what its GitOps
// manifests say: the controller (Flux or Argo CD, per
// environments[].cluster) applied the GitOps commit, every workload running
// a service's image repository rolled out at exactly the pinned digest with
// all pods ready, and the environment's probes pass. It prints which
// service waits on what, and on failure the cluster's reason and the end of
// the failing container's log. Each image gets a signed verification
// record (verified or failed), which promotion gates (requireVerifiedIn,
// minSoak) read. Read-only in the cluster; needs --kubeconfig.
// +cache="never"
func (m *Slipway) Verify(
	ctx context.Context,
	// Environment to verify, e.g. staging.
	env string,
	// How long to wait, e.g. 10m (default: the environment's cluster.timeout, else 10m).
	// +optional
	timeout string,
	// Only these services (default: every service deployed to env).
	// +optional
	service []string,
	// GitOps commit that must be applied (default: the GitOps branch's tip).
	// +optional
	gitopsCommit string,
	// On failure, roll each failed service back to the last digest verified
	// in env (pinned, as rollback does) and reject the failed digest.
	// +optional
	rollbackOnFailure bool,
	// cosign public key to read verification records with, when the signing key is not given.
	// +optional
	publicKey *dagger.Secret,
) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	rep, err := m.verifyEnv(ctx, reg, p, verifyArgs{env: env, timeout: timeout, services: service, commit: gitopsCommit, rollback: rollbackOnFailure, publicKey: publicKey})
	if err != nil {
		return "", err
	}
	m.saveReportNoting(ctx, rep)
	out := rep.Text() + rep.Diffs()
	if !rep.OK() {
		return "", errors.New(out + rep.Failures())
	}
	return out, nil
}

// verifyArgs is one verification's request.
type verifyArgs struct {
	env, timeout, commit string
	services             []string
	rollback             bool
	publicKey            *dagger.Secret
}

// verifyEnv runs the worker's verify and returns its report, which it
// writes also when the environment is not verified.
func (m *Slipway) verifyEnv(ctx context.Context, reg *registryTarget, p *plan.Plan, a verifyArgs) (*report.Report, error) {
	if m.Kubeconfig == nil {
		return nil, fmt.Errorf("verifying %s needs read access to its cluster: pass --kubeconfig (a Dagger secret, e.g. file://$HOME/.kube/config; docs/verification.md)", a.env)
	}
	if a.timeout != "" {
		if _, err := time.ParseDuration(a.timeout); err != nil {
			return nil, fmt.Errorf("--timeout %q: not a duration such as 10m", a.timeout)
		}
	}
	if a.rollback {
		if err := m.refuseThrowawayInCI(p, "verify --rollback-on-failure"); err != nil {
			return nil, err
		}
	}
	c, gargs := m.gitopsWorker(reg, p)
	c = c.WithSecretVariable(wire.EnvKubeconfig, m.Kubeconfig)
	if a.publicKey != nil {
		c = c.WithSecretVariable(wire.EnvSigningPublicKey, a.publicKey)
	}
	args := append([]string{wire.WorkerBin, "verify", "--env", a.env, "--out", wire.ResultFile}, gargs...)
	args = append(args, "--registry", reg.address)
	args = append(args, reg.insecureArgs()...)
	if a.timeout != "" {
		args = append(args, "--timeout", a.timeout)
	}
	if a.commit != "" {
		args = append(args, "--commit", a.commit)
	}
	for _, s := range a.services {
		args = append(args, "--service", s)
	}
	var rescanNote string
	if a.rollback {
		args = append(args, "--rollback-on-failure")
		if m.SourceURL != "" {
			args = append(args, "--source-url", m.SourceURL)
		}
		var err error
		if c, args, rescanNote, err = m.withRescan(ctx, c, args, p.Project.Scan.Scanner); err != nil {
			return nil, err
		}
	}
	progress("verify %s: waiting for the cluster", a.env)
	rep, _, err := runWorker(ctx, fresh(c), args, exitIsVerdict, report.Parse)
	if err != nil {
		return nil, err
	}
	if rescanNote != "" && len(rep.Deployments) > 0 {
		rep.Notes = append(rep.Notes, rescanNote)
	}
	for _, v := range rep.Verifications {
		verdict := "verified"
		if !v.Verified {
			verdict = "NOT verified"
		}
		progress("verify %s: %s", v.Environment, verdict)
	}
	return rep, nil
}

// verifyAfter verifies env after a run wrote commit there, folding the
// verification (and any rollback it made) into rep. A run that wrote
// nothing still verifies what the environment should run.
func (m *Slipway) verifyAfter(ctx context.Context, reg *registryTarget, p *plan.Plan, rep *report.Report, env, commit string, rollback bool, publicKey *dagger.Secret) {
	vr, err := m.verifyEnv(ctx, reg, p, verifyArgs{env: env, commit: commit, rollback: rollback, publicKey: publicKey})
	if err != nil {
		rep.Verifications = append(rep.Verifications, report.Verification{Environment: env, Message: err.Error(), Reason: "NotRun"})
		return
	}
	if vr.Error != "" {
		rep.Verifications = append(rep.Verifications, report.Verification{Environment: env, Message: vr.Error, Reason: "Error"})
		return
	}
	rep.Verifications = append(rep.Verifications, vr.Verifications...)
	rep.Deployments = append(rep.Deployments, vr.Deployments...)
	rep.Notes = append(rep.Notes, vr.Notes...)
}

// Approve records a signed approval of an image digest for an environment
// that requires one (requireApproval): an in-toto attestation attached to
// the image, signed with your key (--signing-key) or keylessly (an OIDC
// token), which the environment's approvers must include. Promotion into
// the environment then accepts that digest.
// +cache="never"
func (m *Slipway) Approve(
	ctx context.Context,
	// Environment the digest may be promoted to, e.g. prod.
	env string,
	// Image digest, sha256:….
	digest string,
	// Service the digest is (default: found in the environments' manifests).
	// +optional
	service string,
	// Why, recorded in the approval.
	// +optional
	reason string,
	// Who approves (default: the signer's user), e.g. $GITHUB_ACTOR.
	// +optional
	by string,
) (string, error) {
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	if !m.signs() {
		return "", errors.New("an approval is signed: give your cosign key (--signing-key, --signing-password) or an OIDC token (--oidc-token)")
	}
	c, gargs := m.gitopsWorker(reg, p)
	args := append([]string{wire.WorkerBin, "approve", "--env", env, "--digest", strings.TrimSpace(digest), "--out", wire.ResultFile}, gargs...)
	args = append(args, "--registry", reg.address)
	args = append(args, reg.insecureArgs()...)
	if service != "" {
		args = append(args, "--service", service)
	}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	if by != "" {
		args = append(args, "--by", by)
	}
	rep, r, err := runWorker(ctx, fresh(c), args, exitIsVerdict, report.Parse)
	if err != nil {
		return "", err
	}
	m.saveReportNoting(ctx, rep)
	out := rep.Text()
	if r.exit != 0 || !rep.OK() {
		return "", errors.New(out + rep.Failures())
	}
	return out, nil
}

// verifyDeployed verifies, after a run, each environment it deployed to
// (commits only: a pull request waits for its merge, which verify checks
// later).
func (m *Slipway) verifyDeployed(ctx context.Context, reg *registryTarget, p *plan.Plan, rep *report.Report, envs []string, rollback bool, publicKey *dagger.Secret) {
	for _, env := range envs {
		commit, pending := "", false
		for _, d := range rep.Deployments {
			if d.Environment != env {
				continue
			}
			// An open pull request (or a pushed branch awaiting one) is
			// not deployed yet; a closed one means main already holds it.
			if d.PullRequestState == "branch only" || d.PullRequest != "" && d.PullRequestState != "closed" {
				pending = true
			}
			if d.Commit != "" {
				commit = d.Commit
			}
		}
		if pending {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s not verified: its change waits in a pull request; run verify --env %s once it is merged", env, env))
			continue
		}
		m.verifyAfter(ctx, reg, p, rep, env, commit, rollback, publicKey)
	}
}
