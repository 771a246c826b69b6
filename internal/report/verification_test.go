package report

import (
	"strings"
	"testing"
)

func TestVerificationRendering(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	r := &Report{Kind: Verify, Verifications: []Verification{{
		Environment: "staging", Controller: "flux", ControllerRevision: "main@sha1:abc", Seconds: 14,
		Reason: "HealthCheckFailed", Message: "Deployment/shop-staging/orders not ready",
		Services: []VerificationService{
			{Name: "catalog", Digest: d, Verified: true, Pods: 2},
			{Name: "orders", Digest: d, Reason: "CrashLoopBackOff", Message: "0 of 2 pods ready", Log: "panic: no database"},
		},
		RolledBack: []string{"orders: back to sha256:bbbb"},
	}}}
	if r.OK() {
		t.Fatal("a failed verification is not OK")
	}
	text := r.Text()
	for _, want := range []string{"slipway verify FAILED", "staging: NOT verified in 14s (flux applied main@sha1:abc)", "flux HealthCheckFailed", "ok   catalog sha256:aaaaaaaaaaaa  2 pods ready",
		"FAIL orders sha256:aaaaaaaaaaaa  CrashLoopBackOff: 0 of 2 pods ready", "panic: no database", "rolled back: orders: back to sha256:bbbb"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if f := r.Failures(); !strings.Contains(f, "orders is not verified in staging: CrashLoopBackOff") {
		t.Errorf("failures: %s", f)
	}
	md := r.Markdown()
	for _, want := range []string{"### Cluster verification", "❌ **staging** not verified", "❌ orders `sha256:aaaaaaaaaaaa`: CrashLoopBackOff", "rolled back: orders"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	r.Verifications[0].Verified, r.Verifications[0].Services[1].Verified = true, true
	if !r.OK() {
		t.Fatal("verified is OK")
	}
}
