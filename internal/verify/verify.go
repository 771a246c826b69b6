// Package verify waits until a cluster really runs what slipway deployed
// to an environment, and otherwise says precisely why not.
//
// slipway writes image digests into a GitOps repository; a controller
// (Flux or Argo CD) applies them. An environment is verified when
//
//   - the controller applied the GitOps commit slipway wrote (or one that
//     contains it): each Flux Kustomization's lastAppliedRevision names it
//     and is Ready, each Argo CD Application is Synced at it and Healthy;
//   - for every service, every Deployment, StatefulSet and DaemonSet of
//     the environment's namespaces that runs the service's repository has
//     rolled out with the service's digest in its template, and every ready
//     pod of it runs exactly that digest;
//   - the service's probes then pass: an HTTP URL answers as expected, a
//     gRPC server's health service says SERVING, a TCP port accepts.
//
// Run polls until then or a timeout, and a Deployment whose progress
// deadline is exceeded fails at once. Each service that is not verified
// carries a reason (CrashLoopBackOff, ImagePullBackOff, WrongDigest,
// NoWorkload, ProbeFailed, Timeout, ...), a sentence of what was seen and,
// for a crashing container, the last lines of its log.
//
// The credentials need, in the workloads' namespaces (cluster-wide when no
// namespace is given): list on deployments, statefulsets, daemonsets and
// replicasets (group apps) and on pods; get on pods/log for crash logs
// (optional); and get on the controller's objects (kustomizations in
// kustomize.toolkit.fluxcd.io, applications in argoproj.io). A refused
// request ends Run with an error naming the missing permission.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/kube"
	"github.com/slipwayci/slipway/internal/smoke"
	"github.com/slipwayci/slipway/internal/smoke/grpcprobe"
)

// Target is what an environment should run.
type Target struct {
	// Env names the environment in messages.
	Env string
	// Controller applies the GitOps repository: "flux", "argocd" or
	// "none" (also ""): then only the workloads are checked.
	Controller string
	// Objects are the "namespace/name" of the Flux Kustomizations or Argo
	// CD Applications that apply this environment.
	Objects []string
	// Namespaces hold the workloads; empty means every namespace (which
	// needs cluster-wide list permissions).
	Namespaces []string
	// Commit is the GitOps commit slipway wrote (full SHA), or "" when
	// unknown: then the controller is not consulted, only the workloads.
	Commit string
	// Services are what must run.
	Services []Service
}

// Service is one image that must run.
type Service struct {
	// Name names the service in messages.
	Name string
	// Repository is the image repository without tag or digest, e.g.
	// "registry.example.com/shop/orders". Every workload with a container
	// or init container of this repository is the service's.
	Repository string
	// Digest is the image digest ("sha256:…") that must run.
	Digest string
	// Probes must pass once the service has rolled out.
	Probes []Probe
}

// Probe is one check of a rolled-out service, against the environment's
// own endpoints.
type Probe struct {
	// Kind is "http", "grpc" or "tcp".
	Kind string
	// URL is an http(s) URL for http, host:port for grpc and tcp.
	URL string
	// Status is the HTTP status expected (0: any 2xx).
	Status int
}

// Options tune Run.
type Options struct {
	// Timeout bounds the whole verification (default 10m).
	Timeout time.Duration
	// Interval is the time between two looks at the cluster (default 2s).
	Interval time.Duration
	// Progress, when set, receives a line whenever what a service (or the
	// controller) is waiting for changes, e.g. "staging orders: waiting
	// for Deployment shop-staging/orders: 1 of 2 updated replicas".
	Progress func(line string)
	// Descends reports whether commit contains ancestor in the GitOps
	// repository's history, so that a controller that has already applied
	// a later commit counts. Nil: only the exact commit counts.
	Descends func(ctx context.Context, ancestor, commit string) (bool, error)
	// LogLines is how many lines of a failing container's log to include
	// (default 20).
	LogLines int
	// Now is the clock of Result.Started and Finished (default time.Now).
	Now func() time.Time
	// GRPC, when set, replaces the check of grpc probes: it must return
	// nil once the gRPC health service at addr (host:port) says the server
	// is SERVING, polling until timeout. Default: grpcprobe.Run.
	GRPC func(ctx context.Context, addr string, timeout time.Duration) error
}

// Result is the outcome of a verification.
type Result struct {
	Env string
	// Verified: the controller applied the commit and every service is
	// verified.
	Verified bool
	// Controller is the Target's controller.
	Controller string
	// ControllerRevision is the revision the controller last applied: a
	// Flux revision ("main@sha1:<sha>") or an Argo CD sync revision. With
	// several objects that disagree, their revisions joined by ", ".
	ControllerRevision string
	// AppliedCommit is the commit the controller applied (Target.Commit,
	// or one containing it), when it did.
	AppliedCommit string
	Services      []ServiceResult
	// Reason and Message describe a controller-level failure: the reason
	// of a failing Kustomization ("HealthCheckFailed", ...) or Application
	// ("Degraded", "SyncFailed", ...) and its message; "NotApplied" when the
	// controller just did not apply the commit in time.
	Reason, Message string
	// Started and Finished bound the verification.
	Started, Finished time.Time
}

// ServiceResult is the outcome for one service.
type ServiceResult struct {
	Name string
	// Digest is the digest that had to run.
	Digest   string
	Verified bool
	// Workloads are the service's workloads, e.g. "Deployment shop-staging/orders".
	Workloads []string
	// Pods counts the ready pods running exactly Digest.
	Pods int
	// Reason says why the service is not verified: "ProgressDeadlineExceeded",
	// "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
	// "CreateContainerConfigError", "Unschedulable", "NoWorkload",
	// "WrongDigest", "NotApplied", "ProbeFailed", "Timeout", ...
	Reason string
	// Message is a sentence of what was last seen.
	Message string
	// Log holds the last lines of the failing container's log, when it
	// could be read.
	Log string
}

// Reasons a service or controller is not verified, besides the ones the
// cluster reports (CrashLoopBackOff, HealthCheckFailed, ...).
const (
	ReasonTimeout                  = "Timeout"
	ReasonNoWorkload               = "NoWorkload"
	ReasonWrongDigest              = "WrongDigest"
	ReasonProbeFailed              = "ProbeFailed"
	ReasonNotApplied               = "NotApplied"
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonUnschedulable            = "Unschedulable"
	ReasonNotFound                 = "NotFound"
	ReasonCanceled                 = "Canceled"
	ReasonStopped                  = "Stopped"
	ReasonForbidden                = "Forbidden"
)

var commitRE = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// validate checks the target and options before anything is read.
func validate(t Target, o Options) error {
	switch t.Controller {
	case "", "none":
		if len(t.Objects) > 0 {
			return errors.New("controller is none, but objects are given")
		}
	case "flux", "argocd":
		if len(t.Objects) == 0 && t.Commit != "" {
			return fmt.Errorf("controller %s: no object (namespace/name of the %s that applies the environment)", t.Controller, controllerKind(t.Controller))
		}
	default:
		return fmt.Errorf("controller %q: want flux, argocd or none", t.Controller)
	}
	for _, obj := range t.Objects {
		ns, name, ok := strings.Cut(obj, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("object %q is not namespace/name", obj)
		}
	}
	for _, ns := range t.Namespaces {
		if ns == "" || strings.Contains(ns, "/") {
			return fmt.Errorf("namespace %q is not a namespace name", ns)
		}
	}
	if t.Commit != "" && !commitRE.MatchString(t.Commit) {
		return fmt.Errorf("commit %q is not a commit hash", t.Commit)
	}
	if len(t.Services) == 0 {
		return errors.New("no service to verify")
	}
	for _, s := range t.Services {
		if s.Name == "" {
			return fmt.Errorf("a service of repository %q has no name", s.Repository)
		}
		if s.Repository == "" {
			return fmt.Errorf("service %s: no repository", s.Name)
		}
		if !digestRE.MatchString(s.Digest) {
			return fmt.Errorf("service %s: digest %q is not sha256:<64 hex digits>", s.Name, s.Digest)
		}
		for _, p := range s.Probes {
			switch p.Kind {
			case "http":
				u, err := url.Parse(p.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("service %s: http probe %q is not an http(s) URL", s.Name, p.URL)
				}
			case "grpc", "tcp":
				if _, port, ok := strings.Cut(p.URL, ":"); !ok || port == "" || strings.Contains(p.URL, "/") {
					return fmt.Errorf("service %s: %s probe %q is not host:port", s.Name, p.Kind, p.URL)
				}
			default:
				return fmt.Errorf("service %s: probe kind %q: want http, grpc or tcp", s.Name, p.Kind)
			}
		}
	}
	return nil
}

func controllerKind(controller string) string {
	if controller == "argocd" {
		return "Application"
	}
	return "Kustomization"
}

// Run verifies that the cluster c reads runs t. It returns an error, with
// the Result so far, when verification itself is impossible: an invalid
// target, credentials the API server refuses (the error names the missing
// RBAC permission), or ctx ending. A cluster that does not run t is not an
// error: Result.Verified is false and the reasons are in the Result.
func Run(ctx context.Context, c *kube.Client, t Target, o Options) (Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.LogLines <= 0 {
		o.LogLines = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GRPC == nil {
		o.GRPC = func(ctx context.Context, addr string, timeout time.Duration) error {
			_, err := grpcprobe.Run(ctx, addr, "", timeout)
			return err
		}
	}
	if t.Controller == "" {
		t.Controller = "none"
	}
	r := &run{c: c, t: t, o: o, descends: map[string]bool{}}
	r.res = Result{Env: t.Env, Controller: t.Controller, Started: o.Now()}
	for _, s := range t.Services {
		r.svcs = append(r.svcs, &svcState{svc: s, repo: parseImage(s.Repository).repo})
	}
	if err := validate(t, o); err != nil {
		r.res.Finished = o.Now()
		return r.res, fmt.Errorf("verify %s: %w", t.Env, err)
	}
	r.ctrl.applied = t.Controller == "none" || t.Commit == ""
	err := r.loop(ctx)
	r.finish(ctx, err)
	return r.res, err
}

// run is one verification in progress.
type run struct {
	c        *kube.Client
	t        Target
	o        Options
	res      Result
	ctrl     ctrlState
	svcs     []*svcState
	descends map[string]bool // commit -> contains t.Commit

	begin    time.Time // monotonic start
	timedOut bool
	failed   *svcState // the service that failed fast
}

// ctrlState is what is known of the controller.
type ctrlState struct {
	applied  bool
	revision string
	commit   string
	obs      observation
	line     string
	seen     observation // the last observation with a specific reason
}

// svcState is what is known of one service.
type svcState struct {
	svc      Service
	repo     string
	verified bool
	probed   bool // probes passed
	obs      observation
	seen     observation // the last observation with a specific reason
	line     string
}

// observation is one look at a service (or the controller).
type observation struct {
	// reason is a specific reason, or "" for plain progress.
	reason string
	// msg says what was seen: "Deployment shop/orders: 1 of 2 updated replicas".
	msg string
	// terminal: no point in waiting longer.
	terminal bool
	// rolledOut: every workload runs the digest (condition b).
	rolledOut bool
	workloads []string
	pods      int
	// problem is the failing container that explains the state, if any.
	problem *podProblem
}

// fatal is an error that ends Run: the API server refused the credentials.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// check classifies a read error: refused credentials and the end of ctx
// end Run; anything else (a slow answer, an API server restarting) is
// retried next round.
func check(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, kube.ErrForbidden) {
		return fatal{err}
	}
	return nil
}

func (r *run) loop(ctx context.Context) error {
	r.begin = time.Now()
	deadline := r.begin.Add(r.o.Timeout)
	for {
		if err := r.round(ctx); err != nil {
			return err
		}
		if r.done() || r.failed != nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			r.timedOut = true
			return nil
		}
		wait := min(r.o.Interval, left)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (r *run) done() bool {
	if !r.ctrl.applied {
		return false
	}
	for _, s := range r.svcs {
		if !s.verified {
			return false
		}
	}
	return true
}

// round looks at the cluster once.
func (r *run) round(ctx context.Context) error {
	if !r.ctrl.applied {
		if err := r.checkController(ctx); err != nil {
			return err
		}
		r.progress(r.t.Controller, &r.ctrl.line, r.ctrl.obs, r.ctrl.applied, "applied "+r.ctrl.revision)
	}
	var pending []*svcState
	for _, s := range r.svcs {
		if !s.verified {
			pending = append(pending, s)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	ws, err := r.listWorkloads(ctx)
	if err != nil {
		if e := check(ctx, err); e != nil {
			return e
		}
		for _, s := range pending {
			s.observe(observation{msg: "the workloads to be listed: " + err.Error()})
		}
		return nil
	}
	for _, s := range pending {
		obs, err := r.checkService(ctx, s, ws)
		if err != nil {
			return err
		}
		if obs.rolledOut && !r.ctrl.applied {
			obs.reason = ReasonNotApplied
			obs.msg = fmt.Sprintf("%s, but %s has not applied %s yet", obs.msg, r.t.Controller, shortCommit(r.t.Commit))
		}
		if obs.rolledOut && r.ctrl.applied && !s.probed {
			if s.obs.reason == ReasonProbeFailed && time.Until(r.begin.Add(r.o.Timeout)) < minProbeTime {
				// Too little time left for a fair attempt: the last
				// failure says more than a cut-short one would.
				continue
			}
			msg := r.probe(ctx, s)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if msg != "" {
				obs.reason, obs.msg = ReasonProbeFailed, obs.msg+"; "+msg
			} else {
				s.probed = true
			}
		}
		s.observe(obs)
		if obs.rolledOut && r.ctrl.applied && s.probed {
			s.verified = true
		}
		r.progress(s.svc.Name, &s.line, s.obs, s.verified, verifiedLine(s.obs, s.svc.Digest))
		if obs.terminal && r.failed == nil {
			r.failed = s
		}
	}
	return nil
}

func verifiedLine(obs observation, digest string) string {
	return fmt.Sprintf("verified: %s, %s at %s", strings.Join(obs.workloads, ", "), plural(obs.pods, "pod"), shortDigest(digest))
}

// observe records an observation, remembering the last specific one.
func (s *svcState) observe(obs observation) {
	s.obs = obs
	if obs.reason != "" && obs.reason != ReasonNotApplied {
		s.seen = obs
	}
}

// progress reports a changed state line of who.
func (r *run) progress(who string, last *string, obs observation, ok bool, okLine string) {
	line := okLine
	if !ok {
		line = waitingText(obs)
		if obs.reason != "" {
			line = obs.reason + ": " + obs.msg
		}
	}
	if line == *last {
		return
	}
	*last = line
	if r.o.Progress != nil {
		r.o.Progress(fmt.Sprintf("%s %s: %s", r.t.Env, who, line))
	}
}

// A round's probes of a service take at most maxProbeTime, and at least
// minProbeTime even when the timeout is nearer.
const (
	maxProbeTime = 5 * time.Second
	minProbeTime = time.Second
)

// probe runs the service's probes once rolled out, within a short budget
// so that a failing probe does not hold up the other services; it returns
// "" when they pass, else what failed.
func (r *run) probe(ctx context.Context, s *svcState) string {
	budget := maxProbeTime
	if left := time.Until(r.begin.Add(r.o.Timeout)); left < budget {
		budget = max(left.Truncate(100*time.Millisecond), minProbeTime)
	}
	for _, p := range s.svc.Probes {
		var err error
		switch p.Kind {
		case "http":
			_, err = smoke.Run(ctx, smoke.Check{URL: p.URL, Status: p.Status, Timeout: budget})
		case "tcp":
			_, err = smoke.RunTCP(ctx, p.URL, budget)
		case "grpc":
			err = r.o.GRPC(ctx, p.URL, budget)
		}
		if err != nil {
			return fmt.Sprintf("%s probe %s: %v", p.Kind, p.URL, err)
		}
	}
	return ""
}

// finish fills in the Result.
func (r *run) finish(ctx context.Context, err error) {
	res := &r.res
	res.ControllerRevision = r.ctrl.revision
	var fatalErr fatal
	isFatal := errors.As(err, &fatalErr)
	// end says how verification ended, for a message about the last state.
	end := func(obs observation, what string) string {
		switch {
		case r.timedOut && obs.reason == "":
			return fmt.Sprintf("still waiting after %s for %s", r.o.Timeout, obs.msg)
		case r.timedOut:
			return fmt.Sprintf("%s (not %s within %s)", obs.msg, what, r.o.Timeout)
		case err != nil && !isFatal:
			return fmt.Sprintf("%s (%v)", waitingText(obs), err)
		}
		return waitingText(obs)
	}
	if r.ctrl.applied {
		res.AppliedCommit = r.ctrl.commit
	} else if !isFatal {
		obs := r.ctrl.obs
		if obs.reason == "" && r.ctrl.seen.reason != "" {
			obs = r.ctrl.seen
		}
		res.Reason, res.Message = obs.reason, end(obs, "applied")
		if res.Reason == "" {
			res.Reason = ReasonNotApplied
		}
	}
	for _, s := range r.svcs {
		sr := ServiceResult{Name: s.svc.Name, Digest: s.svc.Digest, Verified: s.verified,
			Workloads: s.obs.workloads, Pods: s.obs.pods}
		if !s.verified {
			obs := s.obs
			switch {
			case isFatal:
				sr.Reason, sr.Message = ReasonForbidden, fatalErr.Error()
			case s == r.failed:
				sr.Reason, sr.Message = obs.reason, obs.msg
			case obs.msg == "":
				sr.Reason, sr.Message = ReasonTimeout, "not looked at"
			case obs.reason == "" && s.seen.reason != "":
				// A crash-looping container passes through Running
				// between its restarts: the crash explains more.
				sr.Reason, obs.problem = s.seen.reason, s.seen.problem
				sr.Message = fmt.Sprintf("%s; in the end %s", s.seen.msg, end(obs, "verified"))
			default:
				sr.Reason, sr.Message = obs.reason, end(obs, "verified")
			}
			if sr.Reason == "" {
				switch {
				case r.timedOut:
					sr.Reason = ReasonTimeout
				case r.failed != nil:
					sr.Reason = ReasonStopped
					sr.Message += fmt.Sprintf(" (verification stopped: %s failed)", r.failed.svc.Name)
				default:
					sr.Reason = ReasonCanceled
				}
			}
			if p := obs.problem; p != nil && ctx.Err() == nil && !isFatal {
				sr.Log = r.readLog(ctx, p)
			}
		}
		res.Services = append(res.Services, sr)
	}
	res.Verified = err == nil && r.done()
	res.Finished = r.o.Now()
}

// waitingText phrases an observation on its own: a plain one says what is
// awaited ("waiting for Deployment shop/orders: 1 of 2 updated replicas").
func waitingText(obs observation) string {
	if obs.reason == "" {
		return "waiting for " + obs.msg
	}
	return obs.msg
}

// readLog returns the last lines of a failing container's log, or "" when
// it cannot be read: the log is a help, not part of the verdict.
func (r *run) readLog(ctx context.Context, p *podProblem) string {
	if !p.logs {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var text string
	var err error
	if p.previous {
		text, err = r.c.PreviousLogs(ctx, p.namespace, p.pod, p.container, r.o.LogLines)
	}
	if !p.previous || err != nil || strings.TrimSpace(text) == "" {
		text, err = r.c.Logs(ctx, p.namespace, p.pod, p.container, r.o.LogLines)
	}
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > r.o.LogLines {
		lines = lines[len(lines)-r.o.LogLines:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
