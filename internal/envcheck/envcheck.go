// Package envcheck runs one verification of an environment end to end: it
// reads what the GitOps repository says the environment runs, waits until
// the cluster runs it (internal/verify), signs a verification record for
// each image, and, when asked, rolls a failed service back to the last
// digest verified there and rejects the failed one.
package envcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/kube"
	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/verify"
)

// Options describe one verification.
type Options struct {
	Config *config.Config
	Env    string
	// Services limits the check (default: every service deployed to Env).
	Services []string
	// Commit is the GitOps commit that must be applied (default: the tip
	// of the GitOps branch when the check starts).
	Commit string
	// Kubeconfig is the kubeconfig holding Env's cluster.context.
	Kubeconfig []byte
	// Timeout and Interval of the wait (defaults: cluster.timeout, 2s).
	Timeout, Interval time.Duration
	// RepoURL and GitOptions reach the GitOps repository.
	RepoURL    string
	GitOptions []gitops.Option
	// Registry, Signer and Verifier: records are signed with Signer (none
	// without: the report says so) and read with Verifier.
	Registry *registry.Client
	Signer   *signing.Signer
	Verifier *signing.Verifier
	// RunID is recorded in every record.
	RunID string
	// RollbackOnFailure rolls each failed service back to the last digest
	// verified in Env and rejects the failed digest.
	RollbackOnFailure bool
	// Rollback carries what a rollback needs besides the above (scanner,
	// source URL, ignores, who).
	Rollback promote.RollbackOptions
	// Progress receives one line per change of what a service waits on.
	Progress io.Writer
}

// ErrNotVerified wraps the error of a verification that failed.
var ErrNotVerified = errors.New("not verified")

// Run verifies Env and returns the report (also on failure).
func Run(ctx context.Context, o Options) (*report.Report, error) {
	rep := &report.Report{Kind: report.Verify, Started: time.Now()}
	defer func() { rep.Finished = time.Now() }()
	if o.Config == nil {
		return rep, errors.New("verify: no configuration")
	}
	cfg := o.Config
	rep.Project = cfg.Project.Name
	env, err := cfg.Environment(o.Env)
	if err != nil {
		return rep, err
	}
	if env.Cluster == nil {
		return rep, fmt.Errorf("%s: environments[%s].cluster is not set: slipway does not know which cluster runs %s (docs/verification.md)", config.ProjectFile, env.Name, env.Name)
	}
	if len(o.Kubeconfig) == 0 {
		return rep, fmt.Errorf("verifying %s needs a kubeconfig: pass --kubeconfig (a secret, e.g. file://$HOME/.kube/config or env://KUBECONFIG_DATA)", env.Name)
	}
	client, err := kube.ParseKubeconfig(o.Kubeconfig, env.Cluster.Context)
	if err != nil {
		return rep, fmt.Errorf("--kubeconfig for %s: %w", env.Name, err)
	}
	repo, err := gitops.Clone(ctx, o.RepoURL, o.GitOptions...)
	if err != nil {
		return rep, err
	}
	defer repo.Close()
	branch := cfg.Project.GitOps.Branch
	tip, err := repo.Checkout(ctx, branch)
	if err != nil {
		return rep, err
	}
	commit := o.Commit
	if commit == "" {
		commit = tip
	}
	target, err := Target(cfg, env, repo.Dir(), commit, o.Services)
	if err != nil {
		return rep, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = env.Cluster.VerifyTimeout()
	}
	vo := verify.Options{
		Timeout: timeout, Interval: o.Interval,
		Descends: func(ctx context.Context, ancestor, c string) (bool, error) {
			return repo.Contains(ctx, branch, ancestor, c)
		},
	}
	if o.Progress != nil {
		vo.Progress = func(line string) { fmt.Fprintln(o.Progress, line) }
	}
	res, err := verify.Run(ctx, client, target, vo)
	if err != nil && len(res.Services) == 0 {
		return rep, fmt.Errorf("verifying %s: %w", env.Name, err)
	}
	v := fromResult(res, commit)
	rep.Verifications = append(rep.Verifications, v)
	rv := &rep.Verifications[len(rep.Verifications)-1]
	if err != nil {
		// slipway could not look (refused credentials, cancelled): that
		// says nothing about the images, so nothing is recorded or
		// rolled back.
		rv.Verified = false
		if rv.Reason == "" {
			rv.Reason = "Error"
		}
		rv.Message = strings.TrimSpace(rv.Message + " " + err.Error())
		rv.Recorded = "none written: the cluster could not be read"
		return rep, fmt.Errorf("verifying %s: %w", env.Name, err)
	}
	record(ctx, o, env, target, res, rv)
	if !res.Verified && o.RollbackOnFailure {
		rollbackFailed(ctx, o, env, repo, target, res, rep, rv)
	}
	if !res.Verified {
		return rep, fmt.Errorf("%w: %s", ErrNotVerified, env.Name)
	}
	return rep, nil
}

// Target builds the verification target of env from a checkout of the
// GitOps repository at dir: every service deployed to env (or the given
// ones) with the image its manifests pin.
func Target(cfg *config.Config, env config.Environment, dir, commit string, only []string) (verify.Target, error) {
	t := verify.Target{Env: env.Name, Controller: env.Cluster.Controller, Objects: env.Cluster.Objects, Namespaces: env.Cluster.Namespaces, Commit: commit}
	var names []string
	for _, s := range cfg.Services {
		if s.DeploysTo(env.Name) && (len(only) == 0 || slices.Contains(only, s.Name)) {
			names = append(names, s.Name)
		}
	}
	for _, n := range only {
		if !slices.Contains(names, n) {
			return t, fmt.Errorf("service %q is not deployed to %s", n, env.Name)
		}
	}
	if len(names) == 0 {
		return t, fmt.Errorf("no service is deployed to %s", env.Name)
	}
	cur, err := gitops.ReadImages(dir, deploy.Layout(cfg), env.Name, names)
	if err != nil {
		return t, err
	}
	for _, n := range names {
		img := cur[n].Image
		if img.Digest == "" {
			return t, fmt.Errorf("%s runs %s with no digest (%s %s): deploy it to %s first", env.Name, img, cur[n].File, cur[n].Key, env.Name)
		}
		s := verify.Service{Name: n, Repository: img.Name, Digest: img.Digest}
		for _, p := range env.Cluster.Probes {
			if p.Service != n {
				continue
			}
			switch {
			case p.HTTP != "":
				s.Probes = append(s.Probes, verify.Probe{Kind: "http", URL: p.HTTP, Status: p.Status})
			case p.GRPC != "":
				s.Probes = append(s.Probes, verify.Probe{Kind: "grpc", URL: p.GRPC})
			case p.TCP != "":
				s.Probes = append(s.Probes, verify.Probe{Kind: "tcp", URL: p.TCP})
			}
		}
		t.Services = append(t.Services, s)
	}
	return t, nil
}

func fromResult(res verify.Result, commit string) report.Verification {
	v := report.Verification{
		Environment: res.Env, Verified: res.Verified, Controller: res.Controller, ControllerRevision: res.ControllerRevision,
		GitOpsCommit: commit, Reason: res.Reason, Message: res.Message, Seconds: res.Finished.Sub(res.Started).Seconds(),
	}
	for _, s := range res.Services {
		v.Services = append(v.Services, report.VerificationService{
			Name: s.Name, Digest: s.Digest, Verified: s.Verified, Workloads: s.Workloads, Pods: s.Pods,
			Reason: s.Reason, Message: s.Message, Log: s.Log,
		})
	}
	return v
}

// record signs one verification record per image: verified or failed.
func record(ctx context.Context, o Options, env config.Environment, t verify.Target, res verify.Result, rv *report.Verification) {
	if o.Signer == nil {
		rv.Recorded = "none written: no signing key or OIDC token was given, so promotion gates (requireVerifiedIn, minSoak) cannot count this verification"
		return
	}
	written := 0
	var problems, skipped []string
	for i, s := range res.Services {
		rec := gates.Verification{
			Environment: env.Name, Service: s.Name, Digest: s.Digest, Result: gates.Verified,
			GitOpsCommit: rv.GitOpsCommit, Controller: res.Controller, ControllerRevision: res.ControllerRevision,
			Pods: s.Pods, Time: res.Finished.UTC(), Run: o.RunID,
		}
		switch {
		case s.Verified && res.Verified:
		case s.Verified || !imageFailure(s.Reason):
			// It runs, but the controller did not apply the commit (or
			// another service stopped the wait), or what failed is not the
			// image (nothing runs it, slipway may not look): no verdict
			// about the image.
			skipped = append(skipped, s.Name)
			continue
		default:
			rec.Result, rec.Reason, rec.Message = gates.Failed, s.Reason, s.Message
		}
		b, err := json.Marshal(rec)
		if err == nil {
			err = rec.Validate()
		}
		ref := t.Services[i].Repository + "@" + s.Digest
		if err == nil {
			var r signing.Result
			r, err = o.Signer.Attest(ctx, ref, gates.PredicateVerification, b)
			if err == nil {
				rv.Services[i].Record = r.Ref
				written++
				continue
			}
		}
		problems = append(problems, fmt.Sprintf("%s: %v", s.Name, err))
	}
	rv.Recorded = fmt.Sprintf("%d signed verification record(s) (%s)", written, gates.PredicateVerification)
	if len(skipped) > 0 {
		rv.Recorded += "; none for " + strings.Join(skipped, ", ") + " (no verdict about the image)"
	}
	if len(problems) > 0 {
		rv.Recorded += "; not recorded: " + strings.Join(problems, "; ")
		rv.Verified = false
	}
}

// rollbackFailed puts each failed service back on the newest earlier
// digest whose last verification in env succeeded, and rejects the failed
// digest so that no run deploys or promotes it again.
func rollbackFailed(ctx context.Context, o Options, env config.Environment, repo *gitops.Repo, t verify.Target, res verify.Result, rep *report.Report, rv *report.Verification) {
	for i, s := range res.Services {
		if s.Verified || !imageFailure(s.Reason) {
			continue // not this service's image: nothing to roll back from
		}
		prev, why := lastVerified(ctx, o, env, repo, t.Services[i])
		if prev == "" {
			rv.RolledBack = append(rv.RolledBack, fmt.Sprintf("%s: not rolled back: %s", s.Name, why))
			continue
		}
		reason := fmt.Sprintf("verification in %s failed: %s", env.Name, s.Reason)
		if s.Message != "" {
			reason += ": " + s.Message
		}
		so := promote.StateOptions{Config: o.Config, RepoURL: o.RepoURL, GitOptions: o.GitOptions, Reason: reason, By: o.Rollback.By}
		rr, err := promote.Reject(ctx, so, s.Digest)
		appendRun(rep, rr)
		if err != nil {
			rv.RolledBack = append(rv.RolledBack, fmt.Sprintf("%s: rejecting %s failed: %v", s.Name, s.Digest, err))
			continue
		}
		ro := o.Rollback
		ro.Config, ro.Environment, ro.Service, ro.Target, ro.Reason = o.Config, env.Name, s.Name, t.Services[i].Repository+"@"+prev, reason
		ro.Registry, ro.Verifier, ro.RepoURL, ro.GitOptions = o.Registry, o.Verifier, o.RepoURL, o.GitOptions
		rb, err := promote.Rollback(ctx, ro)
		appendRun(rep, rb)
		if err != nil {
			rv.RolledBack = append(rv.RolledBack, fmt.Sprintf("%s: %s rejected, but rolling back to %s failed: %v", s.Name, report.ShortDigest(s.Digest), report.ShortDigest(prev), err))
			continue
		}
		rv.RolledBack = append(rv.RolledBack, fmt.Sprintf("%s: back to %s, the last digest verified in %s (pinned); %s rejected", s.Name, report.ShortDigest(prev), env.Name, report.ShortDigest(s.Digest)))
	}
}

// lastVerified finds the newest digest env ran before the current one whose
// newest verification record there says verified.
func lastVerified(ctx context.Context, o Options, env config.Environment, repo *gitops.Repo, s verify.Service) (string, string) {
	if o.Verifier == nil {
		return "", "no key or identity to read verification records with"
	}
	hist, err := repo.ImageHistory(ctx, deploy.Layout(o.Config), env.Name, s.Name, 50)
	if err != nil {
		return "", err.Error()
	}
	for _, h := range hist {
		if h.Image.Digest == s.Digest {
			continue
		}
		repoName := h.Image.Name
		if repoName == "" {
			repoName = s.Repository
		}
		recs, err := promote.VerificationRecords(ctx, o.Verifier, repoName+"@"+h.Image.Digest, s.Name, h.Image.Digest)
		if err != nil {
			continue
		}
		if r, ok := gates.Latest(recs, env.Name); ok && r.Result == gates.Verified {
			return h.Image.Digest, ""
		}
	}
	return "", fmt.Sprintf("no earlier digest of %s was verified in %s (looked at %d in the GitOps history)", s.Name, env.Name, len(hist))
}

// appendRun folds a state or rollback run's GitOps changes and notes into
// the verification's report.
func appendRun(rep, sub *report.Report) {
	if sub == nil {
		return
	}
	rep.Deployments = append(rep.Deployments, sub.Deployments...)
	rep.Notes = append(rep.Notes, sub.Notes...)
	if sub.Error != "" {
		rep.Notes = append(rep.Notes, sub.Error)
	}
}

// Live returns the check promote's minSoak gate runs: does env's cluster
// run image (repository@digest) for the service now, rolled out and ready?
// It reads only the workloads (not the controller), waiting at most
// timeout.
func Live(cfg *config.Config, kubeconfig []byte, timeout time.Duration) promote.LiveCheck {
	return func(ctx context.Context, env string, svc config.Service, image string) error {
		e, err := cfg.Environment(env)
		if err != nil {
			return err
		}
		if e.Cluster == nil {
			return fmt.Errorf("environments[%s].cluster is not set, so whether %s still runs it cannot be checked", env, env)
		}
		client, err := kube.ParseKubeconfig(kubeconfig, e.Cluster.Context)
		if err != nil {
			return fmt.Errorf("--kubeconfig for %s: %w", env, err)
		}
		repoName, digest, ok := strings.Cut(image, "@")
		if !ok {
			return fmt.Errorf("%s is not pinned by digest", image)
		}
		t := verify.Target{Env: env, Controller: "none", Namespaces: e.Cluster.Namespaces,
			Services: []verify.Service{{Name: svc.Name, Repository: repoName, Digest: digest}}}
		res, err := verify.Run(ctx, client, t, verify.Options{Timeout: timeout})
		if err != nil {
			return err
		}
		if !res.Verified && len(res.Services) == 1 {
			return fmt.Errorf("%s: %s", res.Services[0].Reason, res.Services[0].Message)
		}
		if !res.Verified {
			return fmt.Errorf("%s: %s", res.Reason, res.Message)
		}
		return nil
	}
}

// imageFailure reports whether a service's reason is a verdict on its
// image (it was rolled out and did not become ready, or answered its
// probes wrong) rather than on slipway's view of the cluster.
func imageFailure(reason string) bool {
	switch reason {
	case verify.ReasonNoWorkload, verify.ReasonNotApplied, verify.ReasonWrongDigest, verify.ReasonNotFound, verify.ReasonCanceled, verify.ReasonStopped, verify.ReasonForbidden, "":
		return false
	}
	return true
}
