package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phases of a NotebookValidationJob. Pending and Running are legacy phases written by the
// existing operator; they are migrated into the machine on first sight.
const (
	PhaseNone              = ""
	PhaseInitializing      = "Initializing"
	PhaseBuilding          = "Building"
	PhaseBuildComplete     = "BuildComplete"
	PhaseValidationRunning = "ValidationRunning"
	PhaseSucceeded         = "Succeeded"
	PhaseFailed            = "Failed"
	PhasePending           = "Pending"
	PhaseRunning           = "Running"
)

// Condition types.
const (
	// ConditionReady is True once the job succeeded, False once it failed.
	ConditionReady = "Ready"
	// ConditionBuildReady reports the image build (absent when no build is configured).
	ConditionBuildReady = "BuildReady"
	// ConditionValidationComplete is True on Succeeded and False on Failed (whatever failed), as
	// in the existing operator; Unknown while the notebook runs.
	ConditionValidationComplete = "ValidationComplete"
	// ConditionReused is set on a job that asks for reuse: True when it took an earlier
	// run's verdict, False (with why) when it runs the notebook.
	ConditionReused = "Reused"
)

// Build phases recorded in status.buildStatus.phase.
const (
	BuildPhasePending  = "Pending"
	BuildPhaseRunning  = "Running"
	BuildPhaseComplete = "Complete"
	BuildPhaseFailed   = "Failed"
)

// Cell result statuses.
const (
	CellStatusSuccess = "Success"
	CellStatusFailure = "Failure"
	CellStatusSkipped = "Skipped"
)

// NotebookValidationJobStatus is what the functions observed and decided.
type NotebookValidationJobStatus struct {
	// Phase is the job's place in the state machine.
	// +kubebuilder:validation:Enum=Initializing;Building;BuildComplete;ValidationRunning;Succeeded;Failed;Pending;Running
	// +optional
	Phase string `json:"phase,omitempty"`

	// ObservedGeneration is the spec generation the status was decided from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, BuildReady, ValidationComplete, and Reused for a job that asks for reuse.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// StartTime is when the job entered the machine; deadlines count from it.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the job reached Succeeded or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Results are per-cell outcomes.
	// +optional
	Results []CellResult `json:"results,omitempty"`

	// ValidationPodName is the pod running (or that ran) the notebook.
	// +optional
	ValidationPodName string `json:"validationPodName,omitempty"`

	// Message is a human-readable summary of the current phase.
	// +optional
	Message string `json:"message,omitempty"`

	// RetryCount counts validation pods replaced after infrastructure failures.
	// +optional
	RetryCount int `json:"retryCount,omitempty"`

	// LastRetryTime is when the last replacement pod was created.
	// +optional
	LastRetryTime *metav1.Time `json:"lastRetryTime,omitempty"`

	// ComparisonResult is the golden comparison outcome.
	// +optional
	ComparisonResult *ComparisonResult `json:"comparisonResult,omitempty"`

	// ModelValidationResult is kept for compatibility with the existing CRD.
	// +optional
	ModelValidationResult *ModelValidationResult `json:"modelValidationResult,omitempty"`

	// BuildStatus reports the image build.
	// +optional
	BuildStatus *BuildStatus `json:"buildStatus,omitempty"`

	// EducationalFeedback is kept for compatibility with the existing CRD.
	// +optional
	EducationalFeedback []EducationalFeedbackItem `json:"educationalFeedback,omitempty"`

	// GitOpsHooks records the GitOps hooks (sync-wave annotations, on-success triggers) of a
	// finished job whose annotations ask for them: Pending from the terminal write until they
	// were performed once, then Done with what each did.
	// +optional
	GitOpsHooks *GitOpsHooksStatus `json:"gitOpsHooks,omitempty"`

	// Artifact is the OCI artifact holding the run's executed notebook, report.html,
	// report.json and junit.xml, pushed at the end of the validation pod to the registry the
	// installer configured (absent when none is configured). `nbv report JOB` fetches it.
	// +optional
	Artifact *ArtifactStatus `json:"artifact,omitempty"`

	// ReuseKey is what the run's verdict depends on, written for a job that asks for reuse
	// (annotation mlops.mlops.dev/reuse: "true") and whose inputs are all pinned. A later job
	// with the same key.digest may reuse this run's verdict and artifact.
	// +optional
	ReuseKey *ReuseKey `json:"reuseKey,omitempty"`

	// ReusedRun names the earlier run whose verdict and artifact this job took instead of
	// executing the notebook.
	// +optional
	ReusedRun *ReusedRun `json:"reusedRun,omitempty"`
}

// ReuseKey lists each input a run's verdict depends on, with its value, and the digest over
// them all. Structured inputs are given by the sha256 of their canonical JSON.
type ReuseKey struct {
	// Digest is sha256:<hex> over every part below; jobs are found by it (a selectable field).
	// +kubebuilder:validation:MaxLength=71
	Digest string `json:"digest"`
	// Notebook is <git url>@<commit SHA>:<path>.
	Notebook string `json:"notebook"`
	// Golden is the golden notebook as <git url>@<commit SHA>:<path>; empty without one.
	// +optional
	Golden string `json:"golden,omitempty"`
	// Image is spec.podConfig.containerImage, pinned by digest.
	Image string `json:"image"`
	// Execution is the sha256 of spec.execution (parameters, cellTimeout, kernelName) and spec.timeout.
	Execution string `json:"execution"`
	// Validation is the sha256 of spec.validationConfig.
	Validation string `json:"validation"`
	// Comparison is the sha256 of spec.comparisonConfig.
	Comparison string `json:"comparison"`
	// Environment is the sha256 of the notebook container's env values, resources and
	// the pod's serviceAccountName.
	Environment string `json:"environment"`
	// Runner is the runner image the installer configured (NBV_RUNNER_IMAGE), which executes,
	// checks and compares the notebook.
	Runner string `json:"runner"`
}

// ReusedRun is the earlier job whose verdict a job reused.
type ReusedRun struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// ArtifactReference is that run's record (status.artifact.reference); empty when it has none.
	// +optional
	ArtifactReference string `json:"artifactReference,omitempty"`
}

// ArtifactStatus says where a run's record went.
type ArtifactStatus struct {
	// Reference is the artifact by digest, <registry>/<repository>@sha256:<hex>; empty when
	// the push failed.
	// +optional
	Reference string `json:"reference,omitempty"`

	// ArtifactType is the manifest's artifactType (application/vnd.nbv.report.v1+json).
	// +optional
	ArtifactType string `json:"artifactType,omitempty"`

	// Files are the titles (org.opencontainers.image.title) of the artifact's layers.
	// +optional
	Files []string `json:"files,omitempty"`

	// Message says why nothing was pushed, when the push failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// GitOps hook states.
const (
	GitOpsHooksPending = "Pending"
	GitOpsHooksDone    = "Done"
)

// GitOpsHooksStatus is what the GitOps hooks of a finished job did.
type GitOpsHooksStatus struct {
	// State is Pending until the hooks were performed, then Done; they are never performed again.
	// +kubebuilder:validation:Enum=Pending;Done
	State string `json:"state"`

	// Wave is the annotation set on the job, e.g. "mlops.dev/wave-complete=3".
	// +optional
	Wave string `json:"wave,omitempty"`

	// Triggers says what each on-success trigger did, in the annotation's order.
	// +optional
	Triggers []GitOpsTriggerResult `json:"triggers,omitempty"`

	// Message says why a hook did not fire (annotation not understood, permission missing).
	// +optional
	Message string `json:"message,omitempty"`
}

// Trigger results.
const (
	TriggerFired     = "Fired"
	TriggerNotFound  = "NotFound"
	TriggerForbidden = "Forbidden"
	TriggerRefused   = "Refused"
)

// GitOpsTriggerResult is what one on-success trigger did.
type GitOpsTriggerResult struct {
	// Target is "<action> <kind> <namespace>/<name>".
	Target string `json:"target"`
	// Result is Fired, NotFound, Forbidden or Refused.
	// +kubebuilder:validation:Enum=Fired;NotFound;Forbidden;Refused
	Result string `json:"result"`
	// +optional
	Message string `json:"message,omitempty"`
}

// BuildStatus reports the image build.
type BuildStatus struct {
	// +kubebuilder:validation:Enum=Pending;Running;Complete;Failed
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// ImageReference is the built image, pinned by digest when the build system reports one.
	// +optional
	ImageReference string `json:"imageReference,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Duration is the build's wall time, e.g. "5m30s".
	// +optional
	Duration string `json:"duration,omitempty"`
	// BuildName is the PipelineRun or Build name.
	// +optional
	BuildName string `json:"buildName,omitempty"`
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// Reason is the build system's machine-readable reason for the last state.
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	AvailableImages []AvailableImageInfo `json:"availableImages,omitempty"`
	// +optional
	RecommendedImage string `json:"recommendedImage,omitempty"`
}

// AvailableImageInfo is kept for compatibility with the existing CRD.
type AvailableImageInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	ImageRef    string `json:"imageRef"`
	S2IEnabled  bool   `json:"s2iEnabled"`
	// +optional
	Tags []string `json:"tags,omitempty"`
}

// CellResult is one cell's outcome.
type CellResult struct {
	// +kubebuilder:validation:Minimum=0
	CellIndex int `json:"cellIndex"`
	// +kubebuilder:validation:Enum=Success;Failure;Skipped
	Status string `json:"status"`
	// ExecutionTime is the cell's wall time.
	// +optional
	ExecutionTime *metav1.Duration `json:"executionTime,omitempty"`
	// Output is the cell's stdout/stderr, truncated.
	// +optional
	Output string `json:"output,omitempty"`
	// ErrorMessage is "Name: value" of the cell's exception.
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// ComparisonResult is the golden comparison outcome.
type ComparisonResult struct {
	// +kubebuilder:validation:Enum=exact;normalized;fuzzy;semantic
	Strategy string `json:"strategy"`
	// +kubebuilder:validation:Enum=matched;failed;skipped
	Result string `json:"result"`
	// +kubebuilder:validation:Minimum=0
	TotalCells int `json:"totalCells"`
	// +kubebuilder:validation:Minimum=0
	MatchedCells int `json:"matchedCells"`
	// +kubebuilder:validation:Minimum=0
	MismatchedCells int `json:"mismatchedCells"`
	// +optional
	Diffs []CellDiff `json:"diffs,omitempty"`
}

// CellDiff is one difference between the executed and the golden notebook.
type CellDiff struct {
	// +kubebuilder:validation:Minimum=0
	CellIndex int `json:"cellIndex"`
	// +kubebuilder:validation:Enum=code;markdown;raw
	CellType string `json:"cellType"`
	// +kubebuilder:validation:Enum=output_mismatch;execution_error;missing_cell;extra_cell
	DiffType string `json:"diffType"`
	// +optional
	Expected string `json:"expected,omitempty"`
	// +optional
	Actual string `json:"actual,omitempty"`
	// +optional
	Diff string `json:"diff,omitempty"`
	// +kubebuilder:validation:Enum=minor;major;critical
	Severity string `json:"severity"`
}

// EducationalFeedbackItem is kept for compatibility with the existing CRD.
type EducationalFeedbackItem struct {
	Cell int `json:"cell"`
	// +kubebuilder:validation:Enum=info;warning;error
	Severity string `json:"severity"`
	Category string `json:"category"`
	Message  string `json:"message"`
	// +optional
	Suggestion string `json:"suggestion,omitempty"`
	// +optional
	CodeExample string `json:"codeExample,omitempty"`
}

// ModelValidationResult is kept for compatibility with the existing CRD.
type ModelValidationResult struct {
	// +kubebuilder:validation:Enum=clean;existing;both
	Phase            string `json:"phase"`
	Platform         string `json:"platform"`
	PlatformDetected bool   `json:"platformDetected"`
	// +optional
	CleanEnvironmentCheck *CleanEnvironmentCheckResult `json:"cleanEnvironmentCheck,omitempty"`
	// +optional
	ExistingEnvironmentCheck *ExistingEnvironmentCheckResult `json:"existingEnvironmentCheck,omitempty"`
	Success                  bool                            `json:"success"`
	// +optional
	Message string `json:"message,omitempty"`
}

// CleanEnvironmentCheckResult is kept for compatibility with the existing CRD.
type CleanEnvironmentCheckResult struct {
	PlatformAvailable bool `json:"platformAvailable"`
	// +optional
	CRDsInstalled       []string `json:"crdsInstalled,omitempty"`
	RBACPermissions     bool     `json:"rbacPermissions"`
	NetworkConnectivity bool     `json:"networkConnectivity"`
	// +optional
	RequiredLibraries []string `json:"requiredLibraries,omitempty"`
	Success           bool     `json:"success"`
	// +optional
	Message string `json:"message,omitempty"`
}

// ExistingEnvironmentCheckResult is kept for compatibility with the existing CRD.
type ExistingEnvironmentCheckResult struct {
	// +optional
	ModelsChecked []ModelCheckResult `json:"modelsChecked,omitempty"`
	// +optional
	PredictionValidation *PredictionValidationResult `json:"predictionValidation,omitempty"`
	Success              bool                        `json:"success"`
	// +optional
	Message string `json:"message,omitempty"`
}

// ModelCheckResult is kept for compatibility with the existing CRD.
type ModelCheckResult struct {
	ModelName string `json:"modelName"`
	Available bool   `json:"available"`
	Healthy   bool   `json:"healthy"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	ResourceStatus *ModelResourceStatus `json:"resourceStatus,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// ModelResourceStatus is kept for compatibility with the existing CRD.
type ModelResourceStatus struct {
	// +optional
	CPUUsage string `json:"cpuUsage,omitempty"`
	// +optional
	MemoryUsage string `json:"memoryUsage,omitempty"`
	// +optional
	GPUUsage string `json:"gpuUsage,omitempty"`
}

// PredictionValidationResult is kept for compatibility with the existing CRD.
type PredictionValidationResult struct {
	Success bool `json:"success"`
	// +optional
	ActualOutput string `json:"actualOutput,omitempty"`
	// +optional
	ExpectedOutput string `json:"expectedOutput,omitempty"`
	// +optional
	Difference string `json:"difference,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
