package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops/edit"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

// candidate is one service on its way into an environment.
type candidate struct {
	service config.Service
	// src is the image where it is now: repository, tag, digest.
	src edit.Image
	// dstRepo is the repository the environment will run it from.
	dstRepo string
	rep     *report.Service
	run     *run
	// changed is set when the environment's manifests must change.
	changed bool
	// children are the platform images of a multi-platform index (none
	// for a single image), known once checked.
	children []registry.Child
}

func (c *candidate) srcRef() string { return c.src.Name + "@" + c.src.Digest }
func (c *candidate) dstRef() string { return c.dstRepo + "@" + c.src.Digest }

// copies reports whether the image must be copied into another repository.
func (c *candidate) copies() bool { return c.dstRepo != c.src.Name }

func (c *candidate) refuse(stage string, err error) { c.run.refuse(c.rep, stage, err) }

// AttestationPredicates maps the kinds of requireAttestations to the
// predicate types that satisfy them, in order of preference.
var AttestationPredicates = map[string][]string{
	"slsa": {signing.PredicateSLSAProvenanceV1},
	"sbom": {signing.PredicateCycloneDX},
	"vuln": {signing.PredicateVulnScan},
	"test": {signing.PredicateTestResult},
}

// checker runs every check an environment imposes on an incoming image.
type checker struct {
	reg      *registry.Client
	verifier *signing.Verifier
	scanner  Scanner
	env      config.Environment
	state    *state.State
	// ignorePin skips the pin check (a rollback replaces the pin).
	ignorePin bool
	// sourceURL is the configured source repository the SLSA provenance
	// must name ("" checks only the commit).
	sourceURL string
	// ignores loads the ignore files that apply when attested findings
	// are re-judged (nil: none).
	ignores IgnoreLoader
	// countersign, when set, takes the source's signature in place of the
	// target's (the promotion signs for the target once all checks pass).
	countersign *countersigner
	// gates holds what the promotion gates read (nil: none apply).
	gates *gateInputs
}

// run checks the candidates, at most parallel at a time, recording each
// outcome in its report entry.
func (ch *checker) run(ctx context.Context, cands []*candidate, parallel int) {
	if parallel < 1 {
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, c := range cands {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if stage, err := ch.check(ctx, c); err != nil {
				c.refuse(stage, err)
			}
		}()
	}
	wg.Wait()
}

// check returns the stage and reason of a refusal, or nil.
func (ch *checker) check(ctx context.Context, c *candidate) (string, error) {
	env, svc, digest := ch.env.Name, c.service.Name, c.src.Digest
	if _, ok := ch.state.Denylisted(digest); ok {
		reason, _ := ch.state.Hold(env, svc, digest)
		return "state", fmt.Errorf("%w: %s in %s; it is never deployed or promoted again", ErrDenylisted, reason, ch.state.File())
	}
	if p, ok := ch.state.Pinned(env, svc); ok && !ch.ignorePin && p.Digest != digest {
		reason, _ := ch.state.Hold(env, svc, digest)
		return "state", fmt.Errorf("%w: %s in %s; release it with `slipway unpin --env %s --service %s`, or roll back instead", ErrPinned, reason, ch.state.File(), env, svc)
	}
	ref := c.srcRef()
	ok, err := ch.reg.Exists(ctx, ref)
	if err != nil {
		return "verify", fmt.Errorf("%w: %w", ErrUnverified, err)
	}
	if !ok {
		return "verify", fmt.Errorf("%w: %s is not in the registry", ErrUnverified, ref)
	}
	if (ch.env.RequireSignature || len(ch.env.RequireAttestations) > 0) && ch.verifier == nil {
		return "verify", fmt.Errorf("%w: %s requires signed images (slipway.yaml: environments[%s]) but no public key was given", ErrUnverified, env, env)
	}
	// A multi-platform index is promoted whole: every platform's image
	// must pass what the index passes, under its own digest, and each one
	// is re-scanned (packages differ by architecture).
	children, err := ch.reg.Children(ctx, ref)
	if err != nil {
		return "verify", fmt.Errorf("%w: reading the platforms of %s: %w", ErrUnverified, ref, err)
	}
	c.children = children
	ct := &content{env: ch.env, svc: c.service, digest: digest, sourceURL: ch.sourceURL,
		rescanned: ch.scanner != nil, ignores: ch.ignores, now: time.Now()}
	needCommits := slices.Contains(ch.env.RequireAttestations, "slsa")
	if ch.env.RequireSignature || needCommits || ch.countersign != nil {
		var sigs []signing.Signature
		var err error
		if ch.countersign != nil {
			sigs, err = ch.countersign.verify(ctx, ref, digest, svc)
		} else {
			sigs, err = ch.verifier.Verify(ctx, ref, map[string]string{signing.AnnotationService: svc})
		}
		if err != nil && (ch.env.RequireSignature || ch.countersign != nil) {
			return "verify", fmt.Errorf("%w: %s requires a valid signature by an accepted signer (the project's key, or signedBy / signing.identities) for service %s: %w", ErrUnverified, env, svc, err)
		}
		if ch.env.RequireSignature && len(sigs) > 0 {
			// Where the verified signature is (a classic tag is copied
			// under the same name into the target repository).
			c.rep.Signature = sigs[0].Ref
			if strings.HasSuffix(sigs[0].Ref, ".sig") {
				c.rep.Signature = c.dstRepo + ":" + strings.Replace(digest, ":", "-", 1) + ".sig"
			}
		}
		for _, sg := range sigs {
			if commit := sg.Annotations[signing.AnnotationSourceCommit]; commit != "" && !slices.Contains(ct.signedCommits, commit) {
				ct.signedCommits = append(ct.signedCommits, commit)
			}
		}
	}
	// Every required kind must verify, then say what the environment
	// needs: the content is read only from verified statements.
	for _, kind := range ch.env.RequireAttestations {
		if len(children) > 0 && PerPlatformOnly(kind) {
			// Scanned per platform: judged on each platform's image below.
			c.rep.Attestations = append(c.rep.Attestations, kind)
			continue
		}
		sts, err := ch.attested(ctx, ref, kind)
		if err != nil {
			return "verify", fmt.Errorf("%w: %s requires a verified %s attestation: %w", ErrUnverified, env, kind, err)
		}
		if err := ct.judge(kind, sts); err != nil {
			return "attest", err
		}
		c.rep.Attestations = append(c.rep.Attestations, kind)
	}
	if stage, err := ch.gate(ctx, c, ref); err != nil {
		return stage, err
	}
	if d := ct.decision; d != nil && ch.scanner == nil {
		c.rep.Vulnerabilities, c.rep.Blocked = d.CountsByName(), d.BlockingIDs()
	}
	for _, child := range children {
		if stage, err := ch.checkChild(ctx, c, child); err != nil {
			return stage, fmt.Errorf("%s image of %s: %w", child.Platform, digest, err)
		}
	}
	scanRefs := []string{ref}
	if len(children) > 0 {
		scanRefs = scanRefs[:0]
		for _, child := range children {
			scanRefs = append(scanRefs, child.Ref)
		}
	}
	for i, ref := range scanRefs {
		if stage, err := ch.rescan(ctx, c, ref, i > 0); err != nil {
			return stage, err
		}
	}
	return "", nil
}

// PerPlatformOnly reports whether an attestation kind is made for each
// platform's image of a multi-platform index and not for the index itself:
// the vulnerability scan (packages differ by architecture). The others
// (provenance, SBOM of every platform, tests) are on the index too.
func PerPlatformOnly(kind string) bool { return kind == "vuln" }

// checkChild verifies one platform's image of an index being promoted:
// its own signature for the service and every attestation the
// environment requires, about exactly that image.
func (ch *checker) checkChild(ctx context.Context, c *candidate, child registry.Child) (string, error) {
	if ch.verifier == nil {
		return "", nil
	}
	env, svc := ch.env.Name, c.service.Name
	digest := child.Digest()
	ct := &content{env: ch.env, svc: c.service, digest: digest, sourceURL: ch.sourceURL,
		rescanned: ch.scanner != nil, ignores: ch.ignores, now: time.Now()}
	if ch.env.RequireSignature || slices.Contains(ch.env.RequireAttestations, "slsa") || ch.countersign != nil {
		var sigs []signing.Signature
		var err error
		if ch.countersign != nil {
			sigs, err = ch.countersign.verify(ctx, child.Ref, digest, svc)
		} else {
			sigs, err = ch.verifier.Verify(ctx, child.Ref, map[string]string{signing.AnnotationService: svc})
		}
		if err != nil && (ch.env.RequireSignature || ch.countersign != nil) {
			return "verify", fmt.Errorf("%w: %s requires a valid signature by an accepted signer for service %s: %w", ErrUnverified, env, svc, err)
		}
		for _, sg := range sigs {
			if commit := sg.Annotations[signing.AnnotationSourceCommit]; commit != "" && !slices.Contains(ct.signedCommits, commit) {
				ct.signedCommits = append(ct.signedCommits, commit)
			}
		}
	}
	for _, kind := range ch.env.RequireAttestations {
		sts, err := ch.attested(ctx, child.Ref, kind)
		if err != nil {
			return "verify", fmt.Errorf("%w: %s requires a verified %s attestation: %w", ErrUnverified, env, kind, err)
		}
		if err := ct.judge(kind, sts); err != nil {
			return "attest", err
		}
	}
	return "", nil
}

// rescan scans ref again under the target's policy, when a scanner is set;
// with add, its counts and blocked findings add to those already reported
// (the platform images of one index).
func (ch *checker) rescan(ctx context.Context, c *candidate, ref string, add bool) (string, error) {
	env := ch.env.Name
	if ch.scanner != nil {
		res, err := ch.scanner.Scan(ctx, ref, ch.env.Policy)
		if err != nil {
			return "scan", fmt.Errorf("%w: re-scanning %s under %s's policy: %w", ErrScanFailed, ref, env, err)
		}
		if add {
			blocked := append(append([]string(nil), c.rep.Blocked...), res.Blocked...)
			sort.Strings(blocked)
			c.rep.Vulnerabilities, c.rep.Blocked = report.AddCounts(c.rep.Vulnerabilities, res.Vulnerabilities), slices.Compact(blocked)
		} else {
			c.rep.Vulnerabilities, c.rep.Blocked = res.Vulnerabilities, res.Blocked
		}
		if !res.Passed {
			msg := fmt.Sprintf("%s is blocked by %s's policy (failOn %s)", ref, env, ch.env.Policy.FailOn)
			if res.Summary != "" {
				msg += ": " + res.Summary
			}
			if len(res.Blocked) > 0 {
				b := append([]string(nil), res.Blocked...)
				sort.Strings(b)
				msg += "; blocked: " + strings.Join(b, ", ")
			}
			return "scan", fmt.Errorf("%w: %s", ErrScanFailed, msg)
		}
	}
	return "", nil
}

// attested verifies one attestation kind, accepting any of its predicate
// types, and returns the verified statements.
func (ch *checker) attested(ctx context.Context, ref, kind string) ([]signing.Statement, error) {
	types, ok := AttestationPredicates[kind]
	if !ok {
		return nil, fmt.Errorf("unknown attestation kind %q (one of %s)", kind, strings.Join(config.AttestationKinds, ", "))
	}
	var first error
	for _, pt := range types {
		sts, err := ch.verifier.VerifyAttestations(ctx, ref, pt)
		if err == nil {
			return sts, nil
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, signing.ErrNoAttestations) {
			return nil, err
		}
	}
	return nil, first
}
