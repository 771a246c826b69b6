package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/wire"
)

// Ci runs the whole chain for the services whose inputs changed: unit and
// integration tests, image build, image policy and smoke test, push by
// digest, signature, tags, then one GitOps commit per auto-deployed
// environment. Services with an image already built from the same inputs are
// not rebuilt or retested when that image is proven (not denylisted, signed
// by the signing key for the service, carrying the attestations the first
// auto-deployed environment requires): it is tagged for this commit.
// Otherwise the service is rebuilt and the report says why. It prints a
// summary and fails if any service failed.
// +cache="never"
func (m *Slipway) Ci(
	ctx context.Context,
	// Only these services (default: all).
	// +optional
	service []string,
	// Rebuild and retest even when an image built from the same inputs
	// exists, and let the commit's tag move to the new image when it names
	// another one (the report names both digests).
	// +optional
	force bool,
	// Use a throwaway registry (the embedded one) and show the GitOps diff
	// instead of committing: the whole chain, signing included, writing nothing
	// anywhere that lasts.
	// +optional
	dryRun bool,
	// Do not write to the GitOps repository.
	// +optional
	skipDeploy bool,
	// After deploying, wait until each auto-deployed environment's cluster
	// runs the new images (as verify does; needs --kubeconfig and the
	// environment's cluster): the run fails if one does not.
	// +optional
	verify bool,
	// With --verify: when verification fails, roll each failed service back
	// to the last digest verified there and reject the failed digest.
	// +optional
	rollbackOnFailure bool,
	// Publish despite uncommitted changes in the services' inputs (without
	// it, ci refuses them and names the files): every tag then ends in
	// -dirty, never the bare commit SHA, and the provenance records
	// dirty: true.
	// +optional
	allowDirty bool,
	// Only the services of shard K of N ("K/N"), for splitting a run across
	// CI runners: run every shard with --skip-deploy, then one ci without
	// --shard on the same commit, which finds every image by its input
	// digest and makes one GitOps commit per environment (docs/scaling.md).
	// +optional
	shard string,
	// Build every selected service for these platforms
	// ("linux/amd64,linux/arm64"), one signed image index each, instead of
	// slipway.yaml's images.platforms and service.yaml's build.platforms.
	// +optional
	platforms []string,
) (string, error) {
	if rollbackOnFailure && !verify {
		return "", errors.New("--rollback-on-failure acts on a failed verification: add --verify")
	}
	start := time.Now()
	mm := m
	realRegistry := m.Registry
	if dryRun {
		cp := *m
		cp.Registry = ""
		mm = &cp
	}
	reg, p, err := mm.resolve(ctx, planOpts{services: service, force: force, lookup: true, embedded: dryRun,
		checkDirty: true, allowDirty: allowDirty || dryRun, shard: shard, platforms: platforms})
	if err != nil {
		return "", err
	}
	if !dryRun {
		if err := p.DirtyError(); err != nil {
			return "", err
		}
		if !skipDeploy && len(p.AutoDeployEnvironments()) > 0 {
			if err := m.refuseThrowawayInCI(p, "ci (it deploys to "+strings.Join(p.AutoDeployEnvironments(), ", ")+")"); err != nil {
				return "", err
			}
		}
	}
	rep := &report.Report{Kind: report.CI, Project: p.Project.Name, Commit: p.Commit, Branch: p.Branch, Registry: p.Registry, Started: start, DryRun: dryRun}
	if shard != "" {
		rep.Notes = append(rep.Notes, "shard "+shard+": only the services of this shard ran")
	}
	switch {
	case dryRun:
		rep.Notes = append(rep.Notes, "dry run: images went to the embedded registry, and the GitOps changes were computed and shown, not written")
		if realRegistry == "" {
			realRegistry = p.Project.Registry.Address
		}
		if realRegistry != "" {
			rep.Notes = append(rep.Notes, "dry run: the GitOps diff names the images as a real run would write them, in "+realRegistry)
		}
	case reg.embedded():
		rep.Notes = append(rep.Notes, "images went to the embedded registry (no --registry given); expose it with `dagger call embedded-registry up --ports 5000:5000`")
	}
	if !skipDeploy && !dryRun && m.throwaway(p) {
		rep.Notes = append(rep.Notes, "deployments went to the throwaway GitOps repository (no --gitops-repo given, no gitops.repo in slipway.yaml); see it with `dagger call gitops export --path ./gitops`")
	}
	switch {
	case dryRun && len(p.Uncommitted) > 0:
		rep.Notes = append(rep.Notes, fmt.Sprintf("dry run over uncommitted changes (a real run refuses them without --allow-dirty; tags here end in %s): %s",
			plan.DirtySuffix, describePaths(p)))
	case p.Dirty:
		rep.Notes = append(rep.Notes, fmt.Sprintf("built from uncommitted changes (--allow-dirty): tags end in %s, the provenance records dirty: true; changed: %s",
			plan.DirtySuffix, describePaths(p)))
	case p.DirtyUnchecked != "":
		rep.Notes = append(rep.Notes, p.DirtyUnchecked)
	}
	if !m.signs() {
		rep.Notes = append(rep.Notes, "no --signing-key or OIDC token given: images are unsigned, and environments that require signatures ("+strings.Join(signedEnvs(p), ", ")+") will refuse them")
	}

	// The denylist is read once, before anything is written: every service
	// of the run decides on the same one. The GitOps repository must also
	// be able to take what this run deploys, before anything is built.
	var preflight []string
	if !skipDeploy {
		preflight = p.AutoDeployEnvironments()
	}
	rs := runState{force: force}
	if rs.state, err = mm.stateSnapshot(ctx, reg, p, preflight); err != nil {
		return "", err
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.Project.Parallelism)
	for _, s := range p.Services {
		if !s.Selected {
			continue
		}
		g.Go(func() error {
			r, notes := mm.ciService(gctx, reg, p, s, rs)
			mu.Lock()
			rep.Services = append(rep.Services, r)
			rep.Notes = append(rep.Notes, notes...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	rep.Sort()
	rep.Notes = append(rep.Notes, scanNotes(p, rep)...)

	if !skipDeploy {
		for _, env := range p.Project.Environments {
			if !env.AutoDeploy {
				continue
			}
			var changes []wire.Change
			var names []string
			for _, r := range rep.Services {
				s, _ := p.Service(r.Name)
				if (r.Status == report.Built || r.Status == report.Reused) && s.DeploysTo(env.Name) {
					c := wire.Change{Service: r.Name, Repository: r.Repository, Tag: p.CommitTag(), Digest: r.Digest}
					if dryRun && realRegistry != "" {
						// Checked in the embedded registry, shown as a
						// real run would write it.
						c.Image = p.Project.ImageRepository(realRegistry, s.Service)
					}
					changes = append(changes, c)
					names = append(names, r.Name)
				}
			}
			if len(changes) == 0 {
				continue
			}
			progress("gitops %s: writing %s", env.Name, strings.Join(names, ", "))
			d, err := mm.deploy(ctx, reg, p, env.Name, changes, dryRun, len(service) == 0)
			if err != nil {
				d = &report.Deployment{Environment: env.Name, Services: names, Error: err.Error()}
			}
			held := make([]string, 0, len(d.Held))
			for s := range d.Held {
				held = append(held, s)
			}
			sort.Strings(held)
			for _, s := range held {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s was not deployed to %s: %s", s, env.Name, d.Held[s]))
			}
			rep.Deployments = append(rep.Deployments, *d)
		}
	}
	if verify && !dryRun && !skipDeploy && rep.OK() {
		var envs []string
		for _, d := range rep.Deployments {
			if d.Environment != "" && !slices.Contains(envs, d.Environment) {
				envs = append(envs, d.Environment)
			}
		}
		mm.verifyDeployed(ctx, reg, p, rep, envs, rollbackOnFailure, nil)
	}
	rep.Finished = time.Now()
	mm.saveReportNoting(ctx, rep)
	out := rep.Text() + rep.Diffs()
	if !rep.OK() {
		return "", errors.New(out + rep.Failures())
	}
	return out, nil
}

// describePaths names the uncommitted paths of p, at most ten.
func describePaths(p *plan.Plan) string {
	var names []string
	for i, c := range p.Uncommitted {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(p.Uncommitted)-10))
			break
		}
		names = append(names, c.Path+" ("+c.State+")")
	}
	return strings.Join(names, ", ")
}

func signedEnvs(p *plan.Plan) []string {
	var out []string
	for _, e := range p.Project.Environments {
		if e.RequireSignature {
			out = append(out, e.Name)
		}
	}
	if len(out) == 0 {
		return []string{"none configured"}
	}
	return out
}

// ciService runs the chain for one service and says how it ended, with
// notes for the run report (ignore entries that matched nothing).
func (m *Slipway) ciService(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service, rs runState) (report.Service, []string) {
	r := report.Service{Name: s.Name, Repository: s.Repository, InputDigest: s.Inputs.Digest}
	var notes []string
	fail := func(stage string, err error) (report.Service, []string) {
		r.Status, r.Stage, r.Error = report.Failed, stage, err.Error()
		progress("%s: FAILED at %s", s.Name, stage)
		return r, notes
	}
	timed := func(stage string, t0 time.Time) {
		r.Durations = append(r.Durations, report.Timing{Stage: stage, Elapsed: time.Since(t0)})
	}

	if s.Existing != "" {
		progress("%s: inputs %s unchanged, found %s; checking it before reuse", s.Name, s.Inputs.Short(), s.Existing)
		refused := ""
		// A reused image passes the same gate as a new one: without a
		// database, an environment that asks for a scan refuses it too.
		scanning, err := m.scanning(ctx, p)
		if err != nil {
			return fail("scan", err)
		}
		if scanning && len(p.Project.Environments) > 0 {
			// Proven first, then scanned under the same gate as a new
			// build, and only then signed and tagged.
			t0 := time.Now()
			chk, imgs, err := m.checkReuse(ctx, reg, p, s, rs)
			timed("verify", t0)
			if err != nil {
				return fail("verify", err)
			}
			refused = chk.Note
			for _, pi := range imgs {
				_, stale, err := m.scanGate(ctx, p, s, pi.img, &r, true, pi.platform)
				notes = append(notes, stale...)
				if err != nil {
					return fail("scan", prefixed(pi.platform, err))
				}
			}
		}
		if refused == "" {
			t0 := time.Now()
			out, err := m.retag(ctx, reg, p, s, rs)
			timed("retag", t0)
			if err != nil {
				return fail("publish", err)
			}
			refused = out.ReuseNote
			if refused == "" {
				notes = append(notes, merge(&r, out)...)
				r.Status, r.UnitTests, r.Smoke = report.Reused, "not run (unchanged)", "not run (unchanged)"
				if !m.signs() {
					notes = append(notes, fmt.Sprintf("%s: reused %s without verifying it (no --signing-key or OIDC token): only the denylist was checked", s.Name, r.Digest))
				}
				return r, notes
			}
		}
		progress("%s", refused)
		notes = append(notes, refused)
		r.Vulnerabilities, r.Blocked, r.Scan = nil, nil, ""
	}

	// An image that must be scanned but cannot be fails now, before
	// anything is built.
	if err := m.scanGateOpen(ctx, p); err != nil {
		return fail("scan", err)
	}

	if err := m.checkBuildSecrets(ctx, p, s); err != nil {
		return fail("build", err)
	}
	started := time.Now()
	t0 := started
	tr := m.testService(ctx, p, s)
	timed("test", t0)
	r.UnitTests, r.IntegrationTests = tr.unit, tr.integration
	if tr.err != nil {
		return fail(tr.stage, tr.err)
	}

	var imgs []platformImage
	var err error
	t0 = time.Now()
	if s.MultiPlatform() {
		progress("%s: building %s/%s for %s", s.Name, s.Dir, s.Dockerfile, strings.Join(s.Platforms, ", "))
		imgs, err = m.buildPlatforms(ctx, p, s)
		timed("build", t0)
		if err != nil {
			return fail("build", err)
		}
		t0 = time.Now()
		err = m.checkPlatforms(ctx, s, imgs)
		timed("arch-check", t0)
		if err != nil {
			return fail("build", err)
		}
		r.Platforms = platformReport(imgs)
		if r.TestPlatform, err = enginePlatform(); err != nil {
			return fail("build", err)
		}
	} else {
		progress("%s: building %s/%s", s.Name, s.Dir, s.Dockerfile)
		img, err := m.build(p, s).Sync(ctx)
		timed("build", t0)
		if err != nil {
			return fail("build", m.buildFailed(ctx, p, s, err))
		}
		imgs = []platformImage{{img: img}}
	}

	// Every platform's image is smoke-tested (a foreign one under
	// emulation) and scanned: an image that crashes at start, or carries
	// what the policy blocks, on any platform, is not published.
	t0 = time.Now()
	r.Smoke = "passed"
	for _, pi := range imgs {
		progress("%s: smoke test%s", s.Name, on(pi.platform))
		smokeOut, err := m.smoke(ctx, p, s, pi.img)
		if err != nil {
			timed("smoke", t0)
			r.Smoke = "failed" + on(pi.platform)
			return fail("smoke", prefixed(pi.platform, err))
		}
		if strings.HasPrefix(smokeOut, "skipped") {
			r.Smoke = "skipped"
		}
	}
	timed("smoke", t0)

	vulnPreds := map[string]*dagger.File{}
	if len(p.Project.Environments) > 0 {
		for _, pi := range imgs {
			pred, stale, err := m.scanGate(ctx, p, s, pi.img, &r, false, pi.platform)
			notes = append(notes, stale...)
			if err != nil {
				return fail("scan", prefixed(pi.platform, err))
			}
			vulnPreds[pi.platform] = pred
		}
	}

	progress("%s: publishing to %s", s.Name, s.Repository)
	t0 = time.Now()
	out, err := m.publish(ctx, reg, p, s, imgs, tr, started, vulnPreds, rs)
	timed("publish", t0)
	if err != nil {
		return fail("publish", err)
	}
	notes = append(notes, merge(&r, out)...)
	r.Status = report.Built
	signed := "unsigned"
	if r.Signature != "" {
		signed = "signed"
	}
	progress("%s: published %s@%s (%s)", s.Name, r.Repository, r.Digest, signed)
	return r, notes
}

// scanGate scans img under the first environment's policy and records the
// verdict in r (and how long it took); reused says the image was found by
// its input digest and is scanned again. It returns the vulnerability
// predicate to attest (nil when the gate failed or nothing was scanned) and
// a note for every stale ignore entry; the error is the gate's.
// For one platform of a multi-platform image (platform set), the counts
// add up over the platforms and the scan line names them.
func (m *Slipway) scanGate(ctx context.Context, p *plan.Plan, s plan.Service, img *dagger.Container, r *report.Service, reused bool, platform string) (*dagger.File, []string, error) {
	gate := p.Project.Environments[0].Name
	what := "scanning"
	if reused {
		what = "scanning the reused image"
	}
	progress("%s: %s%s under %s's policy", s.Name, what, on(platform), gate)
	t0 := time.Now()
	dec, pred, err := m.scan(ctx, p, s, img, gate)
	r.Durations = append(r.Durations, report.Timing{Stage: "scan", Elapsed: time.Since(t0)})
	if err != nil {
		return nil, nil, err
	}
	prev := r.Vulnerabilities
	switch {
	case dec.NotScanned != "":
		r.Scan = dec.NotScanned
		progress("%s: %s", s.Name, dec.NotScanned)
	case reused:
		r.Scan = "reused image scanned again under " + gate + "'s policy; " + dec.Database
	case platform != "":
		r.Scan = "each platform's image (" + strings.Join(s.Platforms, ", ") + ") scanned under " + gate + "'s policy; " + dec.Database
	default:
		r.Scan = "scanned under " + gate + "'s policy; " + dec.Database
	}
	notes, err := judge(r, dec)
	if platform != "" && prev != nil {
		r.Vulnerabilities = report.AddCounts(prev, r.Vulnerabilities)
	}
	return pred, notes, err
}

// on is " on PLATFORM" for a multi-platform image's platform, else "".
func on(platform string) string {
	if platform == "" {
		return ""
	}
	return " on " + platform
}

// prefixed names the platform in a multi-platform image's error.
func prefixed(platform string, err error) error {
	if platform == "" {
		return err
	}
	return fmt.Errorf("%s: %w", platform, err)
}

// judge records a scan decision in r: its counts and, when it blocks, the
// blocking findings and the gate's error; it returns a note for every
// stale ignore entry.
func judge(r *report.Service, dec *scanDecision) (notes []string, err error) {
	r.Vulnerabilities = dec.Counts
	for _, e := range dec.Stale {
		n := fmt.Sprintf("%s: stale ignore entry %s at %s:%d matches no finding (remove it)", r.Name, e.ID, e.File, e.Line)
		progress("%s", n)
		notes = append(notes, n)
	}
	if !dec.Pass {
		r.Blocked = dec.BlockedIDs
		return notes, fmt.Errorf("%s", dec.Summary)
	}
	return notes, nil
}

// merge copies the worker's publishing result into r and returns the notes
// it calls for (a commit tag moved by --force).
func merge(r *report.Service, out *wire.PublishResult) []string {
	r.Digest, r.Tags, r.Signature, r.Attestations, r.SizeBytes = out.Digest, out.Tags, out.Signature, out.Attestations, out.SizeBytes
	r.Moved = out.Moved
	// A multi-platform index: what the registry holds, in the order the
	// platforms were asked for, with what the build knew (emulated, the
	// architecture check).
	if len(out.Platforms) > 0 {
		pushed := map[string]report.PlatformImage{}
		for _, pi := range out.Platforms {
			pushed[pi.Platform] = pi
		}
		var merged []report.PlatformImage
		for _, b := range r.Platforms {
			if pi, ok := pushed[b.Platform]; ok {
				pi.Emulated, pi.Check = b.Emulated, b.Check
				merged = append(merged, pi)
				delete(pushed, b.Platform)
			}
		}
		for _, pi := range out.Platforms {
			if _, left := pushed[pi.Platform]; left {
				merged = append(merged, pi)
			}
		}
		r.Platforms = merged
	}
	if out.Repository != "" {
		r.Repository = out.Repository
	}
	if out.Vulnerabilities != nil {
		r.Vulnerabilities = out.Vulnerabilities
	}
	sort.Strings(r.Tags)
	if mv := out.Moved; mv != nil {
		return []string{fmt.Sprintf("%s: --force moved tag %s of %s from %s to %s", r.Name, mv.Tag, r.Repository, mv.From, mv.To)}
	}
	return nil
}

// scanNotes say, once per run, which vulnerability database the scans used
// and how old it was, or why images were not scanned.
func scanNotes(p *plan.Plan, rep *report.Report) []string {
	vulnDBMu.Lock()
	db, ok := vulnDBs[p.Project.Scan.Scanner]
	vulnDBMu.Unlock()
	if !ok {
		return nil
	}
	if db.info.Available {
		return []string{db.info.Describe(time.Now())}
	}
	var unscanned []string
	for _, s := range rep.Services {
		if strings.HasPrefix(s.Scan, "not scanned") {
			unscanned = append(unscanned, s.Name)
		}
	}
	if len(unscanned) == 0 {
		return nil // the services' errors say it
	}
	return []string{fmt.Sprintf("%s were not scanned for vulnerabilities: %s; no auto-deployed environment asks for a scan, so they were published and deployed; supply --vuln-db DIR to scan them (%s)",
		strings.Join(unscanned, ", "), db.info.Describe(time.Now()), scancmd.HowToGetDB(p.Project.Scan.Scanner))}
}
