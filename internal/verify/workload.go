package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/internal/kube"
)

// workloads are the environment's Deployments, StatefulSets and
// DaemonSets, read once per round.
type workloads struct {
	deployments  []kube.Deployment
	statefulSets []kube.StatefulSet
	daemonSets   []kube.DaemonSet
}

// namespaces returns the namespaces to list in; "" lists every namespace.
func (r *run) namespaces() []string {
	if len(r.t.Namespaces) == 0 {
		return []string{""}
	}
	return r.t.Namespaces
}

func (r *run) listWorkloads(ctx context.Context) (workloads, error) {
	var ws workloads
	for _, ns := range r.namespaces() {
		var d kube.DeploymentList
		if err := r.c.List(ctx, kube.Deployments.Path(ns, ""), kube.ListOptions{}, &d); err != nil {
			return ws, err
		}
		var s kube.StatefulSetList
		if err := r.c.List(ctx, kube.StatefulSets.Path(ns, ""), kube.ListOptions{}, &s); err != nil {
			return ws, err
		}
		var ds kube.DaemonSetList
		if err := r.c.List(ctx, kube.DaemonSets.Path(ns, ""), kube.ListOptions{}, &ds); err != nil {
			return ws, err
		}
		ws.deployments = append(ws.deployments, d.Items...)
		ws.statefulSets = append(ws.statefulSets, s.Items...)
		ws.daemonSets = append(ws.daemonSets, ds.Items...)
	}
	return ws, nil
}

// workload is what the checks share of the three kinds.
type workload struct {
	kind     string
	meta     kube.ObjectMeta
	selector kube.LabelSelector
	template kube.PodSpec
}

func (w workload) String() string {
	return fmt.Sprintf("%s %s/%s", w.kind, w.meta.Namespace, w.meta.Name)
}

// containers returns the template's containers (init containers first)
// that run repo.
func (w workload) containers(repo string) []kube.Container {
	var out []kube.Container
	for _, c := range append(append([]kube.Container{}, w.template.InitContainers...), w.template.Containers...) {
		if parseImage(c.Image).repo == repo {
			out = append(out, c)
		}
	}
	return out
}

// checkService looks at a service's workloads once.
func (r *run) checkService(ctx context.Context, s *svcState, ws workloads) (observation, error) {
	var checks []func() (observation, error)
	var names []string
	add := func(w workload, f func() (observation, error)) {
		if len(w.containers(s.repo)) > 0 {
			names = append(names, w.String())
			checks = append(checks, func() (observation, error) {
				obs, err := f()
				if err != nil {
					obs = observation{msg: fmt.Sprintf("the pods of %s to be listed: %v", w, err)}
				}
				return obs, err
			})
		}
	}
	for i := range ws.deployments {
		d := &ws.deployments[i]
		add(workload{"Deployment", d.Metadata, d.Spec.Selector, d.Spec.Template.Spec}, func() (observation, error) { return r.checkDeployment(ctx, s, d) })
	}
	for i := range ws.statefulSets {
		st := &ws.statefulSets[i]
		add(workload{"StatefulSet", st.Metadata, st.Spec.Selector, st.Spec.Template.Spec}, func() (observation, error) { return r.checkStatefulSet(ctx, s, st) })
	}
	for i := range ws.daemonSets {
		ds := &ws.daemonSets[i]
		add(workload{"DaemonSet", ds.Metadata, ds.Spec.Selector, ds.Spec.Template.Spec}, func() (observation, error) { return r.checkDaemonSet(ctx, s, ds) })
	}
	if len(checks) == 0 {
		where := "any namespace"
		if len(r.t.Namespaces) > 0 {
			where = "namespace"
			if len(r.t.Namespaces) > 1 {
				where += "s"
			}
			where += " " + strings.Join(r.t.Namespaces, ", ")
		}
		return observation{reason: ReasonNoWorkload, msg: fmt.Sprintf("no Deployment, StatefulSet or DaemonSet in %s runs %s", where, s.svc.Repository)}, nil
	}
	total := observation{rolledOut: true, workloads: names}
	var worst *observation
	for _, f := range checks {
		obs, err := f()
		if err != nil {
			if e := check(ctx, err); e != nil {
				return observation{}, e
			}
		}
		if obs.rolledOut {
			total.pods += obs.pods
			continue
		}
		if worst == nil || rank(obs) > rank(*worst) {
			o := obs
			worst = &o
		}
	}
	if worst != nil {
		worst.workloads = names
		return *worst, nil
	}
	total.msg = fmt.Sprintf("%s rolled out, %s at %s", strings.Join(names, ", "), plural(total.pods, "pod"), shortDigest(s.svc.Digest))
	return total, nil
}

// rank orders observations of several workloads: the one reported is the
// most telling.
func rank(o observation) int {
	switch {
	case o.terminal:
		return 3
	case o.problem != nil:
		return 2
	case o.reason != "":
		return 1
	}
	return 0
}

// checkTemplate checks that every container of the repository in the
// template references the digest.
func checkTemplate(w workload, s *svcState) (observation, bool) {
	for _, c := range w.containers(s.repo) {
		ref := parseImage(c.Image)
		if ref.digest == s.svc.Digest {
			continue
		}
		runs := c.Image + " (no digest)"
		if ref.digest != "" {
			runs = strings.TrimSuffix(c.Image, ref.digest) + shortDigest(ref.digest)
		}
		return observation{reason: ReasonWrongDigest, msg: fmt.Sprintf("%s: container %s runs %s, not %s", w, c.Name, runs, shortDigest(s.svc.Digest))}, false
	}
	return observation{}, true
}

func (r *run) checkDeployment(ctx context.Context, s *svcState, d *kube.Deployment) (observation, error) {
	w := workload{"Deployment", d.Metadata, d.Spec.Selector, d.Spec.Template.Spec}
	if obs, ok := checkTemplate(w, s); !ok {
		return obs, nil
	}
	if d.Status.ObservedGeneration < d.Metadata.Generation {
		return observation{msg: fmt.Sprintf("%s: the deployment controller has not yet seen generation %d", w, d.Metadata.Generation)}, nil
	}
	pods, err := r.deploymentPods(ctx, d)
	if err != nil {
		return observation{}, err
	}
	desired := replicas(d.Spec.Replicas)
	ps := r.examinePods(w, s, pods)
	st := d.Status
	var wait string
	switch {
	case d.Spec.Paused:
		wait = "the rollout is paused"
	case st.UpdatedReplicas < desired:
		wait = fmt.Sprintf("%d of %d updated replicas", st.UpdatedReplicas, desired)
	case st.Replicas > st.UpdatedReplicas:
		wait = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < desired:
		wait = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, desired)
	}
	if c, ok := kube.FindCondition(st.Conditions, "Progressing"); ok && c.Reason == ReasonProgressDeadlineExceeded {
		obs := ps.waiting(w, wait, desired)
		obs.terminal = true
		deadline := ""
		if d.Spec.ProgressDeadlineSeconds != nil {
			deadline = fmt.Sprintf(" of %ds", *d.Spec.ProgressDeadlineSeconds)
		}
		detail := strings.TrimPrefix(obs.msg, w.String()+": ")
		obs.msg = fmt.Sprintf("%s: progress deadline%s exceeded (%s: %s); %s", w, deadline, c.Reason, c.Message, detail)
		if obs.reason == "" {
			obs.reason = ReasonProgressDeadlineExceeded
		}
		return obs, nil
	}
	if wait != "" {
		return ps.waiting(w, wait, desired), nil
	}
	return ps.done(w, s, desired), nil
}

// deploymentPods lists a Deployment's pods: those of its ReplicaSets.
func (r *run) deploymentPods(ctx context.Context, d *kube.Deployment) ([]kube.Pod, error) {
	ns, sel := d.Metadata.Namespace, kube.ListOptions{LabelSelector: d.Spec.Selector.String()}
	var rsl kube.ReplicaSetList
	if err := r.c.List(ctx, kube.ReplicaSets.Path(ns, ""), sel, &rsl); err != nil {
		return nil, err
	}
	owners := map[string]bool{}
	for _, rs := range rsl.Items {
		if ref, ok := rs.Metadata.ControllerOf(); ok && ref.UID == d.Metadata.UID {
			owners[rs.Metadata.UID] = true
		}
	}
	return r.ownedPods(ctx, ns, sel, owners)
}

// ownedPods lists the pods matching sel whose controller is one of owners.
func (r *run) ownedPods(ctx context.Context, ns string, sel kube.ListOptions, owners map[string]bool) ([]kube.Pod, error) {
	var pl kube.PodList
	if err := r.c.List(ctx, kube.Pods.Path(ns, ""), sel, &pl); err != nil {
		return nil, err
	}
	var out []kube.Pod
	for _, p := range pl.Items {
		if ref, ok := p.Metadata.ControllerOf(); ok && owners[ref.UID] && p.Metadata.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func (r *run) checkStatefulSet(ctx context.Context, s *svcState, sts *kube.StatefulSet) (observation, error) {
	w := workload{"StatefulSet", sts.Metadata, sts.Spec.Selector, sts.Spec.Template.Spec}
	if obs, ok := checkTemplate(w, s); !ok {
		return obs, nil
	}
	if sts.Status.ObservedGeneration < sts.Metadata.Generation {
		return observation{msg: fmt.Sprintf("%s: the statefulset controller has not yet seen generation %d", w, sts.Metadata.Generation)}, nil
	}
	pods, err := r.ownedPods(ctx, sts.Metadata.Namespace, kube.ListOptions{LabelSelector: sts.Spec.Selector.String()}, map[string]bool{sts.Metadata.UID: true})
	if err != nil {
		return observation{}, err
	}
	desired := replicas(sts.Spec.Replicas)
	ps := r.examinePods(w, s, pods)
	st := sts.Status
	var wait string
	switch {
	case st.UpdatedReplicas < desired:
		wait = fmt.Sprintf("%d of %d updated replicas", st.UpdatedReplicas, desired)
		if sts.Spec.UpdateStrategy.Type == "OnDelete" {
			wait += " (updateStrategy OnDelete: the old pods must be deleted)"
		} else if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			wait += fmt.Sprintf(" (partition %d keeps the pods below it at the old revision)", *ru.Partition)
		}
	case st.ReadyReplicas < desired:
		wait = fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, desired)
	case st.Replicas > desired:
		wait = fmt.Sprintf("%d extra replicas pending termination", st.Replicas-desired)
	case st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision:
		wait = fmt.Sprintf("revision %s to become current (current: %s)", st.UpdateRevision, st.CurrentRevision)
	}
	if wait != "" {
		return ps.waiting(w, wait, desired), nil
	}
	return ps.done(w, s, desired), nil
}

func (r *run) checkDaemonSet(ctx context.Context, s *svcState, ds *kube.DaemonSet) (observation, error) {
	w := workload{"DaemonSet", ds.Metadata, ds.Spec.Selector, ds.Spec.Template.Spec}
	if obs, ok := checkTemplate(w, s); !ok {
		return obs, nil
	}
	if ds.Status.ObservedGeneration < ds.Metadata.Generation {
		return observation{msg: fmt.Sprintf("%s: the daemonset controller has not yet seen generation %d", w, ds.Metadata.Generation)}, nil
	}
	pods, err := r.ownedPods(ctx, ds.Metadata.Namespace, kube.ListOptions{LabelSelector: ds.Spec.Selector.String()}, map[string]bool{ds.Metadata.UID: true})
	if err != nil {
		return observation{}, err
	}
	st := ds.Status
	desired := st.DesiredNumberScheduled
	ps := r.examinePods(w, s, pods)
	var wait string
	switch {
	case st.UpdatedNumberScheduled < desired:
		wait = fmt.Sprintf("%d of %d updated pods scheduled", st.UpdatedNumberScheduled, desired)
		if ds.Spec.UpdateStrategy.Type == "OnDelete" {
			wait += " (updateStrategy OnDelete: the old pods must be deleted)"
		}
	case st.NumberAvailable < desired:
		wait = fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, desired)
	}
	if wait != "" {
		return ps.waiting(w, wait, desired), nil
	}
	return ps.done(w, s, desired), nil
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// podProblem is a container that explains why a workload does not roll
// out.
type podProblem struct {
	reason                    string
	namespace, pod, container string
	// desc: "pod orders-7d9c container orders waiting CrashLoopBackOff (restarted 3 times)".
	desc string
	// logs: the container has run, so its log may say why it failed;
	// previous: read the previous instance's.
	logs, previous bool
}

// podSummary is what a workload's pods show.
type podSummary struct {
	ready   int32 // ready pods of the template being verified
	problem *podProblem
	// wrong describes a ready pod running another image, if any.
	wrong string
	// atDigest counts the ready pods running the digest.
	atDigest int
}

// failingReasons are the container waiting reasons that mean the
// container cannot start.
var failingReasons = map[string]int{
	"CrashLoopBackOff":           3,
	"ImagePullBackOff":           4,
	"ErrImagePull":               4,
	"InvalidImageName":           4,
	"ErrImageNeverPull":          4,
	"CreateContainerConfigError": 4,
	"CreateContainerError":       4,
	"RunContainerError":          3,
}

// examinePods reads a workload's live pods: how many are ready and run the
// digest, and the most telling failing container, preferring the pods of
// the new template (those whose containers reference the digest).
func (r *run) examinePods(w workload, s *svcState, pods []kube.Pod) podSummary {
	var ps podSummary
	best := 0
	for _, p := range pods {
		newPod := podRunsTemplate(p, s)
		if p.Ready() && newPod {
			ps.ready++
		}
		if p.Ready() {
			ok := true
			for _, c := range podContainers(p) {
				if parseImage(c.Image).repo != s.repo {
					continue
				}
				cs, found := status(append(append([]kube.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...), c.Name)
				if !found || !runsDigest(cs.ImageID, cs.Image, s.svc.Digest) {
					ok = false
					if ps.wrong == "" {
						ps.wrong = fmt.Sprintf("ready pod %s container %s runs %s, not %s", p.Metadata.Name, c.Name, reportedImage(cs.ImageID, cs.Image), shortDigest(s.svc.Digest))
					}
				}
			}
			if ok {
				ps.atDigest++
			}
		}
		prob, weight := podTrouble(p)
		if prob == nil {
			continue
		}
		if newPod {
			weight += 10
		}
		if weight > best {
			best, ps.problem = weight, prob
		}
	}
	return ps
}

// podRunsTemplate reports whether the pod's containers of the service's
// repository reference the digest: a pod of the rollout being verified.
func podRunsTemplate(p kube.Pod, s *svcState) bool {
	found := false
	for _, c := range podContainers(p) {
		ref := parseImage(c.Image)
		if ref.repo != s.repo {
			continue
		}
		if ref.digest != s.svc.Digest {
			return false
		}
		found = true
	}
	return found
}

// podContainers returns a pod's init containers and containers.
func podContainers(p kube.Pod) []kube.Container {
	return append(append([]kube.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
}

func status(list []kube.ContainerStatus, name string) (kube.ContainerStatus, bool) {
	for _, cs := range list {
		if cs.Name == name {
			return cs, true
		}
	}
	return kube.ContainerStatus{}, false
}

// podTrouble returns the pod's most telling failing container (or its
// being unschedulable) and a weight to compare it with others.
func podTrouble(p kube.Pod) (*podProblem, int) {
	var best *podProblem
	bestW := 0
	consider := func(cs kube.ContainerStatus, init bool) {
		kind := "container"
		if init {
			kind = "init container"
		}
		if wt := cs.State.Waiting; wt != nil {
			w, ok := failingReasons[wt.Reason]
			if !ok || w <= bestW {
				return
			}
			pr := &podProblem{reason: wt.Reason, namespace: p.Metadata.Namespace, pod: p.Metadata.Name, container: cs.Name}
			pr.desc = fmt.Sprintf("pod %s %s %s waiting %s", p.Metadata.Name, kind, cs.Name, wt.Reason)
			switch wt.Reason {
			case "CrashLoopBackOff", "RunContainerError":
				pr.logs, pr.previous = true, cs.RestartCount > 0
				pr.desc += fmt.Sprintf(" (restarted %s", plural(int(cs.RestartCount), "time"))
				if t := cs.LastTerminationState.Terminated; t != nil {
					pr.desc += fmt.Sprintf(", last exit code %d", t.ExitCode)
					if t.Reason != "" && t.Reason != "Error" {
						pr.desc += " " + t.Reason
					}
				}
				pr.desc += ")"
			default:
				if wt.Message != "" {
					pr.desc += ": " + clip(wt.Message, 300)
				}
			}
			best, bestW = pr, w
			return
		}
		// A container that keeps exiting shows Terminated between its
		// back-offs.
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && cs.RestartCount > 0 && bestW < 2 {
			reason := "CrashLoopBackOff"
			best = &podProblem{reason: reason, namespace: p.Metadata.Namespace, pod: p.Metadata.Name, container: cs.Name, logs: true}
			best.desc = fmt.Sprintf("pod %s %s %s exited with code %d (restarted %s)", p.Metadata.Name, kind, cs.Name, t.ExitCode, plural(int(cs.RestartCount), "time"))
			bestW = 2
		}
	}
	for _, cs := range p.Status.InitContainerStatuses {
		consider(cs, true)
	}
	for _, cs := range p.Status.ContainerStatuses {
		consider(cs, false)
	}
	if best == nil {
		if c, ok := kube.FindCondition(p.Status.Conditions, "PodScheduled"); ok && c.Status == "False" && c.Reason == ReasonUnschedulable {
			best = &podProblem{reason: ReasonUnschedulable, namespace: p.Metadata.Namespace, pod: p.Metadata.Name,
				desc: fmt.Sprintf("pod %s unschedulable: %s", p.Metadata.Name, clip(c.Message, 300))}
			bestW = 1
		}
	}
	return best, bestW
}

// waiting is the observation of a workload still rolling out: wait says
// what it waits for, and a failing pod, when there is one, says why.
func (ps podSummary) waiting(w workload, wait string, desired int32) observation {
	if ps.problem != nil {
		return observation{reason: ps.problem.reason, problem: ps.problem,
			msg: fmt.Sprintf("%s: %d of %d updated pods ready; %s", w, ps.ready, desired, ps.problem.desc)}
	}
	if wait == "" {
		wait = fmt.Sprintf("%d of %d updated pods ready", ps.ready, desired)
	}
	return observation{msg: fmt.Sprintf("%s: %s", w, wait)}
}

// done is the observation of a workload whose controller says it rolled
// out: its ready pods must run the digest.
func (ps podSummary) done(w workload, s *svcState, desired int32) observation {
	if ps.wrong != "" {
		return observation{reason: ReasonWrongDigest, msg: fmt.Sprintf("%s: %s", w, ps.wrong)}
	}
	if int32(ps.atDigest) < desired {
		// The status counts ran ahead of the pod list.
		return ps.waiting(w, fmt.Sprintf("%d of %d ready pods at %s", ps.atDigest, desired, shortDigest(s.svc.Digest)), desired)
	}
	return observation{rolledOut: true, pods: ps.atDigest}
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
