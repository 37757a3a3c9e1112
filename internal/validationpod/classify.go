package validationpod

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// State is where a validation pod stands, in the terms the state machine decides on.
type State string

// States. Succeeded, Failed, InfraFailed and TimedOut are terminal.
const (
	StatePending     State = "Pending"     // not running yet (scheduling, pulling, cloning)
	StateRunning     State = "Running"     // the notebook is executing
	StateSucceeded   State = "Succeeded"   // the runner says passed
	StateFailed      State = "Failed"      // the notebook or the job's inputs are at fault: a result, not retried
	StateInfraFailed State = "InfraFailed" // the platform failed the run: worth another pod
	StateTimedOut    State = "TimedOut"    // spec.timeout (activeDeadlineSeconds) ran out
)

// Infrastructure reasons Classify sets; summary reasons (summary.Reason*) pass through.
const (
	ReasonPodMissing       = "PodMissing"
	ReasonPodDeleted       = "PodDeleted"
	ReasonScheduling       = "Unschedulable"
	ReasonPreparing        = "Preparing"
	ReasonStarting         = "Starting"
	ReasonRunning          = "Running"
	ReasonPublishing       = "Publishing"
	ReasonImagePull        = "ImagePullFailed"
	ReasonContainerConfig  = "CreateContainerConfigError"
	ReasonOOMKilled        = "OOMKilled"
	ReasonEvicted          = "Evicted"
	ReasonTimeout          = "Timeout"
	ReasonNodeLost         = "NodeLost"
	ReasonDisrupted        = "Disrupted"
	ReasonPrepareFailed    = "PrepareFailed"
	ReasonSummaryMissing   = "SummaryMissing"
	ReasonSummaryMalformed = "SummaryMalformed"
	ReasonContainerFailed  = "ContainerFailed"
	ReasonInconsistent     = "InconsistentSummary"
	ReasonPodFailed        = "PodFailed"
)

// Outcome is what a validation pod says about the run.
type Outcome struct {
	State State
	// Reason is machine-readable: a summary.Reason* value or one of the Reason* above.
	Reason string
	// Message tells the user what happened and, for failures, what to change.
	Message string
	// Summary is the runner's decoded summary, when there is one.
	Summary *summary.Summary
	// Artifact is what the publish sidecar pushed, on a terminal outcome of a pod that has
	// one (nil otherwise).
	Artifact *v1alpha1.ArtifactStatus
}

// Terminal reports whether the pod will not change its outcome any more.
func (o Outcome) Terminal() bool {
	switch o.State {
	case StateSucceeded, StateFailed, StateInfraFailed, StateTimedOut:
		return true
	}
	return false
}

// userErrorReasons are runner errors no retry can fix: the job's inputs or image are wrong.
var userErrorReasons = map[string]string{
	summary.ReasonCloneAuthFailed:  "the git server rejected the credentials: check the Secret named in git.credentialsSecret (HTTPS needs username+password or token, SSH needs ssh-privatekey and known_hosts), and that it grants read access to the repository",
	summary.ReasonRefNotFound:      "the branch, tag or commit in git.ref does not exist in the repository: fix git.ref",
	summary.ReasonRepoNotFound:     "the repository does not exist or is private: check git.url, and set git.credentialsSecret if the repository needs credentials",
	summary.ReasonNotebookNotFound: "there is no notebook at the given path at that ref: check notebook.path (relative to the repository root) against git.ref",
	summary.ReasonNotANotebook:     "the file at the given path is not a valid .ipynb notebook: check notebook.path",
	summary.ReasonNotebookTooLarge: "the notebook or the golden notebook is larger than the runner accepts: clear large outputs, or raise the limit with the runner's --max-notebook-bytes",
	summary.ReasonKernelMissing:    "the image has no kernel of the requested name: install it in the image or set execution.kernelName",
	summary.ReasonPythonMissing:    "the image has no python3 with nbclient: use a Jupyter image, or install nbclient, nbformat and ipykernel in it",
}

// Classify reads a validation pod's status. It is pure: everything it needs is on the Pod,
// including the runner's summary in the containers' termination messages and, once the pod
// is terminal, the publish sidecar's result.
func Classify(pod *corev1.Pod) Outcome {
	o := classify(pod)
	if !o.Terminal() || pod == nil {
		return o
	}
	if (o.State == StateSucceeded || o.State == StateFailed) && publishing(pod) {
		// The notebook's verdict is in, its record not yet: a kubelet that reports the pod's
		// phase before its sidecar has stopped gets one more update, with the record.
		return Outcome{State: StateRunning, Reason: ReasonPublishing, Message: "the notebook ended; pushing the run's record"}
	}
	o.Artifact = publishResult(pod)
	return o
}

func classify(pod *corev1.Pod) Outcome {
	if pod == nil {
		return Outcome{State: StateInfraFailed, Reason: ReasonPodMissing,
			Message: "the validation pod does not exist (deleted before it finished)"}
	}
	st := &pod.Status
	// The pod-level reasons first: they explain why containers stopped, which container
	// states alone cannot.
	switch st.Reason {
	case "DeadlineExceeded":
		return Outcome{State: StateTimedOut, Reason: ReasonTimeout, Message: timeoutMessage(pod)}
	case "Evicted":
		return Outcome{State: StateInfraFailed, Reason: ReasonEvicted,
			Message: fmt.Sprintf("the validation pod was evicted from node %s (%s); it will be retried, and setting podConfig.resources requests avoids eviction under node pressure", nodeName(pod), orDefault(st.Message, "no detail"))}
	case "NodeLost":
		return nodeLost(pod)
	}
	if st.Phase == corev1.PodUnknown {
		return nodeLost(pod)
	}

	if o, done := classifyPrepare(pod); done {
		return o
	}
	switch st.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return classifyTerminal(pod)
	case corev1.PodRunning:
		if pod.DeletionTimestamp != nil {
			return deleted(pod)
		}
		return Outcome{State: StateRunning, Reason: ReasonRunning, Message: "executing the notebook"}
	default:
		if pod.DeletionTimestamp != nil {
			return deleted(pod)
		}
		return classifyPending(pod)
	}
}

// classifyPrepare decides when the prepare container failed: with restartPolicy Never the
// pod is finished then, whatever phase the status update that carries it shows.
func classifyPrepare(pod *corev1.Pod) (Outcome, bool) {
	cs := containerStatus(pod.Status.InitContainerStatuses, PrepareContainer)
	if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode == 0 {
		return Outcome{}, false
	}
	t := cs.State.Terminated
	if t.Reason == "OOMKilled" {
		return Outcome{State: StateInfraFailed, Reason: ReasonOOMKilled,
			Message: fmt.Sprintf("cloning ran out of memory (the prepare container's limit is %s); the repository may be too large for it", memoryLimit(pod, PrepareContainer, true))}, true
	}
	s, err := DecodeSummary(t.Message)
	if errors.Is(err, summary.ErrInvalid) {
		return inconsistent(pod, PrepareContainer, invalidDetail(err)), true
	}
	if err != nil {
		return Outcome{State: StateInfraFailed, Reason: ReasonPrepareFailed,
			Message: fmt.Sprintf("preparing the notebook (install runner, clone) failed with exit code %d and no readable summary (%v); see kubectl logs -n %s %s -c %s", t.ExitCode, err, pod.Namespace, pod.Name, PrepareContainer)}, true
	}
	if why := contradiction(&s, PrepareContainer, t.ExitCode, pod.Status.Phase); why != "" {
		return inconsistent(pod, PrepareContainer, why), true
	}
	return fromSummary(&s), true
}

func classifyTerminal(pod *corev1.Pod) Outcome {
	if o, ok := disrupted(pod); ok {
		return o
	}
	cs := containerStatus(pod.Status.ContainerStatuses, NotebookContainer)
	if cs == nil || cs.State.Terminated == nil {
		return Outcome{State: StateInfraFailed, Reason: ReasonPodFailed,
			Message: fmt.Sprintf("the validation pod ended (%s) before the notebook container ran: %s", pod.Status.Phase, podDetail(pod))}
	}
	t := cs.State.Terminated
	s, decodeErr := DecodeSummary(t.Message)
	var sp *summary.Summary
	if decodeErr == nil {
		sp = &s
	}
	if t.Reason == "OOMKilled" {
		msg := fmt.Sprintf("the notebook ran out of memory and was killed (memory limit %s): raise spec.podConfig.resources.limits.memory or reduce the notebook's memory use", memoryLimit(pod, NotebookContainer, false))
		if sp != nil && sp.FirstFailure != nil {
			msg += fmt.Sprintf("; the runner saw cell %d fail with %s", sp.FirstFailure.Index, sp.FirstFailure.Error)
		}
		return Outcome{State: StateInfraFailed, Reason: ReasonOOMKilled, Message: msg, Summary: sp}
	}
	if errors.Is(decodeErr, summary.ErrInvalid) {
		return inconsistent(pod, NotebookContainer, invalidDetail(decodeErr))
	}
	if decodeErr != nil {
		return noSummary(pod, t, decodeErr)
	}
	if why := contradiction(sp, NotebookContainer, t.ExitCode, pod.Status.Phase); why != "" {
		return inconsistent(pod, NotebookContainer, why)
	}
	return fromSummary(sp)
}

// fromSummary maps a decoded runner summary to an outcome.
func fromSummary(s *summary.Summary) Outcome {
	o := Outcome{Reason: s.Reason, Summary: s}
	switch s.Result {
	case summary.ResultPassed:
		o.State = StateSucceeded
		o.Message = fmt.Sprintf("notebook passed: %d of %d code cells succeeded", s.Cells.Passed, s.Cells.Total)
		if s.Comparison != nil && s.Comparison.Result == "matched" {
			o.Message += fmt.Sprintf(", outputs match the golden notebook (%d cells)", s.Comparison.Matched)
		}
	case summary.ResultFailed:
		o.State = StateFailed
		o.Message = failureMessage(s)
	default: // summary.ResultError; DecodeSummary admits nothing else
		if hint, ok := userErrorReasons[s.Reason]; ok {
			o.State = StateFailed
			o.Message = joinMessage(s.Message, hint)
		} else {
			o.State = StateInfraFailed
			o.Message = joinMessage("the runner failed: "+orDefault(s.Message, s.Reason), "")
		}
	}
	return o
}

func failureMessage(s *summary.Summary) string {
	var b strings.Builder
	switch {
	case s.FirstFailure != nil && s.Reason == summary.ReasonCellTimeout:
		fmt.Fprintf(&b, "notebook failed: cell %d exceeded execution.cellTimeout", s.FirstFailure.Index)
	case s.FirstFailure != nil:
		fmt.Fprintf(&b, "notebook failed at cell %d: %s", s.FirstFailure.Index, orDefault(s.FirstFailure.Error, "no error text"))
	case s.Reason == summary.ReasonGoldenMismatch && s.Comparison != nil:
		fmt.Fprintf(&b, "outputs differ from the golden notebook in %d of %d cells", s.Comparison.Mismatched, s.Comparison.Total)
	default:
		b.WriteString("notebook failed")
	}
	// The runner's message usually restates the first failure; add it only when it says more.
	restates := s.FirstFailure != nil && s.FirstFailure.Error != "" && strings.Contains(s.Message, s.FirstFailure.Error)
	if s.Message != "" && !restates && !strings.Contains(b.String(), s.Message) {
		fmt.Fprintf(&b, " (%s)", s.Message)
	}
	if s.Cells.Total > 0 {
		fmt.Fprintf(&b, "; %d of %d code cells passed", s.Cells.Passed, s.Cells.Total)
	}
	return b.String()
}

func noSummary(pod *corev1.Pod, t *corev1.ContainerStateTerminated, decodeErr error) Outcome {
	logs := fmt.Sprintf("see kubectl logs -n %s %s -c %s", pod.Namespace, pod.Name, NotebookContainer)
	switch {
	case t.Reason == "StartError" || t.Reason == "ContainerCannotRun":
		return Outcome{State: StateInfraFailed, Reason: ReasonContainerFailed,
			Message: fmt.Sprintf("the notebook container could not start (%s: %s); the image must be able to run the copied static nbv-runner binary (same CPU architecture)", t.Reason, orDefault(t.Message, "no detail"))}
	case t.ExitCode == 126 || t.ExitCode == 127:
		return Outcome{State: StateInfraFailed, Reason: ReasonContainerFailed,
			Message: fmt.Sprintf("the runner could not be executed in the notebook image (exit code %d); the image must run a static linux binary of the node's architecture; %s", t.ExitCode, logs)}
	case strings.TrimSpace(t.Message) == "":
		return Outcome{State: StateInfraFailed, Reason: ReasonSummaryMissing,
			Message: fmt.Sprintf("the notebook container exited with code %d without writing a summary to %s, so the runner did not finish; %s", t.ExitCode, TerminationLog, logs)}
	default:
		return Outcome{State: StateInfraFailed, Reason: ReasonSummaryMalformed,
			Message: fmt.Sprintf("the notebook container (exit code %d) left a termination message that is not a runner summary: %v; %s", t.ExitCode, decodeErr, logs)}
	}
}

// classifyPending explains a pod that has not started its notebook yet. Image pull failures
// are terminal: the kubelet would back off until the deadline, and the image will not appear
// by itself, so the caller should decide now.
func classifyPending(pod *corev1.Pod) Outcome {
	statuses := [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses}
	for _, list := range statuses {
		for i := range list {
			cs := &list[i]
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				return Outcome{State: StateInfraFailed, Reason: ReasonImagePull,
					Message: fmt.Sprintf("cannot pull image %q for container %s (%s: %s): %s", cs.Image, cs.Name, w.Reason, orDefault(w.Message, "no detail"), imageHint(cs.Name))}
			case "CreateContainerConfigError":
				// Usually a Secret or ConfigMap named in env/envFrom/credentials is missing; the
				// kubelet retries, so creating it lets the run continue before the deadline.
				return Outcome{State: StatePending, Reason: ReasonContainerConfig,
					Message: fmt.Sprintf("container %s cannot be created: %s; create the missing Secret or ConfigMap named in spec.podConfig (env, envFrom, credentials)", cs.Name, orDefault(w.Message, "no detail"))}
			}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return Outcome{State: StatePending, Reason: ReasonScheduling,
				Message: fmt.Sprintf("waiting for a node: %s; check podConfig resources, nodeSelector, tolerations and affinity", orDefault(c.Message, "no node fits"))}
		}
	}
	if cs := containerStatus(pod.Status.InitContainerStatuses, PrepareContainer); cs != nil && cs.State.Running != nil {
		return Outcome{State: StatePending, Reason: ReasonPreparing, Message: "cloning the notebook repository"}
	}
	return Outcome{State: StatePending, Reason: ReasonStarting, Message: "waiting for the validation pod to start"}
}

// disrupted reads the DisruptionTarget condition the control plane sets when it kills a pod
// for its own reasons (node gone, taint, preemption, eviction API, node shutdown).
func disrupted(pod *corev1.Pod) (Outcome, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.DisruptionTarget || c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Reason {
		case "DeletionByTaintManager", "DeletionByPodGC":
			return nodeLost(pod), true
		case "EvictionByEvictionAPI":
			return Outcome{State: StateInfraFailed, Reason: ReasonEvicted,
				Message: fmt.Sprintf("the validation pod was evicted (%s), typically by a node drain; it will be retried", orDefault(c.Message, c.Reason))}, true
		default:
			return Outcome{State: StateInfraFailed, Reason: ReasonDisrupted,
				Message: fmt.Sprintf("the cluster stopped the validation pod (%s: %s); it will be retried", c.Reason, orDefault(c.Message, "no detail"))}, true
		}
	}
	return Outcome{}, false
}

func nodeLost(pod *corev1.Pod) Outcome {
	return Outcome{State: StateInfraFailed, Reason: ReasonNodeLost,
		Message: fmt.Sprintf("lost contact with node %s while it ran the validation pod (%s); it will be retried on another node", nodeName(pod), orDefault(pod.Status.Message, "node unreachable"))}
}

func deleted(pod *corev1.Pod) Outcome {
	return Outcome{State: StateInfraFailed, Reason: ReasonPodDeleted,
		Message: "the validation pod was deleted before it finished (node drain or manual delete)"}
}

func timeoutMessage(pod *corev1.Pod) string {
	limit := "spec.timeout"
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		limit = fmt.Sprintf("spec.timeout (%ds)", *d)
	}
	return fmt.Sprintf("the validation did not finish within %s and was stopped; raise spec.timeout or make the notebook faster", limit)
}

func imageHint(container string) string {
	if container == PrepareContainer {
		return "the runner image is misconfigured in the deployment; tell the cluster administrator"
	}
	return "check that spec.podConfig.containerImage (or the built image) exists and that the pod's service account has an imagePullSecret for its registry"
}

func podDetail(pod *corev1.Pod) string {
	if pod.Status.Reason == "" && pod.Status.Message == "" {
		return "no reason given"
	}
	return strings.TrimSpace(pod.Status.Reason + " " + pod.Status.Message)
}

func memoryLimit(pod *corev1.Pod, container string, init bool) string {
	list := pod.Spec.Containers
	if init {
		list = pod.Spec.InitContainers
	}
	for _, c := range list {
		if c.Name == container {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return q.String()
			}
		}
	}
	return "unset, so the node's memory ran out"
}

func containerStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func nodeName(pod *corev1.Pod) string {
	return orDefault(pod.Spec.NodeName, "(unknown)")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func joinMessage(msg, hint string) string {
	switch {
	case hint == "":
		return msg
	case msg == "":
		return hint
	}
	return msg + ": " + hint
}
