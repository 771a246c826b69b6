package promote

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
)

var services = []string{"catalog", "notify", "orders"}

// devReady publishes good images of every service at commit c1 and
// deploys them to dev, as `ci` does.
func devReady(f *fixture) map[string]string {
	digests := map[string]string{}
	for i, s := range services {
		digests[s] = f.publish(s, f.good(int64(10+i), c1))
	}
	f.deploy("dev", c1, digests)
	return digests
}

// TestChainDevStagingProd promotes dev → staging → prod: one commit per
// promotion, the manifests pinned to the same digests, the environment tag
// moved, the commit tag kept, and prod re-scanned under its own policy.
func TestChainDevStagingProd(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	digests := devReady(f)
	before := f.commits()

	rep, err := Run(ctx, f.options("dev", "staging"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "promote" || !rep.OK() || rep.Count(report.Promoted) != 3 || len(rep.Deployments) != 1 || !rep.Deployments[0].Changed {
		t.Fatalf("report = %+v", rep)
	}
	if f.commits() != before+1 {
		t.Fatalf("dev → staging made %d commits, want 1", f.commits()-before)
	}
	msg := f.git("log", "-1", "--format=%B", "main")
	if !strings.HasPrefix(msg, "deploy(staging): catalog, notify, orders") || !strings.Contains(msg, "Promoted from dev (GitOps commit ") || !strings.Contains(msg, "Source-Commit: "+c1) {
		t.Errorf("commit message:\n%s", msg)
	}
	for _, s := range services {
		cur := f.imageIn("staging", s)
		if cur.Image.Digest != digests[s] || cur.Image.Tag != c1 || cur.Image.Name != f.repoOf(s) {
			t.Errorf("staging %s = %+v", s, cur.Image)
		}
		if f.tagged(f.repoOf(s), "staging") != digests[s] || f.tagged(f.repoOf(s), c1) != digests[s] {
			t.Errorf("%s: staging tag or commit tag wrong", s)
		}
		st := status(rep, s)
		if st.Digest != digests[s] || st.Signature == "" || strings.Join(st.Tags, ",") != "staging" {
			t.Errorf("report entry %s = %+v", s, st)
		}
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "not re-scanned") {
		t.Errorf("notes do not say the images were not re-scanned: %q", rep.Notes)
	}

	sc := &scanner{}
	o := f.options("staging", "prod")
	o.Scanner = sc
	rep, err = Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(report.Promoted) != 3 || f.commits() != before+2 {
		t.Fatalf("staging → prod: %+v", rep)
	}
	if strings.Join(sc.policies, ",") != "HIGH,HIGH,HIGH" {
		t.Errorf("scanned under %q, want prod's failOn HIGH three times", sc.policies)
	}
	for _, s := range services {
		if f.imageIn("prod", s).Image.Digest != digests[s] || f.tagged(f.repoOf(s), "prod") != digests[s] {
			t.Errorf("prod %s not promoted", s)
		}
		if got := strings.Join(status(rep, s).Attestations, ","); got != "slsa,sbom,test" {
			t.Errorf("%s attestations = %s", s, got)
		}
	}
	if strings.Contains(strings.Join(rep.Notes, "\n"), "not re-scanned") {
		t.Error("re-scanned run says it was not re-scanned")
	}
}

// TestRepromoteChangesNothing: promoting what is already there is
// Unchanged, with no commit and no write to the registry.
func TestRepromoteChangesNothing(t *testing.T) {
	f := newFixture(t)
	devReady(f)
	if _, err := Run(context.Background(), f.options("dev", "staging")); err != nil {
		t.Fatal(err)
	}
	snap, commits := f.snapshot(), f.commits()
	f.counter.Reset()
	rep, err := Run(context.Background(), f.options("dev", "staging"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(report.Unchanged) != 3 || rep.Deployments[0].Changed || rep.Deployments[0].Commit != "" {
		t.Fatalf("report = %+v", rep)
	}
	if n := writes(f.counter); n != 0 {
		t.Errorf("re-promotion wrote %d times to the registry", n)
	}
	if f.commits() != commits || f.snapshot() != snap {
		t.Error("re-promotion changed the registry or the GitOps repository")
	}
}

// TestSameRegistryOnlyTags: within one repository a promotion uploads no
// layer, mounts nothing and writes only the environment tags.
func TestSameRegistryOnlyTags(t *testing.T) {
	f := newFixture(t)
	digests := devReady(f)
	f.counter.Reset()
	if _, err := Run(context.Background(), f.options("dev", "staging")); err != nil {
		t.Fatal(err)
	}
	st := f.counter.Stats()
	if st.UploadBytes != 0 || st.UploadsBegun != 0 || st.Mounts != 0 {
		t.Errorf("promotion within one registry moved blobs: %+v", st)
	}
	for _, s := range services {
		if n := f.counter.ManifestPuts("shop/"+s, "staging"); n != 1 {
			t.Errorf("%s: %d writes of the staging tag", s, n)
		}
	}
	if n := f.counter.Requests("PUT", "/manifests/"); n != 3 {
		t.Errorf("%d manifest writes, want the 3 environment tags", n)
	}
	_ = digests
}

// TestCrossRegistryCopiesSignatures promotes into another registry: the
// image, its signature and attestations land there, verify there, and the
// manifests name the new repository.
func TestCrossRegistryCopiesSignatures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	digests := devReady(f)
	prodCounter := registrytest.Count(registrytest.Handler())
	prodHost := registrytest.Serve(t, prodCounter)
	o := f.options("dev", "prod", "orders")
	o.TargetRegistry = prodHost
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	dst := prodHost + "/shop/orders"
	ref := dst + "@" + digests["orders"]
	if _, err := f.verifier.Verify(ctx, ref, map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Errorf("signature does not verify in the destination: %v", err)
	}
	for _, pt := range []string{signing.PredicateSLSAProvenanceV1, signing.PredicateCycloneDX, signing.PredicateVulnScan} {
		if _, err := f.verifier.VerifyAttestations(ctx, ref, pt); err != nil {
			t.Errorf("%s attestation does not verify in the destination: %v", pt, err)
		}
	}
	if f.tagged(dst, c1) != digests["orders"] || f.tagged(dst, "prod") != digests["orders"] {
		t.Error("commit tag or prod tag missing in the destination")
	}
	if f.tagged(f.repoOf("orders"), "prod") != "" {
		t.Error("the source repository got the prod tag")
	}
	if cur := f.imageIn("prod", "orders"); cur.Image.Name != dst || cur.Image.Digest != digests["orders"] {
		t.Errorf("prod manifest = %+v", cur.Image)
	}
	if prodCounter.Stats().UploadBytes == 0 {
		t.Error("nothing was uploaded to the other registry")
	}
	if st := status(rep, "orders"); st.Repository != dst || strings.Join(st.Tags, ",") != c1+",prod" {
		t.Errorf("report entry = %+v", st)
	}
	// Promoting again finds it there: unchanged, nothing written anywhere.
	prodCounter.Reset()
	f.counter.Reset()
	again, err := Run(ctx, o)
	if err != nil || again.Count(report.Unchanged) != 1 {
		t.Fatalf("again = %+v, %v", again, err)
	}
	if writes(prodCounter)+writes(f.counter) != 0 {
		t.Error("re-promotion across registries wrote")
	}
}

// TestDryRunWritesNothing reports the copies and the diff and writes
// nothing at all.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	digests := devReady(f)
	prodHost := registrytest.New(t)
	snap := f.snapshot(prodHost)
	f.counter.Reset()
	o := f.options("dev", "prod")
	o.DryRun, o.TargetRegistry = true, prodHost
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || len(rep.Deployments) != 1 || !strings.Contains(rep.Deployments[0].Diff, "+    digest: "+digests["orders"]) ||
		!strings.Contains(rep.Deployments[0].Diff, "deploy/overlays/prod/kustomization.yaml") || rep.Deployments[0].Commit != "" {
		t.Fatalf("dry run report = %+v", rep)
	}
	notes := strings.Join(rep.Notes, "\n")
	if !strings.Contains(notes, "would copy "+f.repoOf("orders")+"@"+digests["orders"]+" to "+prodHost+"/shop/orders") || !strings.Contains(notes, "would tag") {
		t.Errorf("notes = %s", notes)
	}
	if writes(f.counter) != 0 || f.snapshot(prodHost) != snap {
		t.Error("dry run wrote")
	}
}

// TestRefusalsHaveNoSideEffects is the refusal list: each is
// refused with a clear message, and nothing is copied, tagged or committed
// (the registries' tags and the GitOps refs are compared, and the registry
// saw no write request at all).
func TestRefusalsHaveNoSideEffects(t *testing.T) {
	type tcase struct {
		// setup prepares dev (and the state) and returns the options.
		setup func(f *fixture) Options
		kind  error
		want  string
	}
	// oneInDev deploys good images of catalog and notify and the given
	// orders image to dev.
	oneInDev := func(f *fixture, orders image) string {
		d := map[string]string{"catalog": f.publish("catalog", f.good(1, c1)), "notify": f.publish("notify", f.good(2, c1)), "orders": f.publish("orders", orders)}
		f.deploy("dev", c1, d)
		return d["orders"]
	}
	cases := map[string]tcase{
		"unsigned": {func(f *fixture) Options {
			oneInDev(f, image{seed: 3, commit: c1})
			return f.options("dev", "staging")
		}, signing.ErrUnsigned, "staging requires a valid signature by an accepted signer (the project's key, or signedBy / signing.identities) for service orders"},
		"wrong key": {func(f *fixture) Options {
			oneInDev(f, image{seed: 3, commit: c1, signer: f.other})
			return f.options("dev", "staging")
		}, signing.ErrSignatureInvalid, "none by this key"},
		"tampered": {func(f *fixture) Options {
			d := oneInDev(f, f.good(3, c1))
			f.tamper(f.repoOf("orders") + "@" + d)
			return f.options("dev", "staging")
		}, signing.ErrSignatureInvalid, "altered after signing"},
		"replayed signature": {func(f *fixture) Options {
			signed := f.publish("orders", f.good(4, c2))
			d := oneInDev(f, image{seed: 3, commit: c1})
			f.replay(f.repoOf("orders")+"@"+signed, f.repoOf("orders")+"@"+d)
			return f.options("dev", "staging")
		}, signing.ErrClaimMismatch, "a signature copied from another image"},
		"signed for another service": {func(f *fixture) Options {
			d := oneInDev(f, image{seed: 3, commit: c1})
			f.signer.Sign(context.Background(), f.repoOf("orders")+"@"+d, map[string]string{signing.AnnotationService: "catalog"})
			return f.options("dev", "staging")
		}, signing.ErrAnnotationMismatch, `dev.slipway.service is "catalog", want "orders"`},
		"missing required attestation": {func(f *fixture) Options {
			oneInDev(f, image{seed: 3, commit: c1, signer: f.signer, attest: []string{"slsa", "sbom", "vuln"}})
			return f.options("dev", "prod")
		}, signing.ErrNoAttestations, "prod requires a verified test attestation"},
		"scan gate failed": {func(f *fixture) Options {
			d := oneInDev(f, f.good(3, c1))
			o := f.options("dev", "prod")
			o.Scanner = &scanner{block: map[string][]string{d: {"CVE-2025-0002", "CVE-2025-0001"}}}
			return o
		}, ErrScanFailed, "is blocked by prod's policy (failOn HIGH): 2 HIGH; blocked: CVE-2025-0001, CVE-2025-0002"},
		"scanner error": {func(f *fixture) Options {
			oneInDev(f, f.good(3, c1))
			o := f.options("dev", "prod")
			o.Scanner = &scanner{fail: errors.New("database is stale")}
			return o
		}, ErrScanFailed, "re-scanning " + "127.0.0.1"},
		"denylisted digest": {func(f *fixture) Options {
			d := oneInDev(f, f.good(3, c1))
			if _, err := Reject(context.Background(), f.stateOptions("CVE-2025-1234 in libfoo"), d); err != nil {
				f.t.Fatal(err)
			}
			return f.options("dev", "staging")
		}, ErrDenylisted, "is denylisted (CVE-2025-1234 in libfoo, by alice, at "},
		"pinned environment": {func(f *fixture) Options {
			old := f.publish("orders", f.good(5, c2))
			f.deploy("staging", c2, map[string]string{"orders": old})
			if _, err := Pin(context.Background(), f.stateOptions("incident 7"), "staging", "orders", ""); err != nil {
				f.t.Fatal(err)
			}
			oneInDev(f, f.good(3, c1))
			return f.options("dev", "staging")
		}, ErrPinned, "orders is pinned in staging to sha256:"},
		"unknown environment": {func(f *fixture) Options {
			oneInDev(f, f.good(3, c1))
			return f.options("dev", "qa")
		}, ErrUnknown, `unknown environment "qa" (declared: dev, staging, prod)`},
		"unknown service": {func(f *fixture) Options {
			oneInDev(f, f.good(3, c1))
			return f.options("dev", "staging", "orders", "billing")
		}, ErrUnknown, `unknown service "billing"`},
		"not deployed in the source": {func(f *fixture) Options {
			return f.options("dev", "staging", "orders")
		}, ErrNotDeployed, "dev runs registry.example.com/slipway/orders:bootstrap with no digest (deploy/overlays/dev/kustomization.yaml images[name=orders]); deploy it to dev first"},
		"image gone from the registry": {func(f *fixture) Options {
			d := oneInDev(f, f.good(3, c1))
			if err := f.reg.Delete(context.Background(), f.repoOf("orders")+"@"+d); err != nil {
				f.t.Fatal(err)
			}
			return f.options("dev", "staging")
		}, ErrUnverified, "is not in the registry"},
		"no public key": {func(f *fixture) Options {
			oneInDev(f, f.good(3, c1))
			o := f.options("dev", "staging")
			o.Verifier = nil
			return o
		}, ErrUnverified, "staging requires signed images (slipway.yaml: environments[staging]) but no public key was given"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			o := tc.setup(f)
			other := registrytest.Count(registrytest.Handler())
			otherHost := registrytest.Serve(t, other)
			// Half the cases also aim at another registry: nothing may be
			// copied there either.
			if len(name)%2 == 0 {
				o.TargetRegistry = otherHost
			}
			snap, commits := f.snapshot(otherHost), f.commits()
			f.counter.Reset()
			rep, err := Run(context.Background(), o)
			t.Log(err)
			if !errors.Is(err, ErrRefused) || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %v and %v, saying %q", err, ErrRefused, tc.kind, tc.want)
			}
			if rep == nil || rep.OK() {
				t.Fatalf("report does not show the refusal: %+v", rep)
			}
			if w := writes(f.counter) + writes(other); w != 0 {
				t.Errorf("%d write requests reached a registry", w)
			}
			if f.snapshot(otherHost) != snap || f.commits() != commits {
				t.Error("a refused promotion changed the registry or the GitOps repository")
			}
			for _, s := range rep.Services {
				if s.Status != report.Refused && s.Status != report.Skipped {
					t.Errorf("%s ended %s in a refused run", s.Name, s.Status)
				}
				if s.Status == report.Skipped && !strings.Contains(s.Error, "all or nothing") {
					t.Errorf("%s skipped without saying why: %q", s.Name, s.Error)
				}
			}
		})
	}
}

// TestOneRefusalStopsTheOthers: a good service is not promoted alone when
// another is refused, and the report says which passed.
func TestOneRefusalStopsTheOthers(t *testing.T) {
	f := newFixture(t)
	good := f.publish("catalog", f.good(1, c1))
	bad := f.publish("orders", image{seed: 2, commit: c1})
	f.deploy("dev", c1, map[string]string{"catalog": good, "orders": bad})
	rep, err := Run(context.Background(), f.options("dev", "staging", "catalog", "orders"))
	if !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
	if c := status(rep, "catalog"); c.Status != report.Skipped || !strings.Contains(c.Error, "orders refused (all or nothing)") {
		t.Errorf("catalog = %+v", c)
	}
	if o := status(rep, "orders"); o.Status != report.Refused || o.Stage != "verify" {
		t.Errorf("orders = %+v", o)
	}
	if f.tagged(f.repoOf("catalog"), "staging") != "" {
		t.Error("catalog was tagged")
	}
	md := rep.Markdown()
	if !strings.Contains(md, "slipway promote failed") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestOptionsValidated(t *testing.T) {
	f := newFixture(t)
	o := f.options("dev", "dev")
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "dev to itself") {
		t.Errorf("same environment: %v", err)
	}
	o = f.options("dev", "staging")
	o.Registry = nil
	if _, err := Run(context.Background(), o); err == nil {
		t.Error("no registry accepted")
	}
}

var _ = state.FileName
