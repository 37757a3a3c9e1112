package hostkubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// hostIP is the address every Pod reports: the processes share the host's loopback.
const hostIP = "127.0.0.1"

// The kubelet's own words, which tools and the pod-completed function read.
const (
	reasonDeadline     = "DeadlineExceeded"
	messageDeadline    = "Pod was active on the node longer than the specified deadline"
	reasonShutdown     = "Terminated"
	messageShutdown    = "Pod was terminated in response to imminent node shutdown."
	reasonDisruption   = "TerminationByKubelet"
	reasonInitializing = "PodInitializing"
	reasonCreating     = "ContainerCreating"
	reasonConfigError  = "CreateContainerConfigError"
	reasonCompleted    = "Completed"
	reasonError        = "Error"
	reasonStartError   = "StartError"
	reasonPodCompleted = "PodCompleted"
)

// statusWriteTimeout bounds one status write, retries included. Writes use their own
// context: the final status of a Pod killed by its deadline or by shutdown must still land.
const statusWriteTimeout = 15 * time.Second

var errPodReplaced = errors.New("pod was replaced by another with the same name")

// ownedConditions are the condition types this kubelet sets; others (set by controllers) are
// kept as they are.
var ownedConditions = map[corev1.PodConditionType]bool{
	corev1.PodScheduled:              true,
	corev1.PodReadyToStartContainers: true,
	corev1.PodInitialized:            true,
	corev1.ContainersReady:           true,
	corev1.PodReady:                  true,
	corev1.DisruptionTarget:          true,
}

// writeStatus replaces the kubelet-owned part of the Pod's status with st, re-reading the
// Pod on conflict. A Pod that is gone is not an error: there is nothing left to report to.
func (r *podRun) writeStatus(ctx context.Context) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	st := r.status.DeepCopy()
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	pods := r.k.client.CoreV1().Pods(r.pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != r.pod.UID {
			return errPodReplaced
		}
		cur.Status = mergeStatus(cur.Status, *st)
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	switch {
	case err == nil:
		r.log.Debug("status written", "phase", st.Phase)
	case apierrors.IsNotFound(err), errors.Is(err, errPodReplaced):
		r.log.Debug("status not written: pod is gone", "phase", st.Phase)
	default:
		r.log.Error("writing pod status", "phase", st.Phase, "err", err)
	}
}

// mergeStatus is cur with the kubelet's fields taken from ours.
func mergeStatus(cur, ours corev1.PodStatus) corev1.PodStatus {
	out := cur
	out.Phase = ours.Phase
	out.Reason = ours.Reason
	out.Message = ours.Message
	out.StartTime = ours.StartTime
	out.HostIP = ours.HostIP
	out.HostIPs = ours.HostIPs
	out.InitContainerStatuses = ours.InitContainerStatuses
	out.ContainerStatuses = ours.ContainerStatuses
	var conds []corev1.PodCondition
	for _, c := range cur.Conditions {
		if !ownedConditions[c.Type] {
			conds = append(conds, c)
		}
	}
	out.Conditions = append(conds, ours.Conditions...)
	return out
}

// setCondition sets a condition, moving its transition time only when its status changes.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason, message string) {
	now := metav1.Now()
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
}

// updateReadiness derives Initialized, ContainersReady and Ready from the container statuses,
// with the kubelet's reasons and messages.
func updateReadiness(st *corev1.PodStatus) {
	var incomplete []string
	for _, cs := range st.InitContainerStatuses {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			incomplete = append(incomplete, cs.Name)
		}
	}
	if len(incomplete) == 0 {
		setCondition(st, corev1.PodInitialized, corev1.ConditionTrue, "", "")
	} else {
		setCondition(st, corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")))
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	var unready []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	switch {
	case terminal:
		setCondition(st, corev1.ContainersReady, corev1.ConditionFalse, reasonPodCompleted, "")
		setCondition(st, corev1.PodReady, corev1.ConditionFalse, reasonPodCompleted, "")
	case len(unready) > 0:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		setCondition(st, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", msg)
		setCondition(st, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", msg)
	default:
		setCondition(st, corev1.ContainersReady, corev1.ConditionTrue, "", "")
		setCondition(st, corev1.PodReady, corev1.ConditionTrue, "", "")
	}
}

// containerStatus returns the status entry of the named container.
func containerStatus(st *corev1.PodStatus, init bool, name string) *corev1.ContainerStatus {
	list := st.ContainerStatuses
	if init {
		list = st.InitContainerStatuses
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func waiting(reason, message string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
}

// event records a Pod Event as the kubelet does, for `kubectl describe`. It is best effort:
// an Event that cannot be written changes nothing about the Pod.
func (r *podRun) event(ctx context.Context, typ, reason, container, message string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := metav1.Now()
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: r.pod.Namespace, Name: r.pod.Name, UID: r.pod.UID}
	if container != "" {
		ref.FieldPath = r.fieldPath(container)
	}
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: r.pod.Name + ".", Namespace: r.pod.Namespace},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Source:              corev1.EventSource{Component: "kubelet", Host: r.k.opts.NodeName},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "kubelet",
		ReportingInstance:   r.k.opts.NodeName,
	}
	if _, err := r.k.client.CoreV1().Events(r.pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.log.Debug("event not recorded", "reason", reason, "err", err)
	}
}

func (r *podRun) fieldPath(container string) string {
	for _, c := range r.pod.Spec.InitContainers {
		if c.Name == container {
			return "spec.initContainers{" + container + "}"
		}
	}
	return "spec.containers{" + container + "}"
}
