package gitops

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// Trigger actions, the existing operator's.
const (
	ActionRestart = "restart"
	ActionSync    = "sync"
	ActionRefresh = "refresh"
)

// Annotations the triggers set on their targets.
const (
	// AnnotationRestartedAt on a pod template is what `kubectl rollout restart` sets: a new
	// value rolls the pods out once, the same value again changes nothing.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// AnnotationArgoCDRefresh asks Argo CD to refresh an Application (and, with automated
	// sync, to sync it); Argo CD removes it once done.
	AnnotationArgoCDRefresh = "argocd.argoproj.io/refresh"
	// AnnotationRestartTimestamp is what the existing operator's refresh action sets on a
	// Deployment or InferenceService.
	AnnotationRestartTimestamp = "mlops.dev/restart-timestamp"
)

// MaxTriggers bounds the on-success triggers of one job.
const MaxTriggers = 10

// Trigger is one entry of the on-success-trigger annotation, in the existing operator's format.
type Trigger struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	Action     string `json:"action"`
}

// Kinds a trigger may target.
var (
	deployments       = schema.GroupResource{Group: "apps", Resource: "deployments"}
	inferenceServices = schema.GroupResource{Group: "serving.kserve.io", Resource: "inferenceservices"}
	applications      = schema.GroupResource{Group: "argoproj.io", Resource: "applications"}
)

// Wants reports whether job's annotations ask for GitOps hooks when it ends.
func Wants(job *v1alpha1.NotebookValidationJob) bool {
	return job.Annotations[AnnotationSyncWave] != "" || job.Annotations[AnnotationOnSuccessTrigger] != ""
}

// MarkPending marks status, the one a transition is about to write for job, as having its hooks
// pending when it ends the job and job wants them: the hooks are then performed after that
// write, and a job whose event was lost is found by this state (the sweep).
func MarkPending(job *v1alpha1.NotebookValidationJob, status *v1alpha1.NotebookValidationJobStatus) {
	if statemachine.Terminal(status.Phase) && status.GitOpsHooks == nil && Wants(job) {
		status.GitOpsHooks = &v1alpha1.GitOpsHooksStatus{State: v1alpha1.GitOpsHooksPending}
	}
}

// Pending reports whether job's hooks are still to be performed.
func Pending(job *v1alpha1.NotebookValidationJob) bool {
	return job.Status.GitOpsHooks != nil && job.Status.GitOpsHooks.State == v1alpha1.GitOpsHooksPending
}

// Patch is a JSON merge patch of one object.
type Patch struct {
	Resource        schema.GroupVersionResource
	Namespace, Name string
	Body            []byte
}

// TriggerStep is one trigger: a patch to make, or its result already known (Refused).
type TriggerStep struct {
	Target string
	Patch  *Patch
	Result v1alpha1.GitOpsTriggerResult
	// OptInFrom, set for an Argo CD Application, is the job's namespace: the patch is made
	// only if the Application, read first, allows it (AllowsTrigger), and only to the
	// version read (GuardedBody).
	OptInFrom string
}

// AllowsTrigger says whether an Application with these annotations may be triggered by a job
// of namespace jobNamespace, and if not, why, naming what to add.
func AllowsTrigger(annotations map[string]string, jobNamespace string) (bool, string) {
	raw, ok := annotations[AnnotationTriggerNamespaces]
	for _, ns := range strings.Split(raw, ",") {
		if strings.TrimSpace(ns) == jobNamespace {
			return true, ""
		}
	}
	have := "has no annotation " + AnnotationTriggerNamespaces
	if ok {
		have = fmt.Sprintf("allows only %.256q in its annotation %s", raw, AnnotationTriggerNamespaces)
	}
	return false, fmt.Sprintf("the Application does not opt in to triggers from namespace %s: it %s; its owner may add %s there", jobNamespace, have, jobNamespace)
}

// GuardedBody is the patch's body with metadata.resourceVersion set, so that the API server
// applies it only to the object as it was read (409 otherwise).
func (p *Patch) GuardedBody(resourceVersion string) ([]byte, error) {
	var body map[string]any
	if err := json.Unmarshal(p.Body, &body); err != nil {
		return nil, fmt.Errorf("patch of %s/%s: %w", p.Namespace, p.Name, err)
	}
	meta, _ := body["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		body["metadata"] = meta
	}
	meta["resourceVersion"] = resourceVersion
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("patch of %s/%s: %w", p.Namespace, p.Name, err)
	}
	return b, nil
}

// Plan is what the hooks of a finished job do.
type Plan struct {
	// JobAnnotations is the merge patch of the job's annotations (nil value: remove), nil
	// when the job carries them already or has no sync wave.
	JobAnnotations map[string]*string
	// Wave is the annotation the job gets, as "key=value", empty without a sync wave.
	Wave     string
	Triggers []TriggerStep
	// Message says why part of the hooks cannot fire whatever the permissions.
	Message string
}

// PlanFor decides the hooks of job, which has ended. Every value is derived from the job
// (its wave, its status.completionTime), so planning again plans the same writes.
func PlanFor(job *v1alpha1.NotebookValidationJob) Plan {
	var p Plan
	at := completionTime(job)
	if wave := job.Annotations[AnnotationSyncWave]; wave != "" {
		set, unset := AnnotationWaveComplete, AnnotationWaveFailed
		if job.Status.Phase == v1alpha1.PhaseFailed {
			set, unset = unset, set
		}
		p.Wave = set + "=" + wave
		want := map[string]*string{set: &wave, AnnotationCompletionTime: &at, unset: nil}
		for k, v := range want {
			have, ok := job.Annotations[k]
			if (v == nil && ok) || (v != nil && (!ok || have != *v)) {
				p.JobAnnotations = want
				break
			}
		}
	}
	raw := job.Annotations[AnnotationOnSuccessTrigger]
	if raw == "" || job.Status.Phase != v1alpha1.PhaseSucceeded {
		return p
	}
	triggers, err := ParseTriggers(raw)
	if err != nil {
		p.Message = fmt.Sprintf("annotation %s: %v", AnnotationOnSuccessTrigger, err)
		return p
	}
	for _, t := range triggers {
		p.Triggers = append(p.Triggers, stepFor(job, t, at))
	}
	return p
}

// completionTime is the job's completion time as the existing operator wrote it (RFC 3339),
// from its status so that it never changes.
func completionTime(job *v1alpha1.NotebookValidationJob) string {
	if t := job.Status.CompletionTime; t != nil {
		return t.UTC().Format(time.RFC3339)
	}
	return job.CreationTimestamp.UTC().Format(time.RFC3339)
}

// ParseTriggers reads the on-success-trigger annotation: a YAML (or JSON) list of triggers,
// each with apiVersion, kind, name and action, at most MaxTriggers.
func ParseTriggers(raw string) ([]Trigger, error) {
	var ts []Trigger
	if err := yaml.Unmarshal([]byte(raw), &ts); err != nil {
		return nil, fmt.Errorf("not a YAML list of triggers: %w", err)
	}
	if len(ts) > MaxTriggers {
		return nil, fmt.Errorf("%d triggers, at most %d", len(ts), MaxTriggers)
	}
	for i, t := range ts {
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("trigger[%d]: %w", i, err)
		}
	}
	return ts, nil
}

func (t Trigger) check() error {
	var missing []string
	for _, f := range []struct{ name, value string }{{"apiVersion", t.APIVersion}, {"kind", t.Kind}, {"name", t.Name}, {"action", t.Action}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s required", strings.Join(missing, ", "))
	}
	switch t.Action {
	case ActionRestart, ActionSync, ActionRefresh:
	default:
		return fmt.Errorf("action %.64q is not restart, sync or refresh", t.Action)
	}
	if errs := validation.IsDNS1123Subdomain(t.Name); len(errs) > 0 {
		return fmt.Errorf("name %.64q: %s", t.Name, strings.Join(errs, "; "))
	}
	if t.Namespace != "" {
		if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
			return fmt.Errorf("namespace %.64q: %s", t.Namespace, strings.Join(errs, "; "))
		}
	}
	// Kind and apiVersion end up in status (the target) and in messages: only what the API
	// server could serve is accepted, so both stay short and printable.
	if !kindName(t.Kind) {
		return fmt.Errorf("kind %.64q is not a kind name (a letter, then letters and digits, at most 63)", t.Kind)
	}
	gv, err := schema.ParseGroupVersion(t.APIVersion)
	if err != nil {
		return fmt.Errorf("apiVersion %.64q: %w", t.APIVersion, err)
	}
	if gv.Group != "" && len(validation.IsDNS1123Subdomain(gv.Group)) > 0 || len(validation.IsDNS1123Label(gv.Version)) > 0 {
		return fmt.Errorf("apiVersion %.64q is not group/version (a DNS subdomain and a DNS label)", t.APIVersion)
	}
	return nil
}

// kindName reports whether s is a letter, then letters and digits, at most 63 in all.
func kindName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// stepFor turns a valid trigger into its patch, or refuses it with the reason.
func stepFor(job *v1alpha1.NotebookValidationJob, t Trigger, at string) TriggerStep {
	ns := t.Namespace
	if ns == "" {
		ns = job.Namespace
	}
	target := t.Action + " " + t.Kind + " " + ns + "/" + t.Name
	refuse := func(format string, a ...any) TriggerStep {
		return TriggerStep{Target: target, Result: v1alpha1.GitOpsTriggerResult{Target: target, Result: v1alpha1.TriggerRefused, Message: fmt.Sprintf(format, a...)}}
	}
	gv, _ := schema.ParseGroupVersion(t.APIVersion)
	var gr schema.GroupResource
	switch {
	case gv.Group == deployments.Group && t.Kind == "Deployment":
		gr = deployments
	case gv.Group == inferenceServices.Group && t.Kind == "InferenceService":
		gr = inferenceServices
	case gv.Group == applications.Group && t.Kind == "Application":
		gr = applications
	default:
		return refuse("%s %s is not a kind triggers act on (apps/v1 Deployment, serving.kserve.io InferenceService, argoproj.io Application)", t.APIVersion, t.Kind)
	}
	// Restarting another namespace's workloads would let whoever may create a job here act
	// there; an Application usually lives in Argo CD's namespace, where the opt-in binding decides.
	if gr != applications && ns != job.Namespace {
		return refuse("a %s in another namespace than the job's (%s) is not restarted", t.Kind, job.Namespace)
	}
	var body map[string]any
	switch {
	case gr == applications && (t.Action == ActionSync || t.Action == ActionRefresh):
		body = metadataAnnotation(AnnotationArgoCDRefresh, "normal")
	case gr == applications:
		return refuse("an Application is synced or refreshed, not restarted")
	case t.Action == ActionSync:
		return refuse("sync applies to an Argo CD Application, not a %s", t.Kind)
	case t.Action == ActionRefresh:
		body = metadataAnnotation(AnnotationRestartTimestamp, at)
	case gr == deployments:
		body = map[string]any{"spec": map[string]any{"template": metadataAnnotation(AnnotationRestartedAt, at)}}
	default:
		// KServe copies the predictor's annotations to its pods: a new value rolls them out.
		body = map[string]any{"spec": map[string]any{"predictor": map[string]any{"annotations": map[string]any{AnnotationRestartedAt: at}}}}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return refuse("encode patch: %v", err)
	}
	step := TriggerStep{Target: target, Patch: &Patch{Resource: gr.WithVersion(gv.Version), Namespace: ns, Name: t.Name, Body: b}}
	if gr == applications {
		step.OptInFrom = job.Namespace
	}
	return step
}

func metadataAnnotation(key, value string) map[string]any {
	return map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}}
}
