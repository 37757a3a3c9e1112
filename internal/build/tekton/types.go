package tekton

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tekton.dev/v1 PipelineRun, reduced to the fields this project sets and reads, with
// Tekton's JSON names. Tekton's own Go types link Knative's observability and OpenTelemetry
// (about 20 MB in each function binary, i.e. cold-start time); these link nothing new. The
// package's tests decode every object built here strictly into Tekton's real types and back,
// and read Tekton's objects into these, so a field spelt differently cannot go unnoticed.

// APIVersion is the PipelineRun's apiVersion.
const APIVersion = "tekton.dev/v1"

// PipelineRun is a tekton.dev/v1 PipelineRun.
type PipelineRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PipelineRunSpec    `json:"spec,omitempty"`
	Status            *PipelineRunStatus `json:"status,omitempty"`
}

// PipelineRunSpec runs either the user's Pipeline (PipelineRef) or an inline one.
type PipelineRunSpec struct {
	PipelineRef     *PipelineRef            `json:"pipelineRef,omitempty"`
	PipelineSpec    *PipelineSpec           `json:"pipelineSpec,omitempty"`
	Params          []Param                 `json:"params,omitempty"`
	Timeouts        *TimeoutFields          `json:"timeouts,omitempty"`
	TaskRunTemplate PipelineTaskRunTemplate `json:"taskRunTemplate,omitempty"`
	Workspaces      []WorkspaceBinding      `json:"workspaces,omitempty"`
}

// PipelineRef names a Pipeline in the PipelineRun's namespace.
type PipelineRef struct {
	Name string `json:"name,omitempty"`
}

// Param is a parameter with a string value (the only kind this project passes).
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TimeoutFields bounds the whole pipeline: Tekton enforces it.
type TimeoutFields struct {
	Pipeline *metav1.Duration `json:"pipeline,omitempty"`
}

// PipelineTaskRunTemplate configures the TaskRuns.
type PipelineTaskRunTemplate struct {
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// WorkspaceBinding binds a workspace to an emptyDir or a Secret.
type WorkspaceBinding struct {
	Name     string                       `json:"name"`
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	Secret   *corev1.SecretVolumeSource   `json:"secret,omitempty"`
}

// PipelineSpec is an inline pipeline.
type PipelineSpec struct {
	Params     []ParamSpec                    `json:"params,omitempty"`
	Workspaces []PipelineWorkspaceDeclaration `json:"workspaces,omitempty"`
	Tasks      []PipelineTask                 `json:"tasks,omitempty"`
	Results    []PipelineResult               `json:"results,omitempty"`
}

// ParamSpec declares a parameter.
type ParamSpec struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// PipelineWorkspaceDeclaration declares a pipeline's workspace.
type PipelineWorkspaceDeclaration struct {
	Name string `json:"name"`
}

// PipelineTask is one task of the pipeline, its steps inline.
type PipelineTask struct {
	Name       string                         `json:"name,omitempty"`
	TaskSpec   *EmbeddedTask                  `json:"taskSpec,omitempty"`
	Params     []Param                        `json:"params,omitempty"`
	Workspaces []WorkspacePipelineTaskBinding `json:"workspaces,omitempty"`
}

// EmbeddedTask is a task spec written inside its pipeline.
type EmbeddedTask struct {
	TaskSpec `json:",inline"`
}

// TaskSpec is a task's parameters, workspaces, results and steps.
type TaskSpec struct {
	Params     []ParamSpec            `json:"params,omitempty"`
	Workspaces []WorkspaceDeclaration `json:"workspaces,omitempty"`
	Results    []TaskResult           `json:"results,omitempty"`
	Steps      []Step                 `json:"steps,omitempty"`
}

// WorkspaceDeclaration declares a task's workspace.
type WorkspaceDeclaration struct {
	Name     string `json:"name"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// TaskResult declares a task's result.
type TaskResult struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// Step is one container of a task.
type Step struct {
	Name            string                  `json:"name"`
	Image           string                  `json:"image,omitempty"`
	Command         []string                `json:"command,omitempty"`
	Args            []string                `json:"args,omitempty"`
	WorkingDir      string                  `json:"workingDir,omitempty"`
	Env             []corev1.EnvVar         `json:"env,omitempty"`
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	Script          string                  `json:"script,omitempty"`
	Workspaces      []WorkspaceUsage        `json:"workspaces,omitempty"`
}

// WorkspaceUsage mounts a task's workspace into one step only.
type WorkspaceUsage struct {
	Name string `json:"name"`
}

// WorkspacePipelineTaskBinding binds a task's workspace to the pipeline's.
type WorkspacePipelineTaskBinding struct {
	Name      string `json:"name"`
	Workspace string `json:"workspace,omitempty"`
}

// PipelineResult is a pipeline result taken from a task's.
type PipelineResult struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
}

// PipelineRunStatus is what Tekton reports.
type PipelineRunStatus struct {
	Conditions      []Condition         `json:"conditions,omitempty"`
	StartTime       *metav1.Time        `json:"startTime,omitempty"`
	CompletionTime  *metav1.Time        `json:"completionTime,omitempty"`
	Results         []PipelineRunResult `json:"results,omitempty"`
	ChildReferences []ChildReference    `json:"childReferences,omitempty"`
}

// ChildReference names a run the PipelineRun started (a TaskRun for each of its tasks).
type ChildReference struct {
	Kind             string `json:"kind,omitempty"`
	Name             string `json:"name,omitempty"`
	PipelineTaskName string `json:"pipelineTaskName,omitempty"`
}

// TaskRunKind is the kind of the runs a PipelineRun's tasks start.
const TaskRunKind = "TaskRun"

// TaskRun is a tekton.dev/v1 TaskRun, reduced to where its pod is and how its steps ended.
type TaskRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Status            *TaskRunStatus `json:"status,omitempty"`
}

// TaskRunStatus is what Tekton reports of a TaskRun.
type TaskRunStatus struct {
	PodName string      `json:"podName,omitempty"`
	Steps   []StepState `json:"steps,omitempty"`
}

// StepState is one step's container state; Name is the step's, Container its container's
// ("step-" + Name).
type StepState struct {
	Name       string                           `json:"name,omitempty"`
	Container  string                           `json:"container,omitempty"`
	Terminated *corev1.ContainerStateTerminated `json:"terminated,omitempty"`
}

// Condition is a Knative-style condition; Tekton's is "Succeeded".
type Condition struct {
	Type    string                 `json:"type"`
	Status  corev1.ConditionStatus `json:"status"`
	Reason  string                 `json:"reason,omitempty"`
	Message string                 `json:"message,omitempty"`
}

// ConditionSucceeded is the condition that says how a PipelineRun is doing.
const ConditionSucceeded = "Succeeded"

// PipelineRun reasons read by Observe (tekton.dev/v1's PipelineRunReason values).
const (
	ReasonPending              = "PipelineRunPending"
	ReasonResolvingPipelineRef = "ResolvingPipelineRef"
	ReasonTimedOut             = "PipelineRunTimeout"
	ReasonCancelled            = "Cancelled"
)

// PipelineRunResult is one of the pipeline's results.
type PipelineRunResult struct {
	Name  string      `json:"name"`
	Value ResultValue `json:"value"`
}

// ResultValue is a result's string value. Tekton results may also be arrays or objects (a
// user's Pipeline may emit them besides ours): those read as "" instead of failing the whole
// PipelineRun's decoding.
type ResultValue struct {
	String string
}

// UnmarshalJSON keeps a string and ignores any other JSON value.
func (v *ResultValue) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		v.String = s
	}
	return nil
}

// MarshalJSON writes the string.
func (v ResultValue) MarshalJSON() ([]byte, error) {
	return json.Marshal(v.String)
}

// condition returns the status condition of type t, or nil.
func (s *PipelineRunStatus) condition(t string) *Condition {
	if s == nil {
		return nil
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}
