package promote

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/state"
)

// StateOptions describe a change to the state file alone (pin, unpin,
// reject). It is committed directly to the GitOps branch, even for
// environments in pull-request mode: it changes no running image.
type StateOptions struct {
	// Config is the repository's configuration.
	Config *config.Config
	// RepoURL is the GitOps repository; GitOptions its auth and author.
	RepoURL    string
	GitOptions []gitops.Option
	// Reason and By are recorded in the entry (a rejection needs a reason).
	Reason, By string
	// DryRun reports the diff and writes nothing.
	DryRun bool
}

func (o StateOptions) validate(kind string) error {
	switch {
	case o.Config == nil:
		return fmt.Errorf("%s: no configuration", kind)
	case o.RepoURL == "":
		return fmt.Errorf("%s: no GitOps repository", kind)
	}
	return nil
}

// ErrNotRunning means a pin names a digest the environment does not run.
var ErrNotRunning = errors.New("the environment does not run this digest")

// Pin holds service in env at the digest it runs now, so that `ci` and
// promotions leave it alone until Unpin. digest, when not empty, must be
// that digest (a guard against pinning something else than what was
// looked at); to run another digest and pin it, use Rollback. The digest is
// read from the manifests at the very commit the pin is written on.
func Pin(ctx context.Context, o StateOptions, env, service, digest string) (*report.Report, error) {
	rn := newRun(report.Pin, o.Config, o.DryRun)
	defer rn.finish()
	if err := o.validate("pin"); err != nil {
		return rn.rep, err
	}
	e, svc, err := lookup(o.Config, env, service)
	if err != nil {
		return rn.rep, refused(rn.rep, env, err)
	}
	if digest != "" && !state.ValidDigest(digest) {
		return rn.rep, refused(rn.rep, env, fmt.Errorf("%w: %q is not a digest (sha256:<64 hex>)", ErrUnknown, digest))
	}
	layout := deploy.Layout(o.Config)
	var pinned state.Pin
	var existing bool
	msg := fmt.Sprintf("pin(%s): %s\n\nHeld by slipway pin: ci and promote leave %s in %s alone until `slipway unpin --env %s --service %s`.\n", e.Name, svc.Name, svc.Name, e.Name, e.Name, svc.Name)
	if o.Reason != "" {
		msg += "Reason: " + o.Reason + "\n"
	}
	res, err := state.Commit(ctx, o.RepoURL, o.Config.Project.GitOps.Branch, state.Path(o.Config), msg, func(dir string, st *state.State) error {
		cur, err := gitops.ReadImages(dir, layout, e.Name, []string{svc.Name})
		if err != nil {
			return err
		}
		img := cur[svc.Name].Image
		if img.Digest == "" {
			return fmt.Errorf("%w: %s runs %s with no digest; deploy it first, or roll back to a digest", ErrNotRunning, e.Name, img)
		}
		if digest != "" && img.Digest != digest {
			return fmt.Errorf("%w: %s runs %s, not %s; use rollback to run and pin another digest", ErrNotRunning, e.Name, img.Digest, digest)
		}
		pinned = state.Pin{Environment: e.Name, Service: svc.Name, Digest: img.Digest, Image: img.Name, Reason: o.Reason, By: o.By, At: time.Now(), SourceCommit: commitOf(img.Tag)}
		if p, ok := st.Pinned(e.Name, svc.Name); ok && p.Digest == img.Digest {
			pinned, existing = p, true
			return nil
		}
		existing = false
		_, err = st.SetPin(pinned)
		return err
	}, o.DryRun, o.GitOptions...)
	rn.rep.Deployments = append(rn.rep.Deployments, stateDeployment(e.Name, []string{svc.Name}, o.RepoURL, res, err))
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return rn.rep, refused(rn.rep, env, err)
		}
		return rn.rep, err
	}
	if existing {
		rn.note("%s in %s was already pinned to %s (%s): nothing written", svc.Name, e.Name, pinned.Digest, pinned.Reason)
	} else {
		rn.note("%s %s in %s to %s", verb(o.DryRun, "pinned", "would pin"), svc.Name, e.Name, pinned.Digest)
	}
	return rn.rep, nil
}

// Unpin releases the pin of service in env; without one, nothing is
// written.
func Unpin(ctx context.Context, o StateOptions, env, service string) (*report.Report, error) {
	rn := newRun(report.Unpin, o.Config, o.DryRun)
	defer rn.finish()
	if err := o.validate("unpin"); err != nil {
		return rn.rep, err
	}
	e, svc, err := lookup(o.Config, env, service)
	if err != nil {
		return rn.rep, refused(rn.rep, env, err)
	}
	var old state.Pin
	var found bool
	msg := fmt.Sprintf("unpin(%s): %s\n\nReleased by slipway unpin: ci and promote may change %s in %s again.\n", e.Name, svc.Name, svc.Name, e.Name)
	if o.Reason != "" {
		msg += "Reason: " + o.Reason + "\n"
	}
	res, err := state.Commit(ctx, o.RepoURL, o.Config.Project.GitOps.Branch, state.Path(o.Config), msg, func(_ string, st *state.State) error {
		old, found = st.Unpin(e.Name, svc.Name)
		return nil
	}, o.DryRun, o.GitOptions...)
	rn.rep.Deployments = append(rn.rep.Deployments, stateDeployment(e.Name, []string{svc.Name}, o.RepoURL, res, err))
	if err != nil {
		return rn.rep, err
	}
	if !found {
		rn.note("%s was not pinned in %s: nothing written", svc.Name, e.Name)
	} else {
		rn.note("%s %s in %s (was held at %s)", verb(o.DryRun, "unpinned", "would unpin"), svc.Name, e.Name, old.Digest)
	}
	return rn.rep, nil
}

// Reject adds digest to the denylist: no deployment (`ci` included) and no
// promotion or rollback will ever point an environment at it again.
// Environments that run it now are named in the report's notes; they keep
// running it until rolled back. Rejecting a digest twice writes nothing.
func Reject(ctx context.Context, o StateOptions, digest string) (*report.Report, error) {
	rn := newRun(report.Reject, o.Config, o.DryRun)
	defer rn.finish()
	if err := o.validate("reject"); err != nil {
		return rn.rep, err
	}
	if r, d, ok := strings.Cut(digest, "@"); ok && r != "" {
		digest = d
	}
	if !state.ValidDigest(digest) {
		return rn.rep, refused(rn.rep, "", fmt.Errorf("%w: %q is not a digest (sha256:<64 hex>)", ErrUnknown, digest))
	}
	if strings.TrimSpace(o.Reason) == "" {
		return rn.rep, refused(rn.rep, "", fmt.Errorf("%w: rejecting %s needs a reason (it is kept in the state file for whoever meets the refusal)", state.ErrInvalidEntry, digest))
	}
	layout := deploy.Layout(o.Config)
	var running []string
	var existing bool
	msg := fmt.Sprintf("reject: %s\n\nDenylisted by slipway reject: never deployed or promoted again.\nReason: %s\n", digest, o.Reason)
	res, err := state.Commit(ctx, o.RepoURL, o.Config.Project.GitOps.Branch, state.Path(o.Config), msg, func(dir string, st *state.State) error {
		running = runningIn(dir, layout, o.Config, digest)
		_, existing = st.Denylisted(digest)
		_, err := st.Deny(state.Denied{Digest: digest, Reason: o.Reason, By: o.By, At: time.Now()})
		return err
	}, o.DryRun, o.GitOptions...)
	rn.rep.Deployments = append(rn.rep.Deployments, stateDeployment("", nil, o.RepoURL, res, err))
	if err != nil {
		return rn.rep, err
	}
	if existing {
		rn.note("%s was already denylisted: nothing written", digest)
	} else {
		rn.note("%s %s", verb(o.DryRun, "denylisted", "would denylist"), digest)
	}
	for _, r := range running {
		rn.note("%s still runs it: roll it back (slipway rollback) to stop running it", r)
	}
	return rn.rep, nil
}

// runningIn lists "<service> in <env>" for every place the manifests at dir
// point at digest.
func runningIn(dir string, layout gitops.Layout, cfg *config.Config, digest string) []string {
	var out []string
	for _, e := range cfg.EnvironmentNames() {
		for _, s := range cfg.Services {
			if !s.DeploysTo(e) {
				continue
			}
			cur, err := gitops.ReadImages(dir, layout, e, []string{s.Name})
			if err == nil && cur[s.Name].Image.Digest == digest {
				out = append(out, s.Name+" in "+e)
			}
		}
	}
	sort.Strings(out)
	return out
}

// stateDeployment reports a state commit.
func stateDeployment(env string, services []string, repoURL string, res *gitops.Result, err error) report.Deployment {
	d := report.Deployment{Environment: env, Services: services, Repository: redact(repoURL)}
	if services == nil {
		d.Services = []string{}
	}
	if res != nil {
		d.Changed, d.Commit, d.Branch, d.Diff = res.Changed, res.Commit, res.Branch, res.Diff
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

func verb(dryRun bool, done, would string) string {
	if dryRun {
		return would
	}
	return done
}

// redact drops credentials from a URL for reports.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
			return u[:i+3] + rest[at+1:]
		}
	}
	return u
}
