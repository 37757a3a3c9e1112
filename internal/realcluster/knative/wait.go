package knative

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// pollInterval paces the waits: each poll is one or two LIST calls.
const pollInterval = 500 * time.Millisecond

// workload is a Deployment or StatefulSet, reduced to what waiting for it needs.
type workload struct {
	kind, name, namespace string
	want, available       int32
	ready                 bool
	selector              *metav1.LabelSelector
}

// WaitAvailable waits until every Deployment and StatefulSet in namespace that asks for
// replicas serves them with its current spec (one scaled to 0, such as Eventing's
// pingsource-mt-adapter until a PingSource exists, counts as ready; Eventing's request-reply
// is a StatefulSet). When ctx ends first, the error names each one not ready and what its pods
// are waiting for (image, scheduling, crash loop).
func WaitAvailable(ctx context.Context, cfg *rest.Config, namespace string) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kube client: %w", err)
	}
	var notReady []workload
	observed := false // notReady holds a poll's result
	var lastErr error // why the polls since the last one that listed anything failed
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		all, err := listWorkloads(ctx, client, namespace)
		switch {
		case err != nil:
			lastErr = err
		case len(all) == 0:
			lastErr, observed = fmt.Errorf("no Deployment or StatefulSet in namespace %s", namespace), false
		default:
			lastErr, observed = nil, true
			notReady = notReady[:0]
			for _, w := range all {
				if !w.ready {
					notReady = append(notReady, w)
				}
			}
			if len(notReady) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if !observed {
				return fmt.Errorf("waiting for workloads in %s: %w (%w)", namespace, lastErr, ctx.Err())
			}
			// ctx has ended, but the report is what the caller needs: a fresh, short context.
			report, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return fmt.Errorf("not available in %s: %s: %w", namespace, describeNotReady(report, client, notReady), ctx.Err())
		case <-tick.C:
		}
	}
}

func listWorkloads(ctx context.Context, client kubernetes.Interface, namespace string) ([]workload, error) {
	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Deployments in %s: %w", namespace, err)
	}
	sets, err := client.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing StatefulSets in %s: %w", namespace, err)
	}
	var out []workload
	for _, d := range deps.Items {
		out = append(out, deploymentWorkload(&d))
	}
	for _, s := range sets.Items {
		out = append(out, statefulSetWorkload(&s))
	}
	return out, nil
}

// deploymentWorkload: ready when its rollout is complete, as `kubectl rollout status` says
// it (observed, every wanted replica updated and available, no pod of an older template left:
// while one is, the available count includes it), and the Available condition is true.
func deploymentWorkload(d *appsv1.Deployment) workload {
	w := workload{kind: "Deployment", name: d.Name, namespace: d.Namespace, want: replicas(d.Spec.Replicas),
		available: d.Status.AvailableReplicas, selector: d.Spec.Selector}
	if w.want == 0 {
		w.ready = true
		return w
	}
	st := d.Status
	if st.ObservedGeneration < d.Generation || st.UpdatedReplicas < w.want || st.Replicas > st.UpdatedReplicas ||
		w.available < st.UpdatedReplicas {
		return w
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			w.ready = c.Status == corev1.ConditionTrue
		}
	}
	return w
}

// statefulSetWorkload: ready when observed and every wanted replica is updated and available.
func statefulSetWorkload(s *appsv1.StatefulSet) workload {
	w := workload{kind: "StatefulSet", name: s.Name, namespace: s.Namespace, want: replicas(s.Spec.Replicas),
		available: s.Status.AvailableReplicas, selector: s.Spec.Selector}
	w.ready = w.want == 0 || (s.Status.ObservedGeneration >= s.Generation &&
		s.Status.UpdatedReplicas >= w.want && w.available >= w.want)
	return w
}

// replicas is spec.replicas with the API's default of 1.
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// describeNotReady says, for each workload, how many replicas are available and what each
// of its pods is waiting for.
func describeNotReady(ctx context.Context, client kubernetes.Interface, ws []workload) string {
	var parts []string
	for _, w := range ws {
		line := fmt.Sprintf("%s %s (%d/%d available", w.kind, w.name, w.available, w.want)
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil {
			parts = append(parts, line+"; bad selector: "+err.Error()+")")
			continue
		}
		pods, err := client.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		switch {
		case err != nil:
			line += "; listing its pods: " + err.Error()
		case len(pods.Items) == 0:
			line += "; no pod"
		default:
			for _, p := range pods.Items {
				line += "; pod " + p.Name + ": " + podWaitingFor(&p)
			}
		}
		parts = append(parts, line+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// podWaitingFor is what keeps p from being ready, as `kubectl describe` would show it.
func podWaitingFor(p *corev1.Pod) string {
	var why []string
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			why = append(why, fmt.Sprintf("not scheduled: %s %s", c.Reason, c.Message))
		}
	}
	if p.Spec.NodeName == "" && len(why) == 0 {
		why = append(why, "not scheduled")
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		switch {
		case s.State.Waiting != nil:
			w := fmt.Sprintf("container %s waiting: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			if t := s.LastTerminationState.Terminated; t != nil {
				w += fmt.Sprintf(" (last exit %d: %s %s)", t.ExitCode, t.Reason, t.Message)
			}
			why = append(why, w)
		case s.State.Terminated != nil:
			t := s.State.Terminated
			why = append(why, fmt.Sprintf("container %s terminated %d: %s %s", s.Name, t.ExitCode, t.Reason, t.Message))
		case !s.Ready:
			why = append(why, fmt.Sprintf("container %s running, not ready", s.Name))
		}
	}
	if len(why) == 0 {
		return string(p.Status.Phase)
	}
	return string(p.Status.Phase) + ", " + strings.TrimSpace(strings.Join(why, "; "))
}

// The webhook configurations of Eventing whose rules the webhook writes when it starts
// serving: until then they match nothing, and objects are created without Eventing's
// defaults.
const (
	DefaultingWebhook = "webhook.eventing.knative.dev"
	ValidationWebhook = "validation.webhook.eventing.knative.dev"
)

// Webhooks names the webhook configurations a Knative webhook registers itself in.
type Webhooks struct {
	Mutating, Validating []string
}

// EventingWebhooks are Eventing's; ServingWebhooks are Serving's (its defaulting webhook
// gives a Knative Service its defaults, its validation webhooks check Services and its
// ConfigMaps).
var (
	EventingWebhooks = Webhooks{Mutating: []string{DefaultingWebhook}, Validating: []string{ValidationWebhook}}
	ServingWebhooks  = Webhooks{
		Mutating:   []string{"webhook.serving.knative.dev"},
		Validating: []string{"validation.webhook.serving.knative.dev", "config.webhook.serving.knative.dev"},
	}
)

// WaitWebhooks waits until each webhook of hooks has registered itself: its configurations
// carry rules and a CA bundle. Objects a webhook defaults (Brokers, Triggers, sources, Knative
// Services) must be created after this.
func WaitWebhooks(ctx context.Context, cfg *rest.Config, hooks ...Webhooks) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kube client: %w", err)
	}
	admission := client.AdmissionregistrationV1()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var pending []string
	for {
		pending = pending[:0]
		for _, h := range hooks {
			for _, name := range h.Mutating {
				m, err := admission.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
				if err != nil || !registered(m.Webhooks, func(h admissionv1.MutatingWebhook) (int, []byte) { return len(h.Rules), h.ClientConfig.CABundle }) {
					pending = append(pending, "MutatingWebhookConfiguration "+name+describeErr(err))
				}
			}
			for _, name := range h.Validating {
				v, err := admission.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
				if err != nil || !registered(v.Webhooks, func(h admissionv1.ValidatingWebhook) (int, []byte) { return len(h.Rules), h.ClientConfig.CABundle }) {
					pending = append(pending, "ValidatingWebhookConfiguration "+name+describeErr(err))
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Knative's webhooks have not registered (no rules or CA bundle yet): %s: %w", strings.Join(pending, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// registered says whether the webhook has written itself into hooks: there is at least one,
// and each has rules and a CA bundle.
func registered[H any](hooks []H, rulesAndCA func(H) (int, []byte)) bool {
	if len(hooks) == 0 {
		return false
	}
	for _, h := range hooks {
		if n, ca := rulesAndCA(h); n == 0 || len(ca) == 0 {
			return false
		}
	}
	return true
}

func describeErr(err error) string {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	return " (" + err.Error() + ")"
}
