package promote

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/signing"
)

// record signs a verification record of service's digest in env at t.
func (f *fixture) record(s *signing.Signer, env, service, digest, result string, at time.Time) {
	f.t.Helper()
	b, _ := json.Marshal(gates.Verification{Environment: env, Service: service, Digest: digest, Result: result, Controller: "flux", Time: at, Reason: map[bool]string{true: "", false: "CrashLoopBackOff"}[result == gates.Verified]})
	if _, err := s.Attest(context.Background(), f.repoOf(service)+"@"+digest, gates.PredicateVerification, b); err != nil {
		f.t.Fatal(err)
	}
}

// approve signs an approval of service's digest into env.
func (f *fixture) approve(s *signing.Signer, env, service, digest string) {
	f.t.Helper()
	b, _ := json.Marshal(gates.Approval{Environment: env, Service: service, Digest: digest, By: "alice", Time: time.Now().UTC()})
	if _, err := s.Attest(context.Background(), f.repoOf(service)+"@"+digest, gates.PredicateApproval, b); err != nil {
		f.t.Fatal(err)
	}
}

// TestGates drives the promotion gates with real signed records in a real
// registry: staging takes only what dev verified (a record signed by
// another key counts for nothing, nor does a verification that failed
// last); prod takes only what soaked in staging, still runs there, and an
// accepted approver approved. Every refusal writes nothing.
func TestGates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	digests := devReady(f)
	f.env("staging").RequireVerifiedIn = []string{"dev"}
	now := time.Now().UTC()

	refused := func(o Options, want string) {
		t.Helper()
		snap := f.snapshot()
		rep, err := Run(ctx, o)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want a refusal saying %q", err, want)
		}
		if rep.OK() {
			t.Fatal("a refused promotion's report is OK")
		}
		if s := f.snapshot(); s != snap {
			t.Fatalf("a refused promotion changed the registry or GitOps:\n%s", s)
		}
	}
	refused(f.options("dev", "staging"), "requireVerifiedIn: never verified in dev")
	for _, s := range services {
		f.record(f.other, "dev", s, digests[s], gates.Verified, now) // not the project's key
	}
	refused(f.options("dev", "staging"), "never verified in dev")
	for _, s := range services {
		f.record(f.signer, "dev", s, digests[s], gates.Verified, now.Add(-20*time.Minute))
	}
	f.record(f.signer, "dev", "orders", digests["orders"], gates.Failed, now.Add(-time.Minute))
	refused(f.options("dev", "staging"), "its last verification in dev failed")
	f.record(f.signer, "dev", "orders", digests["orders"], gates.Verified, now)
	if _, err := Run(ctx, f.options("dev", "staging")); err != nil {
		t.Fatal(err)
	}

	prod := f.env("prod")
	prod.RequireVerifiedIn, prod.MinSoak, prod.RequireApproval = []string{"staging"}, config.Duration(time.Hour), true
	approver, err := signing.LoadVerifier(f.other.PublicKeyPEM(), signing.WithRegistry(f.reg))
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	running := true
	o := f.options("staging", "prod", "orders")
	o.Approvers = []*signing.Verifier{approver}
	o.Live = func(_ context.Context, env string, svc config.Service, image string) error {
		live = append(live, env+" "+svc.Name+" "+image)
		if !running {
			return errors.New("ProgressDeadlineExceeded: Deployment shop-staging/orders")
		}
		return nil
	}
	o.Now = func() time.Time { return now.Add(10 * time.Minute) }
	refused(o, "requireVerifiedIn: never verified in staging")
	f.record(f.signer, "staging", "orders", digests["orders"], gates.Verified, now)
	refused(o, "minSoak: soaked 10m of 1h in staging")
	refused(o, "passes at "+now.Add(time.Hour).Format("2006-01-02 15:04:05 UTC"))
	o.Now = func() time.Time { return now.Add(time.Hour) }
	running = false
	refused(o, "minSoak: staging does not run it now: ProgressDeadlineExceeded")
	if want := "staging orders " + f.repoOf("orders") + "@" + digests["orders"]; len(live) == 0 || live[0] != want {
		t.Fatalf("live checks: %q, want %q", live, want)
	}
	running = true
	refused(o, "requireApproval: no approval for prod")
	f.approve(f.signer, "prod", "orders", digests["orders"]) // the CI key: not an approver
	refused(o, "no approval for prod")
	f.approve(f.other, "staging", "orders", digests["orders"]) // an approval for another environment
	refused(o, "no approval for prod")
	f.approve(f.other, "prod", "orders", digests["orders"])
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(rep.Notes, "\n")
	if !strings.Contains(notes, "orders: verified in staging and soaked 1h") || !strings.Contains(notes, "orders: approved for prod by alice") {
		t.Errorf("notes: %s", notes)
	}
	if got := f.imageIn("prod", "orders").Image.Digest; got != digests["orders"] {
		t.Fatalf("prod runs %s", got)
	}

	// A rollback is not held back by the gates: it returns to an image
	// that neither soaked nor was approved.
	older := f.publish("orders", f.good(99, c2))
	if _, err := Rollback(ctx, f.rollbackOptions("prod", "orders", older)); err != nil {
		t.Fatalf("rollback into a gated prod: %v", err)
	}
	if got := f.imageIn("prod", "orders").Image.Digest; got != older {
		t.Fatalf("prod runs %s after the rollback", got)
	}
}
