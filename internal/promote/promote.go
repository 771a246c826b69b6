// Package promote moves images that already run in one environment into the
// next, as one safe operation: read the digests from the source
// environment's GitOps state, refuse anything the target environment cannot
// accept (denylisted, pinned, unsigned, unattested, failing the target's
// vulnerability policy), copy or tag by digest in the registry, and write one
// GitOps commit (or pull request) for the target. Every check of every
// service runs before the first write, so a refusal has no side effect at
// all: nothing copied, nothing tagged, nothing committed.
//
// It also holds the release manager's other levers: Rollback (deploy an
// older, still verifiable digest and pin it in the same commit), Pin, Unpin
// and Reject (a digest denylist), all kept in the GitOps repository by the
// state package so that every pipeline honours them.
package promote

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

// Sentinel errors. Every refusal wraps ErrRefused and one of the others.
var (
	// ErrRefused is wrapped by the error of every run that refused a
	// service (and therefore wrote nothing).
	ErrRefused = errors.New("refused")
	// ErrUnknown: the environment or service is not in the configuration,
	// or the service is not deployed to the environment.
	ErrUnknown = errors.New("unknown environment or service")
	// ErrNotDeployed: the source environment runs no digest for the service.
	ErrNotDeployed = errors.New("not deployed in the source environment")
	// ErrDenylisted: the digest was rejected (slipway reject).
	ErrDenylisted = errors.New("digest is denylisted")
	// ErrPinned: the target environment holds the service at another digest.
	ErrPinned = errors.New("service is pinned in the target environment")
	// ErrUnverified: the image is missing, or its signature or a required
	// attestation does not verify.
	ErrUnverified = errors.New("image cannot be verified")
	// ErrScanFailed: the re-scan under the target's policy blocked the image
	// (or could not run).
	ErrScanFailed = errors.New("vulnerability gate failed")
)

// Scanner re-scans the exact image digestRef under an environment's
// vulnerability policy. The scanning stage provides one; Options.Scanner
// may be nil, and the report then says the image was not re-scanned.
type Scanner interface {
	Scan(ctx context.Context, digestRef string, policy config.Policy) (ScanResult, error)
}

// ScanResult is the outcome of one scan under one policy.
type ScanResult struct {
	// Passed is true when the policy lets the image through.
	Passed bool
	// Vulnerabilities counts findings by severity (CRITICAL, HIGH, ...).
	Vulnerabilities map[string]int
	// Blocked names the findings that failed the gate.
	Blocked []string
	// Summary is one line for people, e.g. "2 HIGH blocked (failOn HIGH)".
	Summary string
}

// Options describe one promotion.
type Options struct {
	// Config is the repository's configuration.
	Config *config.Config
	// From and To are the source and target environments.
	From, To string
	// Services to promote; empty means every service deployed to both.
	Services []string
	// DryRun checks everything and reports what would be copied and the
	// GitOps diff, writing nothing.
	DryRun bool
	// Registry reaches the registries (credentials, retries).
	Registry *registry.Client
	// Verifier checks signatures and attestations; required when the
	// target environment requires either.
	Verifier *signing.Verifier
	// Scanner re-scans each image under the target's policy; nil skips the
	// re-scan (noted in the report).
	Scanner Scanner
	// TargetRegistry is the registry address of the target environment
	// (e.g. "prod.example.com/acme"): images are copied there, with their
	// signatures and attestations, into <address>/<prefix>/<image>. Empty
	// keeps each image in the repository the source environment runs it
	// from, and only tags it.
	TargetRegistry string
	// RepoURL is the GitOps repository; GitOptions its auth, author and
	// pull-request client.
	RepoURL    string
	GitOptions []gitops.Option
	// SourceURL is the source repository the images must have been built
	// from: the SLSA provenance must name it. Empty checks only that the
	// provenance's commit is the one its signature records.
	SourceURL string
	// Ignores loads a service's vulnerability ignore files, for re-judging
	// attested findings under the target's policy when no re-scan runs
	// (nil: no ignore entries apply).
	Ignores IgnoreLoader
	// Signer, when set, countersigns what is promoted, keylessly: this is
	// how a release workflow vouches for the images it promotes into an
	// environment that accepts only its signatures (signedBy; into one
	// without signedBy, nothing is countersigned). The checks
	// then take, instead of a signature To accepts, a signature that
	// SourceVerifier (the signers From accepts) verifies for the service,
	// and a Signer whose identity To accepts; only when every check has
	// passed is each image signed (keeping its source commit), before
	// anything else is written. Nothing is signed in a dry run.
	Signer         *signing.Signer
	SourceVerifier *signing.Verifier
	// RunID is recorded in countersignatures.
	RunID string
	// Approvers verify approvals into To when it requires them
	// (requireApproval): one verifier per accepted key, one for its
	// keyless identities.
	Approvers []*signing.Verifier
	// Live checks, for To's minSoak, that From's cluster still runs an
	// image; nil when there is no access to it.
	Live LiveCheck
	// Now is the clock of the gates (default time.Now).
	Now func() time.Time
}

// Run promotes, from environment From to environment To, the digests From
// runs (all of Services, or every service deployed to both), in one
// all-or-nothing step:
//
//  1. read each service's image from From's manifests and the state file;
//  2. refuse what is denylisted, pinned in To to another digest, missing,
//     unsigned or unattested where To requires it, or blocked by the
//     re-scan under To's policy; any refusal ends the run here, with no
//     side effect;
//  3. copy by digest into the target repository with signatures and
//     attestations, then the source-commit tag (when it differs from the
//     source repository; within one repository nothing is copied);
//  4. write one GitOps commit, or pull request, for To;
//  5. point the environment tag (the name of To) at each promoted digest.
//
// Services To already runs are reported Unchanged and not touched; when all
// are, nothing is written. The report is returned in every case where one
// could be built; the error wraps ErrRefused for refusals.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	rn := newRun(report.Promote, o.Config, o.DryRun)
	defer rn.finish()
	rep := rn.rep
	if err := o.validate(); err != nil {
		return rep, err
	}
	cfg := o.Config
	rep.Notes = append(rep.Notes, fmt.Sprintf("promoting from %s to %s", o.From, o.To))
	from, errFrom := cfg.Environment(o.From)
	to, errTo := cfg.Environment(o.To)
	if err := errors.Join(errFrom, errTo); err != nil {
		return rep, refused(rep, o.To, fmt.Errorf("%w: %w", ErrUnknown, err))
	}
	services := o.selectServices(rn, from, to)
	if len(services) == 0 && len(rn.entries) == 0 {
		return rep, refused(rep, o.To, fmt.Errorf("%w: no service is deployed to both %s and %s", ErrUnknown, from.Name, to.Name))
	}
	s, err := open(ctx, o.RepoURL, cfg, o.GitOptions)
	if err != nil {
		return rep, err
	}
	defer s.close()
	rep.Notes = append(rep.Notes, fmt.Sprintf("read %s from GitOps commit %s", from.Name, s.tip))

	ch := &checker{reg: o.Registry, verifier: o.Verifier, scanner: o.Scanner, env: to, state: s.state, sourceURL: o.SourceURL, ignores: o.Ignores,
		gates: &gateInputs{from: from.Name, approvers: o.Approvers, live: o.Live, now: o.Now}}
	var cands []*candidate
	for _, svc := range services {
		c := &candidate{service: svc, rep: rn.add(svc.Name), run: rn}
		cur, err := s.current(from.Name, svc.Name)
		if err != nil {
			c.refuse("read", fmt.Errorf("%w: %w", ErrNotDeployed, err))
			continue
		}
		if cur.Image.Digest == "" {
			c.refuse("read", fmt.Errorf("%w: %s runs %s with no digest (%s %s); deploy it to %s first", ErrNotDeployed, from.Name, cur.Image, cur.File, cur.Key, from.Name))
			continue
		}
		if !hasRegistry(cur.Image.Name) {
			c.refuse("read", fmt.Errorf("%w: %s runs %q (%s %s), which names no registry", ErrNotDeployed, from.Name, cur.Image, cur.File, cur.Key))
			continue
		}
		c.src = cur.Image
		c.dstRepo = cur.Image.Name
		if o.TargetRegistry != "" {
			c.dstRepo = cfg.Project.ImageRepository(o.TargetRegistry, svc)
		}
		c.rep.Repository, c.rep.Digest = c.dstRepo, c.src.Digest
		cands = append(cands, c)
	}
	if o.Signer != nil && len(to.SignedBy) == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("nothing countersigned: %s takes the build's signatures (it lists no signedBy of its own)", to.Name))
	} else if o.Signer != nil {
		cs, err := newCountersigner(ctx, o, from, to)
		if err != nil {
			return rep, refused(rep, o.To, err)
		}
		ch.countersign = cs
		rep.Notes = append(rep.Notes, "countersigning as "+cs.id.String())
	}
	ch.run(ctx, cands, cfg.Project.Parallelism)
	if o.Scanner == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("not re-scanned: no scanner was given, so the images were not checked against %s's vulnerability policy (failOn %s)", to.Name, to.Policy.FailOn))
	}
	if err := rn.allOrNothing(); err != nil {
		return rep, err
	}
	return rep, apply(ctx, applyArgs{
		run: rn, session: s, cfg: cfg, env: to, cands: cands, dryRun: o.DryRun,
		reg: o.Registry, verifier: o.Verifier, repoURL: o.RepoURL, gitOptions: o.GitOptions,
		note:        fmt.Sprintf("Promoted from %s (GitOps commit %s) by slipway promote.", from.Name, s.tip),
		complete:    len(o.Services) == 0,
		countersign: ch.countersign,
	})
}

func (o Options) validate() error {
	switch {
	case o.Config == nil:
		return errors.New("promote: no configuration")
	case o.Registry == nil:
		return errors.New("promote: no registry client")
	case o.RepoURL == "":
		return errors.New("promote: no GitOps repository")
	case o.From == "" || o.To == "":
		return errors.New("promote: both the source and the target environment are needed")
	case o.From == o.To:
		return fmt.Errorf("promote: %s to itself: the source and target environments must differ", o.From)
	}
	return nil
}

// selectServices returns the services to promote, recording refusals for
// the ones asked for that cannot be.
func (o Options) selectServices(rn *run, from, to config.Environment) []config.Service {
	var out []config.Service
	if len(o.Services) == 0 {
		for _, s := range o.Config.Services {
			if s.DeploysTo(from.Name) && s.DeploysTo(to.Name) {
				out = append(out, s)
			}
		}
		return out
	}
	seen := map[string]bool{}
	for _, name := range o.Services {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, err := o.Config.Service(name)
		if err == nil {
			for _, e := range []string{from.Name, to.Name} {
				if !s.DeploysTo(e) {
					err = fmt.Errorf("service %s is not deployed to %s (%s: deploy)", s.Name, e, serviceFile(s))
					break
				}
			}
		}
		if err != nil {
			rn.refuse(rn.add(name), "config", fmt.Errorf("%w: %w", ErrUnknown, err))
			continue
		}
		out = append(out, s)
	}
	return out
}

func serviceFile(s config.Service) string {
	if s.File != "" {
		return s.File
	}
	return s.Dir + "/service.yaml"
}

// hasRegistry reports whether an image name starts with a registry host.
func hasRegistry(name string) bool {
	host, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(host, ".:") || host == "localhost")
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// sourceCommit picks the commit that names a GitOps change: the tag every
// changed image shares when it is a commit id, else fallback.
func sourceCommit(cands []*candidate, fallback string) string {
	common := ""
	for _, c := range cands {
		if !hexRE.MatchString(c.src.Tag) || (common != "" && c.src.Tag != common) {
			return fallback
		}
		common = c.src.Tag
	}
	if common == "" {
		return fallback
	}
	return common
}

// run is a report under construction: per-service entries are kept by
// pointer while checks fill them in, and copied into the report at the end.
type run struct {
	rep     *report.Report
	entries []*report.Service
	mu      sync.Mutex
	errs    map[*report.Service]error
}

func newRun(kind report.Kind, cfg *config.Config, dryRun bool) *run {
	r := &report.Report{Kind: kind, Started: time.Now().UTC(), DryRun: dryRun, Services: []report.Service{}}
	if cfg != nil {
		r.Project = cfg.Project.Name
	}
	return &run{rep: r, errs: map[*report.Service]error{}}
}

// refuse records the refusal of one service (safe for concurrent use).
func (r *run) refuse(s *report.Service, stage string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Status, s.Stage, s.Error = report.Refused, stage, err.Error()
	r.errs[s] = err
}

// add starts the entry of a service.
func (r *run) add(name string) *report.Service {
	s := &report.Service{Name: name}
	r.entries = append(r.entries, s)
	return s
}

func (r *run) note(format string, args ...any) {
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, args...))
}

func (r *run) finish() {
	r.rep.Services = r.rep.Services[:0]
	for _, s := range r.entries {
		r.rep.Services = append(r.rep.Services, *s)
	}
	r.rep.Finished = time.Now().UTC()
	r.rep.Sort()
}

// refused records a run-level refusal in the report: a note, and a failed
// deployment of env (so that the report is not OK) unless one is there.
func refused(r *report.Report, env string, err error) error {
	err = fmt.Errorf("%w: %w", ErrRefused, err)
	r.Notes = append(r.Notes, err.Error())
	for _, d := range r.Deployments {
		if d.Error != "" {
			return err
		}
	}
	r.Deployments = append(r.Deployments, report.Deployment{Environment: env, Services: []string{}, Error: err.Error()})
	return err
}

// allOrNothing turns per-service refusals into the run's refusal: the other
// services are skipped, and nothing is written.
func (r *run) allOrNothing() error {
	var names []string
	var errs []error
	for _, s := range r.entries {
		if s.Status == report.Refused {
			names = append(names, s.Name)
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, r.errs[s]))
		}
	}
	if len(names) == 0 {
		return nil
	}
	for _, s := range r.entries {
		if s.Status != report.Refused {
			s.Status, s.Stage = report.Skipped, ""
			s.Error = fmt.Sprintf("passed every check, but not written: %s refused (all or nothing)", strings.Join(names, ", "))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("%w (nothing was copied, tagged or committed):\n%w", ErrRefused, errors.Join(errs...))
}

// countersigner is a promotion's own signer and what it checks.
type countersigner struct {
	signer *signing.Signer
	id     signing.SignerIdentity
	source *signing.Verifier
	runID  string
	// commits are the source commits of the images' verified signatures,
	// by digest, carried into the countersignatures.
	mu      sync.Mutex
	commits map[string]string
}

// newCountersigner checks, before any image, that the source's signers can
// be verified and that the target accepts this run's signer.
func newCountersigner(ctx context.Context, o Options, from, to config.Environment) (*countersigner, error) {
	if o.SourceVerifier == nil {
		return nil, fmt.Errorf("%w: countersigning needs the signers %s accepts to verify its images, and none is configured (signing.identities, or a public key)", ErrUnverified, from.Name)
	}
	id, err := o.Signer.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("countersigning: %w", err)
	}
	if o.Verifier == nil {
		return nil, fmt.Errorf("%w: %s names no signer to accept (signedBy, signing.identities): countersigning as %s would prove nothing", ErrUnverified, to.Name, id)
	}
	if err := o.Verifier.AcceptsSigner(id); err != nil {
		return nil, fmt.Errorf("%w: %s would not accept this run's signatures: %w", ErrUnverified, to.Name, err)
	}
	return &countersigner{signer: o.Signer, id: id, source: o.SourceVerifier, runID: o.RunID, commits: map[string]string{}}, nil
}

// verify checks the image's signature by the source's signers, in place of
// the target's, and returns the verified signatures.
func (cs *countersigner) verify(ctx context.Context, ref, digest, svc string) ([]signing.Signature, error) {
	sigs, err := cs.source.Verify(ctx, ref, map[string]string{signing.AnnotationService: svc})
	if err != nil {
		return nil, fmt.Errorf("no signature the source environment accepts (to countersign): %w", err)
	}
	cs.mu.Lock()
	cs.commits[digest] = sigs[0].Annotations[signing.AnnotationSourceCommit]
	cs.mu.Unlock()
	return sigs, nil
}

// sign countersigns the candidates whose environment entry changes, before
// anything else is written.
func (cs *countersigner) sign(ctx context.Context, rn *run, cands []*candidate, dryRun bool) error {
	n := len(cands)
	for _, c := range cands {
		if dryRun {
			break
		}
		ann := map[string]string{signing.AnnotationService: c.service.Name, signing.AnnotationRunID: cs.runID}
		if commit := cs.commits[c.src.Digest]; commit != "" {
			ann[signing.AnnotationSourceCommit] = commit
		}
		// A multi-platform index: each platform's image first, then the
		// index, as ci signs them.
		for _, child := range c.children {
			cann := map[string]string{signing.AnnotationService: c.service.Name, signing.AnnotationRunID: cs.runID, signing.AnnotationPlatform: child.Platform}
			if commit := cs.commits[child.Digest()]; commit != "" {
				cann[signing.AnnotationSourceCommit] = commit
			}
			if _, err := cs.signer.Sign(ctx, child.Ref, cann); err != nil {
				c.refuse("sign", fmt.Errorf("countersigning the %s image %s: %w", child.Platform, child.Ref, err))
				return rn.allOrNothing()
			}
		}
		if _, err := cs.signer.Sign(ctx, c.srcRef(), ann); err != nil {
			c.refuse("sign", fmt.Errorf("countersigning %s: %w", c.srcRef(), err))
			return rn.allOrNothing()
		}
	}
	if dryRun && n > 0 {
		rn.rep.Notes = append(rn.rep.Notes, fmt.Sprintf("dry run: %d image(s) would be countersigned as %s", n, cs.id))
	} else if n > 0 {
		rn.rep.Notes = append(rn.rep.Notes, fmt.Sprintf("countersigned %d image(s) as %s", n, cs.id))
	}
	return nil
}
