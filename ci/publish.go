package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/wire"
)

// runState is what every service of one ci run shares: the GitOps state
// file read once at the start (its denylist), and --force.
type runState struct {
	// state is the worker's state-snapshot JSON.
	state *dagger.File
	force bool
}

// stateSnapshot reads the GitOps repository's state file (pins and
// denylist) once, before anything is written, for every later step of the
// run. In the same worker call it first runs the preflight of the
// environments given (the ones the run deploys to), so that one GitOps read
// stands before anything is built.
func (m *Slipway) stateSnapshot(ctx context.Context, reg *registryTarget, p *plan.Plan, preflight []string) (*dagger.File, error) {
	c, gargs := m.gitopsWorker(reg, p)
	args := append([]string{wire.WorkerBin, "state-snapshot", "--out", wire.StateFile, "--registry", reg.address}, gargs...)
	for _, e := range preflight {
		args = append(args, "--preflight", e)
	}
	r, err := execChecked(ctx, fresh(c), args)
	if err != nil {
		return nil, err
	}
	return r.ctr.File(wire.StateFile), nil
}

// reuseRequirements are the attestation kinds an image must carry to be
// reused: those the first auto-deployed environment requires.
func reuseRequirements(p *plan.Plan) []string {
	for _, e := range p.Project.Environments {
		if e.AutoDeploy {
			return e.RequireAttestations
		}
	}
	return nil
}

// reuseArgs are the flags of the reuse checks of s: a multi-platform
// service's image must be an index of a signed image per platform.
func reuseArgs(p *plan.Plan, s plan.Service) []string {
	args := []string{"--state", wire.StateFile}
	for _, k := range reuseRequirements(p) {
		args = append(args, "--require-attestation", k)
	}
	for _, pl := range s.Platforms {
		args = append(args, "--platform", pl)
	}
	return args
}

// publishArgs are the flags every publishing worker command shares.
// A fresh build gets every tag of the plan (the full SHA and the sortable
// branch tag); a reused image only the full SHA, so that rerunning a commit
// does not add a new timestamped tag each time.
func (m *Slipway) publishArgs(reg *registryTarget, p *plan.Plan, s plan.Service, tags []string, rs runState) []string {
	args := []string{"--repo", s.Repository, "--service", s.Name, "--commit", p.CommitTag(), "--out", wire.ResultFile}
	// A dirty build gets no input tag: a later clean run must not reuse it.
	if !p.Dirty {
		args = append(args, "--input-digest", s.Inputs.Digest)
	}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	if rs.force {
		args = append(args, "--force")
	}
	args = append(args, reuseArgs(p, s)...)
	return append(args, reg.insecureArgs()...)
}

// publish pushes the image by digest (for a multi-platform service, one
// index of every platform's image), signs it when a signer was given, and
// only then tags it: no tag ever points at an unsigned image of a signed
// pipeline. With a signer, the image is also attested before it is tagged:
// SLSA provenance v1 of the build, the results of its tests, its CycloneDX
// SBOM (made from the very tarball that is pushed) and, with a
// vulnerability database, the scan. Each platform's image of an index is
// signed and attested on its own (provenance, SBOM, tests and scan of that
// platform), before the index, which carries the provenance, the tests
// and an SBOM of every platform's packages.
func (m *Slipway) publish(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service, imgs []platformImage, tests testResult, started time.Time, vulnPreds map[string]*dagger.File, rs runState) (*wire.PublishResult, error) {
	tarball := imgs[0].img.AsTarball()
	if s.MultiPlatform() {
		tarball = indexTarball(imgs)
	}
	args := append([]string{wire.WorkerBin, "publish", "--tarball", wire.ImageTarball}, m.publishArgs(reg, p, s, p.Tags(), rs)...)
	if s.MultiPlatform() {
		// One platform is an index of one image, as several are.
		args = append(args, "--index")
	}
	c := fresh(m.workerFor(reg).
		WithMountedFile(wire.ImageTarball, tarball).
		WithMountedFile(wire.StateFile, rs.state))
	if m.signs() {
		repoURL := m.SourceURL
		if repoURL == "" {
			repoURL = "file:///" + p.Project.Name
		}
		// The engine that ran the build, as it reports itself.
		engine, err := dag.Version(ctx)
		if err != nil {
			return nil, fmt.Errorf("asking the engine for its version: %w", err)
		}
		finished := time.Now().UTC().Format(time.RFC3339)
		prov := func(platform, out string) []string {
			a := []string{wire.WorkerBin, "provenance", "--source", wire.SourceDir, "--service", s.Name, "--commit", p.Commit,
				"--repository", repoURL, "--ref", "refs/heads/" + p.Branch,
				"--builder-id", "https://slipway.dev/dagger-module/ci", "--builder-version", "dagger=" + engine,
				"--input-digest", s.Inputs.Digest, "--started", started.UTC().Format(time.RFC3339),
				"--finished", finished, "--out", out}
			if platform != "" {
				a = append(a, "--platform", platform)
			}
			if p.Dirty {
				a = append(a, "--dirty")
			}
			// The base images at the digests the plan resolved them to (and
			// folded into the input digest).
			return append(a, baseImageArgs(s, platform)...)
		}
		c = c.WithDirectory(wire.SourceDir, m.Source).WithExec(prov("", slsaPredicate))
		// The test-result predicate records, per kind, what really ran:
		// status, command and the runner's counts.
		suites, err := json.Marshal(tests.suites)
		if err != nil {
			return nil, fmt.Errorf("recording the test results of %s: %w", s.Name, err)
		}
		c = c.WithNewFile(testSuites, string(suites))
		tr := []string{wire.WorkerBin, "test-result", "--service", s.Name, "--suites", testSuites, "--out", testPredicate}
		indexSBOM := sbomArgs(p, s, "")
		if s.MultiPlatform() && len(imgs) == 1 {
			// Published as an index of one image: the SBOM is the index's.
			indexSBOM = append(indexSBOM, "--index")
		}
		c = c.WithExec(tr).WithExec(indexSBOM)
		args = append(args, "--predicate", "slsa="+slsaPredicate, "--predicate", "test="+testPredicate,
			"--predicate", "sbom="+sbomPredicate)
		if !s.MultiPlatform() {
			if vp := vulnPreds[""]; vp != nil {
				c = c.WithMountedFile(vulnPredicate, vp)
				args = append(args, "--predicate", "vuln="+vulnPredicate)
			}
		}
		for i, pi := range imgs {
			if pi.platform == "" {
				continue
			}
			slsa, sbom := fmt.Sprintf("%s/slsa-%d.json", wire.WorkDir, i), fmt.Sprintf("%s/sbom-%d.json", wire.WorkDir, i)
			c = c.WithExec(prov(pi.platform, slsa)).WithExec(sbomArgs(p, s, pi.platform, "--out", sbom))
			args = append(args, "--platform-predicate", pi.platform+":slsa="+slsa,
				"--platform-predicate", pi.platform+":sbom="+sbom,
				"--platform-predicate", pi.platform+":test="+testPredicate)
			if vp := vulnPreds[pi.platform]; vp != nil {
				vuln := fmt.Sprintf("%s/vuln-%d.json", wire.WorkDir, i)
				c = c.WithMountedFile(vuln, vp)
				args = append(args, "--platform-predicate", pi.platform+":vuln="+vuln)
			}
		}
	}
	return m.runPublish(ctx, c, args)
}

// retag reuses an image found by its input digest: the worker proves it
// first (not denylisted, signed by the configured key for this service,
// carrying the required attestations) and only then signs it for this
// commit and tags it; otherwise it writes nothing and says why.
func (m *Slipway) retag(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service, rs runState) (*wire.PublishResult, error) {
	args := append([]string{wire.WorkerBin, "retag", "--ref", s.Existing}, m.publishArgs(reg, p, s, []string{p.CommitTag()}, rs)...)
	return m.runPublish(ctx, fresh(m.workerFor(reg).WithMountedFile(wire.StateFile, rs.state)), args)
}

// checkReuse proves the image found by s's input digest without writing
// anything; when it may be reused it also returns the image (for a
// multi-platform service, each platform's), for the scan.
func (m *Slipway) checkReuse(ctx context.Context, reg *registryTarget, p *plan.Plan, s plan.Service, rs runState) (*wire.ReuseCheck, []platformImage, error) {
	args := append([]string{wire.WorkerBin, "reuse-check", "--ref", s.Existing, "--service", s.Name,
		"--export", wire.ImageTarball, "--out", wire.ResultFile}, reuseArgs(p, s)...)
	args = append(args, reg.insecureArgs()...)
	out, r, err := runWorker(ctx, fresh(m.workerFor(reg).WithMountedFile(wire.StateFile, rs.state)), args, exitFails, decodeJSON[wire.ReuseCheck])
	if err != nil || !out.Reusable {
		return out, nil, err
	}
	tarball := r.ctr.File(wire.ImageTarball)
	if !s.MultiPlatform() {
		return out, []platformImage{{img: dag.Container().Import(tarball)}}, nil
	}
	imgs := make([]platformImage, 0, len(s.Platforms))
	for _, pl := range s.Platforms {
		imgs = append(imgs, platformImage{platform: pl, img: dag.Container(dagger.ContainerOpts{Platform: dagger.Platform(pl)}).Import(tarball)})
	}
	return out, imgs, nil
}

// runPublish runs publish or retag and returns its result.
func (m *Slipway) runPublish(ctx context.Context, c *dagger.Container, args []string) (*wire.PublishResult, error) {
	out, _, err := runWorker(ctx, c, args, exitFails, decodeJSON[wire.PublishResult])
	if err != nil {
		return nil, err
	}
	if out.Service == nil && out.ReuseNote == "" {
		return nil, fmt.Errorf("the worker's %s result names no image", args[1])
	}
	return out, nil
}

// Predicates and their inputs, where the publishing worker makes them.
const (
	slsaPredicate = wire.WorkDir + "/slsa.json"
	testSuites    = wire.WorkDir + "/suites.json"
	testPredicate = wire.WorkDir + "/tests.json"
	sbomPredicate = wire.WorkDir + "/sbom.json"
)

// Publish tests, builds, smoke-tests, scans (with --vuln-db), pushes, signs
// and tags the affected services, without touching the GitOps repository:
// `ci --skip-deploy`.
// +cache="never"
func (m *Slipway) Publish(
	ctx context.Context,
	// Only these services (default: all).
	// +optional
	service []string,
	// Rebuild even when an image built from the same inputs exists.
	// +optional
	force bool,
	// Publish despite uncommitted changes in the services' inputs: every tag
	// then ends in -dirty (never the bare commit SHA) and the provenance
	// records dirty: true.
	// +optional
	allowDirty bool,
	// Only the services of shard K of N ("K/N").
	// +optional
	shard string,
	// Build for these platforms ("linux/amd64,linux/arm64"), one image
	// index per service, instead of the configured ones.
	// +optional
	platforms []string,
) (string, error) {
	return m.Ci(ctx, service, force, false, true, false, false, allowDirty, shard, platforms)
}

// Sign signs an image already in the registry, by digest, with the signing
// key (e.g. one pushed by another tool, or published before signing was set
// up). The signature is bound to the digest and records the service and
// commit.
// +cache="never"
func (m *Slipway) Sign(
	ctx context.Context,
	// Digest reference of the image: registry/repository@sha256:...
	ref string,
	// Service the image belongs to (recorded in the signature).
	// +optional
	service string,
) (string, error) {
	if !m.signs() {
		return "", fmt.Errorf("no signer: pass --signing-key and --signing-password, or an OIDC token (--oidc-token, or --oidc-request-url and --oidc-request-token)")
	}
	reg, p, err := m.resolve(ctx, planOpts{})
	if err != nil {
		return "", err
	}
	args := []string{wire.WorkerBin, "sign", "--ref", ref, "--commit", p.Commit, "--out", wire.ResultFile}
	if service != "" {
		args = append(args, "--service", service)
	}
	args = append(args, reg.insecureArgs()...)
	r, err := execChecked(ctx, fresh(m.workerFor(reg)), args)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(r.stderr) + "\n", nil
}
