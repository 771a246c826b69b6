package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/internal/kube"
)

// objectState is one look at one controller object.
type objectState struct {
	obs      observation
	applied  bool
	revision string // as the controller spells it
	commit   string // the commit it names
}

// checkController looks at every controller object once.
func (r *run) checkController(ctx context.Context) error {
	var states []objectState
	for _, obj := range r.t.Objects {
		ns, name, _ := strings.Cut(obj, "/")
		var st objectState
		var err error
		switch r.t.Controller {
		case "flux":
			st, err = r.checkKustomization(ctx, ns, name)
		case "argocd":
			st, err = r.checkApplication(ctx, ns, name)
		}
		if err != nil {
			if e := check(ctx, err); e != nil {
				return e
			}
			what := fmt.Sprintf("%s %s", controllerKind(r.t.Controller), obj)
			if errors.Is(err, kube.ErrNotFound) {
				st.obs = observation{reason: ReasonNotFound, msg: fmt.Sprintf("%s: not found (%v)", what, err)}
			} else {
				st.obs = observation{msg: fmt.Sprintf("%s to be readable: %v", what, err)}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		states = append(states, st)
	}
	applied := true
	var revisions []string
	var worst *objectState
	for i := range states {
		st := &states[i]
		if st.revision != "" && !contains(revisions, st.revision) {
			revisions = append(revisions, st.revision)
		}
		if !st.applied {
			applied = false
			if worst == nil || (worst.obs.reason == "" && st.obs.reason != "") {
				worst = st
			}
		}
	}
	r.ctrl.applied = applied
	r.ctrl.revision = strings.Join(revisions, ", ")
	if len(states) > 0 {
		r.ctrl.commit = states[0].commit
	}
	if worst != nil {
		r.ctrl.obs = worst.obs
		if worst.obs.reason != "" {
			r.ctrl.seen = worst.obs
		}
	} else {
		r.ctrl.obs = observation{}
	}
	return nil
}

// revisionCommit extracts the commit from a controller revision: Flux's
// "main@sha1:<sha>" (or "sha1:<sha>", or the older "main/<sha>"), Argo
// CD's plain "<sha>".
func revisionCommit(rev string) string {
	if _, sha, ok := strings.Cut(rev, "sha1:"); ok {
		return sha
	}
	if i := strings.LastIndexByte(rev, '/'); i >= 0 {
		return rev[i+1:]
	}
	return rev
}

// contains reports whether commit is t.Commit or, per Options.Descends,
// contains it.
func (r *run) containsCommit(ctx context.Context, commit string) (bool, error) {
	commit = strings.ToLower(commit)
	want := strings.ToLower(r.t.Commit)
	if commit == "" {
		return false, nil
	}
	if strings.HasPrefix(commit, want) || strings.HasPrefix(want, commit) && len(commit) >= 7 {
		return true, nil
	}
	if r.o.Descends == nil || !commitRE.MatchString(commit) {
		return false, nil
	}
	if ok, seen := r.descends[commit]; seen {
		return ok, nil
	}
	ok, err := r.o.Descends(ctx, r.t.Commit, commit)
	if err != nil {
		return false, err
	}
	r.descends[commit] = ok
	return ok, nil
}

// checkKustomization looks at a Flux Kustomization: applied when its last
// applied revision is (or contains) the commit and it is Ready.
func (r *run) checkKustomization(ctx context.Context, ns, name string) (objectState, error) {
	var k kube.Kustomization
	if err := r.c.Get(ctx, kube.Kustomizations.Path(ns, name), &k); err != nil {
		return objectState{}, err
	}
	what := fmt.Sprintf("Kustomization %s/%s", ns, name)
	st := objectState{revision: k.Status.LastAppliedRevision, commit: revisionCommit(k.Status.LastAppliedRevision)}
	appliedOK, err := r.containsCommit(ctx, st.commit)
	if err != nil {
		st.obs.msg = fmt.Sprintf("%s: whether %s contains %s (%v)", what, st.revision, shortCommit(r.t.Commit), err)
		return st, nil
	}
	attemptedOK, err := r.containsCommit(ctx, revisionCommit(k.Status.LastAttemptedRevision))
	if err != nil {
		attemptedOK = false
	}
	ready, hasReady := kube.FindCondition(k.Status.Conditions, "Ready")
	cond := "no Ready condition yet"
	if hasReady {
		cond = conditionText(ready)
	}
	switch {
	case k.Spec.Suspend:
		st.obs = observation{reason: "Suspended", msg: fmt.Sprintf("%s is suspended (last applied %s)", what, orNone(st.revision))}
	case appliedOK && hasReady && ready.Status == "True" && k.Status.ObservedGeneration >= k.Metadata.Generation:
		st.applied = true
	case attemptedOK && hasReady && ready.Status == "False":
		// Flux retries: a failing health check may still pass.
		st.obs = observation{reason: ready.Reason, msg: fmt.Sprintf("%s failed to apply %s: %s", what, k.Status.LastAttemptedRevision, cond)}
		if st.obs.reason == "" {
			st.obs.reason = "ReconciliationFailed"
		}
	case appliedOK:
		st.obs = observation{msg: fmt.Sprintf("%s applied %s, not yet Ready: %s", what, st.revision, cond)}
	default:
		msg := fmt.Sprintf("%s to apply %s (last applied %s", what, shortCommit(r.t.Commit), orNone(st.revision))
		if a := k.Status.LastAttemptedRevision; a != "" && a != st.revision {
			msg += ", last attempted " + a
		}
		if !hasReady || ready.Status != "True" {
			msg += "; " + cond
		}
		st.obs = observation{msg: msg + ")"}
	}
	return st, nil
}

// checkApplication looks at an Argo CD Application: applied when it is
// Synced at (a commit containing) the commit and Healthy.
func (r *run) checkApplication(ctx context.Context, ns, name string) (objectState, error) {
	var a kube.Application
	if err := r.c.Get(ctx, kube.ArgoApplications.Path(ns, name), &a); err != nil {
		return objectState{}, err
	}
	what := fmt.Sprintf("Application %s/%s", ns, name)
	revs := a.Status.Sync.Revisions
	if a.Status.Sync.Revision != "" {
		revs = append([]string{a.Status.Sync.Revision}, revs...)
	}
	st := objectState{}
	revOK := false
	for _, rev := range revs {
		ok, err := r.containsCommit(ctx, rev)
		if err != nil {
			st.obs.msg = fmt.Sprintf("%s: whether %s contains %s (%v)", what, rev, shortCommit(r.t.Commit), err)
			return st, nil
		}
		if ok {
			revOK, st.revision, st.commit = true, rev, rev
			break
		}
	}
	if !revOK && len(revs) > 0 {
		st.revision, st.commit = revs[0], revs[0]
	}
	sync, health := orUnknown(a.Status.Sync.Status), orUnknown(a.Status.Health.Status)
	state := fmt.Sprintf("sync %s at %s, health %s", sync, orNone(shortCommit(st.revision)), health)

	// An operation that failed on our commit: Argo CD retries only when
	// told to, but a later automated sync may still succeed.
	if op := a.Status.OperationState; op != nil && (op.Phase == "Failed" || op.Phase == "Error") {
		opRevOK := revOK
		if op.SyncResult != nil && op.SyncResult.Revision != "" {
			opRevOK, _ = r.containsCommit(ctx, op.SyncResult.Revision)
		}
		if opRevOK {
			st.obs = observation{reason: "SyncFailed", msg: fmt.Sprintf("%s: sync %s: %s (%s)", what, strings.ToLower(op.Phase), op.Message, state)}
			return st, nil
		}
	}
	for _, c := range a.Status.Conditions {
		if strings.HasSuffix(c.Type, "Error") {
			st.obs = observation{reason: c.Type, msg: fmt.Sprintf("%s: %s: %s (%s)", what, c.Type, c.Message, state)}
			return st, nil
		}
	}
	switch {
	case revOK && sync == "Synced" && health == "Healthy":
		st.applied = true
	case revOK && health == "Degraded":
		msg := a.Status.Health.Message
		for _, res := range a.Status.Resources {
			if res.Health != nil && res.Health.Status == "Degraded" {
				d := fmt.Sprintf("%s %s/%s is Degraded", res.Kind, res.Namespace, res.Name)
				if res.Health.Message != "" {
					d += ": " + res.Health.Message
				}
				msg = joinNonEmpty("; ", msg, d)
			}
		}
		st.obs = observation{reason: "Degraded", msg: fmt.Sprintf("%s is Degraded at %s: %s", what, shortCommit(st.revision), orNone(msg))}
	case revOK:
		st.obs = observation{msg: fmt.Sprintf("%s to be Synced and Healthy (%s)", what, state)}
	default:
		st.obs = observation{msg: fmt.Sprintf("%s to sync %s (%s)", what, shortCommit(r.t.Commit), state)}
	}
	return st, nil
}

// conditionText renders a condition: "Ready=False HealthCheckFailed: <message>".
func conditionText(c kube.Condition) string {
	s := c.Type + "=" + c.Status
	if c.Reason != "" {
		s += " " + c.Reason
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
