package kube

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// Resource names a kind of object in the API: where its collection is.
type Resource struct {
	// Group is the API group ("" for the core group).
	Group string
	// Version is the API version, e.g. "v1".
	Version string
	// Plural is the resource name in paths, e.g. "deployments".
	Plural string
	// Kind is the object kind, e.g. "Deployment".
	Kind string
}

// The resources this package has types for.
var (
	Pods             = Resource{"", "v1", "pods", "Pod"}
	ReplicaSets      = Resource{"apps", "v1", "replicasets", "ReplicaSet"}
	Deployments      = Resource{"apps", "v1", "deployments", "Deployment"}
	StatefulSets     = Resource{"apps", "v1", "statefulsets", "StatefulSet"}
	DaemonSets       = Resource{"apps", "v1", "daemonsets", "DaemonSet"}
	Kustomizations   = Resource{"kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"}
	ArgoApplications = Resource{"argoproj.io", "v1alpha1", "applications", "Application"}
)

// Path is the API path of the object name in namespace, of the collection
// in namespace when name is empty, and of the collection across every
// namespace when both are empty.
func (r Resource) Path(namespace, name string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/" + r.Version)
	} else {
		b.WriteString("/apis/" + r.Group + "/" + r.Version)
	}
	if namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(namespace))
	}
	b.WriteString("/" + r.Plural)
	if name != "" {
		b.WriteString("/" + url.PathEscape(name))
	}
	return b.String()
}

// ObjectMeta is the metadata every object has.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
	CreationTimestamp *time.Time        `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
}

// OwnerReference points from an object to the one that manages it.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller,omitempty"`
}

// ControllerOf returns the owner reference marked as m's controller.
func (m ObjectMeta) ControllerOf() (OwnerReference, bool) {
	for _, o := range m.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o, true
		}
	}
	return OwnerReference{}, false
}

// Condition is the common shape of status conditions.
type Condition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	ObservedGeneration int64      `json:"observedGeneration,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// FindCondition returns the condition of type t.
func FindCondition(conds []Condition, t string) (Condition, bool) {
	for _, c := range conds {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// LabelSelector selects objects by label.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression of a LabelSelector.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"` // In, NotIn, Exists, DoesNotExist
	Values   []string `json:"values,omitempty"`
}

// String is the selector in the syntax of the labelSelector query
// parameter: "app=orders,tier in (api,web),!canary". An empty selector
// gives "", which selects everything.
func (s LabelSelector) String() string {
	var parts []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case "In":
			parts = append(parts, e.Key+" in ("+strings.Join(e.Values, ",")+")")
		case "NotIn":
			parts = append(parts, e.Key+" notin ("+strings.Join(e.Values, ",")+")")
		case "Exists":
			parts = append(parts, e.Key)
		case "DoesNotExist":
			parts = append(parts, "!"+e.Key)
		}
	}
	return strings.Join(parts, ",")
}

// Container is a container of a pod template or pod.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// PodSpec is the part of a pod's spec this package reads.
type PodSpec struct {
	InitContainers []Container `json:"initContainers,omitempty"`
	Containers     []Container `json:"containers"`
	NodeName       string      `json:"nodeName,omitempty"`
}

// PodTemplateSpec is a workload's pod template.
type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
}

// Deployment is an apps/v1 Deployment.
type Deployment struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Replicas                *int32          `json:"replicas,omitempty"`
		Selector                LabelSelector   `json:"selector"`
		Template                PodTemplateSpec `json:"template"`
		ProgressDeadlineSeconds *int32          `json:"progressDeadlineSeconds,omitempty"`
		Paused                  bool            `json:"paused,omitempty"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration  int64       `json:"observedGeneration,omitempty"`
		Replicas            int32       `json:"replicas,omitempty"`
		UpdatedReplicas     int32       `json:"updatedReplicas,omitempty"`
		ReadyReplicas       int32       `json:"readyReplicas,omitempty"`
		AvailableReplicas   int32       `json:"availableReplicas,omitempty"`
		UnavailableReplicas int32       `json:"unavailableReplicas,omitempty"`
		Conditions          []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// DeploymentList is a list of Deployments.
type DeploymentList struct {
	Items []Deployment `json:"items"`
}

// StatefulSet is an apps/v1 StatefulSet.
type StatefulSet struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Replicas       *int32          `json:"replicas,omitempty"`
		Selector       LabelSelector   `json:"selector"`
		Template       PodTemplateSpec `json:"template"`
		UpdateStrategy struct {
			Type          string `json:"type,omitempty"`
			RollingUpdate *struct {
				Partition *int32 `json:"partition,omitempty"`
			} `json:"rollingUpdate,omitempty"`
		} `json:"updateStrategy"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64       `json:"observedGeneration,omitempty"`
		Replicas           int32       `json:"replicas,omitempty"`
		ReadyReplicas      int32       `json:"readyReplicas,omitempty"`
		CurrentReplicas    int32       `json:"currentReplicas,omitempty"`
		UpdatedReplicas    int32       `json:"updatedReplicas,omitempty"`
		AvailableReplicas  int32       `json:"availableReplicas,omitempty"`
		CurrentRevision    string      `json:"currentRevision,omitempty"`
		UpdateRevision     string      `json:"updateRevision,omitempty"`
		Conditions         []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// StatefulSetList is a list of StatefulSets.
type StatefulSetList struct {
	Items []StatefulSet `json:"items"`
}

// DaemonSet is an apps/v1 DaemonSet.
type DaemonSet struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector       LabelSelector   `json:"selector"`
		Template       PodTemplateSpec `json:"template"`
		UpdateStrategy struct {
			Type string `json:"type,omitempty"`
		} `json:"updateStrategy"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration     int64       `json:"observedGeneration,omitempty"`
		CurrentNumberScheduled int32       `json:"currentNumberScheduled"`
		NumberMisscheduled     int32       `json:"numberMisscheduled"`
		DesiredNumberScheduled int32       `json:"desiredNumberScheduled"`
		NumberReady            int32       `json:"numberReady"`
		UpdatedNumberScheduled int32       `json:"updatedNumberScheduled,omitempty"`
		NumberAvailable        int32       `json:"numberAvailable,omitempty"`
		NumberUnavailable      int32       `json:"numberUnavailable,omitempty"`
		Conditions             []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// DaemonSetList is a list of DaemonSets.
type DaemonSetList struct {
	Items []DaemonSet `json:"items"`
}

// ReplicaSet is an apps/v1 ReplicaSet (what a Deployment's pods belong to).
type ReplicaSet struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Replicas *int32          `json:"replicas,omitempty"`
		Selector LabelSelector   `json:"selector"`
		Template PodTemplateSpec `json:"template"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration,omitempty"`
		Replicas           int32 `json:"replicas"`
		ReadyReplicas      int32 `json:"readyReplicas,omitempty"`
		AvailableReplicas  int32 `json:"availableReplicas,omitempty"`
	} `json:"status"`
}

// ReplicaSetList is a list of ReplicaSets.
type ReplicaSetList struct {
	Items []ReplicaSet `json:"items"`
}

// Pod is a v1 Pod.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
	Status   PodStatus  `json:"status"`
}

// PodStatus is the part of a pod's status this package reads.
type PodStatus struct {
	Phase                 string            `json:"phase,omitempty"`
	Reason                string            `json:"reason,omitempty"`
	Message               string            `json:"message,omitempty"`
	Conditions            []Condition       `json:"conditions,omitempty"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
}

// Ready reports whether the pod's Ready condition is True.
func (p Pod) Ready() bool {
	c, ok := FindCondition(p.Status.Conditions, "Ready")
	return ok && c.Status == "True"
}

// ContainerStatus is what the kubelet reports of one container.
type ContainerStatus struct {
	Name string `json:"name"`
	// Image is the image the container runs, as the runtime names it.
	Image string `json:"image"`
	// ImageID is the runtime's identifier of that image; with containerd
	// and CRI-O, "<repository>@sha256:<digest>".
	ImageID              string         `json:"imageID"`
	Ready                bool           `json:"ready"`
	RestartCount         int32          `json:"restartCount"`
	Started              *bool          `json:"started,omitempty"`
	State                ContainerState `json:"state,omitempty"`
	LastTerminationState ContainerState `json:"lastState,omitempty"`
}

// ContainerState is one of waiting, running or terminated.
type ContainerState struct {
	Waiting *struct {
		Reason  string `json:"reason,omitempty"`
		Message string `json:"message,omitempty"`
	} `json:"waiting,omitempty"`
	Running *struct {
		StartedAt *time.Time `json:"startedAt,omitempty"`
	} `json:"running,omitempty"`
	Terminated *struct {
		ExitCode int32  `json:"exitCode"`
		Signal   int32  `json:"signal,omitempty"`
		Reason   string `json:"reason,omitempty"`
		Message  string `json:"message,omitempty"`
	} `json:"terminated,omitempty"`
}

// PodList is a list of Pods.
type PodList struct {
	Items []Pod `json:"items"`
}

// Kustomization is a Flux kustomize.toolkit.fluxcd.io/v1 Kustomization.
type Kustomization struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Path      string `json:"path,omitempty"`
		Suspend   bool   `json:"suspend,omitempty"`
		SourceRef struct {
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			Namespace string `json:"namespace,omitempty"`
		} `json:"sourceRef"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration,omitempty"`
		// LastAppliedRevision is the source revision last applied
		// successfully, "<branch>@sha1:<commit>" for a Git source.
		LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
		// LastAttemptedRevision is the source revision last tried.
		LastAttemptedRevision string      `json:"lastAttemptedRevision,omitempty"`
		Conditions            []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// Application is an Argo CD argoproj.io/v1alpha1 Application.
type Application struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Source *struct {
			RepoURL        string `json:"repoURL"`
			Path           string `json:"path,omitempty"`
			TargetRevision string `json:"targetRevision,omitempty"`
		} `json:"source,omitempty"`
	} `json:"spec"`
	Status struct {
		Sync struct {
			// Status is Synced, OutOfSync or Unknown.
			Status string `json:"status,omitempty"`
			// Revision is the commit compared against (one source).
			Revision string `json:"revision,omitempty"`
			// Revisions are the commits of a multi-source Application.
			Revisions []string `json:"revisions,omitempty"`
		} `json:"sync"`
		Health struct {
			// Status is Healthy, Progressing, Degraded, Suspended,
			// Missing or Unknown.
			Status  string `json:"status,omitempty"`
			Message string `json:"message,omitempty"`
		} `json:"health"`
		OperationState *struct {
			// Phase is Running, Succeeded, Failed, Error or Terminating.
			Phase      string `json:"phase,omitempty"`
			Message    string `json:"message,omitempty"`
			SyncResult *struct {
				Revision  string   `json:"revision,omitempty"`
				Revisions []string `json:"revisions,omitempty"`
			} `json:"syncResult,omitempty"`
		} `json:"operationState,omitempty"`
		// Resources are the Application's objects with their own health.
		Resources []struct {
			Group     string `json:"group,omitempty"`
			Kind      string `json:"kind"`
			Namespace string `json:"namespace,omitempty"`
			Name      string `json:"name"`
			Status    string `json:"status,omitempty"`
			Health    *struct {
				Status  string `json:"status,omitempty"`
				Message string `json:"message,omitempty"`
			} `json:"health,omitempty"`
		} `json:"resources,omitempty"`
		Conditions []struct {
			Type    string `json:"type"`
			Message string `json:"message,omitempty"`
		} `json:"conditions,omitempty"`
	} `json:"status"`
}
