package gates

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func rec(env, result string, at time.Duration) Verification {
	return Verification{Environment: env, Service: "orders", Digest: digest, Result: result, Controller: "flux", Time: t0.Add(at)}
}

func raw(t *testing.T, vs ...any) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestVerificationsKeepOnlyThisImageOldestFirst(t *testing.T) {
	other := rec("staging", Verified, 0)
	other.Digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	svc := rec("staging", Verified, 0)
	svc.Service = "catalog"
	bad := rec("staging", "maybe", 0)
	got := Verifications(append(raw(t, rec("staging", Verified, time.Hour), other, svc, bad, rec("staging", Failed, 0)), json.RawMessage(`not json`)), "orders", digest)
	if len(got) != 2 || got[0].Result != Failed || got[1].Result != Verified {
		t.Fatalf("records: %+v", got)
	}
}

func TestCheckVerifiedIn(t *testing.T) {
	now := t0.Add(3 * time.Hour)
	for _, tc := range []struct {
		name string
		recs []Verification
		want string
	}{
		{"never", nil, "never verified in staging"},
		{"only elsewhere", []Verification{rec("dev", Verified, 0)}, "never verified in staging"},
		{"verified", []Verification{rec("staging", Verified, 0)}, ""},
		{"failed after", []Verification{rec("staging", Verified, 0), func() Verification {
			r := rec("staging", Failed, time.Hour)
			r.Reason, r.Message = "CrashLoopBackOff", "0 of 2 ready"
			return r
		}()}, "last verification in staging failed 2h ago (CrashLoopBackOff: 0 of 2 ready)"},
		{"recovered", []Verification{rec("staging", Failed, 0), rec("staging", Verified, time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckVerifiedIn(tc.recs, []string{"staging"}, now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrGate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckSoakSaysWhenItPasses(t *testing.T) {
	recs := []Verification{rec("staging", Verified, 0), rec("staging", Verified, 30*time.Minute)}
	err := CheckSoak(recs, "staging", 2*time.Hour, t0.Add(47*time.Minute))
	if err == nil || !strings.Contains(err.Error(), "soaked 47m of 2h in staging") || !strings.Contains(err.Error(), "passes at 2026-12-06 14:00:00 UTC") {
		t.Fatalf("got %v", err)
	}
	if err := CheckSoak(recs, "staging", 2*time.Hour, t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("at 2h: %v", err)
	}
	// A failure restarts the soak from the next success.
	recs = append(recs, rec("staging", Failed, time.Hour), rec("staging", Verified, 90*time.Minute))
	if err := CheckSoak(recs, "staging", 2*time.Hour, t0.Add(3*time.Hour)); err == nil || !strings.Contains(err.Error(), "soaked 1h30m of 2h") {
		t.Fatalf("after a failure: %v", err)
	}
	recs = append(recs, rec("staging", Failed, 100*time.Minute))
	if err := CheckSoak(recs, "staging", time.Minute, t0.Add(3*time.Hour)); err == nil || !strings.Contains(err.Error(), "last verification in staging failed") {
		t.Fatalf("ending in a failure: %v", err)
	}
	if err := CheckSoak(nil, "staging", time.Minute, t0); err == nil || !strings.Contains(err.Error(), "never verified in staging") {
		t.Fatalf("no record: %v", err)
	}
	if err := CheckSoak(nil, "staging", 0, t0); err != nil {
		t.Fatalf("no minSoak: %v", err)
	}
}

func TestApprovals(t *testing.T) {
	ok := Approval{Environment: "prod", Service: "orders", Digest: digest, By: "alice", Time: t0}
	anySvc := ok
	anySvc.Service = ""
	otherEnv := ok
	otherEnv.Environment = "staging"
	otherSvc := ok
	otherSvc.Service = "catalog"
	short := ok
	short.Digest = "sha256:1111"
	// An approval of another image, attached to this one: it names the
	// other digest and counts for nothing here.
	replayed := ok
	replayed.Digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	got := Approvals(raw(t, ok, anySvc, otherEnv, otherSvc, short, replayed), "prod", "orders", digest)
	if len(got) != 2 {
		t.Fatalf("approvals: %+v", got)
	}
	if err := CheckApproval(got, "prod", nil); err != nil {
		t.Fatal(err)
	}
	err := CheckApproval(nil, "prod", []string{"signed by another key"})
	if err == nil || !strings.Contains(err.Error(), "no approval for prod") || !strings.Contains(err.Error(), "not accepted: signed by another key") {
		t.Fatalf("got %v", err)
	}
}

func TestDescribeAndHuman(t *testing.T) {
	recs := []Verification{rec("staging", Verified, 0)}
	if got := Describe(recs, "staging", t0.Add(3*time.Hour+5*time.Minute)); got != "verified in staging 3h5m ago" {
		t.Fatal(got)
	}
	f := rec("staging", Failed, time.Hour)
	f.Reason = "ProgressDeadlineExceeded"
	if got := Describe(append(recs, f), "staging", t0.Add(65*time.Minute)); got != "failed in staging 5m ago (ProgressDeadlineExceeded)" {
		t.Fatal(got)
	}
	if Describe(recs, "prod", t0) != "" {
		t.Fatal("prod has no record")
	}
	for d, want := range map[time.Duration]string{12 * time.Second: "12s", 47 * time.Minute: "47m", 2 * time.Hour: "2h", 50 * time.Hour: "2d2h", 72 * time.Hour: "3d"} {
		if got := Human(d); got != want {
			t.Errorf("Human(%s) = %s, want %s", d, got, want)
		}
	}
}
