package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NotebookValidationJob asks: does this notebook, from this git repository, run top to bottom
// in this image (optionally built first), and do its outputs match the golden copy?
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nvj;nvjob,categories=mlops
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:selectablefield:JSONPath=`.status.gitOpsHooks.state`
// +kubebuilder:selectablefield:JSONPath=`.status.reuseKey.digest`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Notebook",type=string,JSONPath=`.spec.notebook.path`
// +kubebuilder:printcolumn:name="Build image",type=string,JSONPath=`.status.buildStatus.imageReference`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`
// +kubebuilder:printcolumn:name="Git-URL",type=string,JSONPath=`.spec.notebook.git.url`,priority=1
// +kubebuilder:printcolumn:name="Timeout",type=string,JSONPath=`.spec.timeout`,priority=1
type NotebookValidationJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NotebookValidationJobSpec   `json:"spec,omitempty"`
	Status NotebookValidationJobStatus `json:"status,omitempty"`
}

// NotebookValidationJobList is a list of NotebookValidationJobs.
//
// +kubebuilder:object:root=true
type NotebookValidationJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotebookValidationJob `json:"items"`
}

// NotebookValidationJobSpec is what the user asks for.
type NotebookValidationJobSpec struct {
	// Notebook is the notebook to execute.
	Notebook NotebookSpec `json:"notebook"`

	// PodConfig shapes the validation pod (and the optional image build).
	PodConfig PodConfigSpec `json:"podConfig"`

	// GoldenNotebook is an executed notebook whose outputs the run must reproduce.
	// +optional
	GoldenNotebook *NotebookSpec `json:"goldenNotebook,omitempty"`

	// ComparisonConfig tunes the golden comparison.
	// +optional
	ComparisonConfig *ComparisonConfigSpec `json:"comparisonConfig,omitempty"`

	// Timeout bounds the whole validation run (Go duration, e.g. "30m"). It becomes the pod's
	// activeDeadlineSeconds, so the kubelet enforces it.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="30m"
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// Execution tunes how the notebook is driven: parameters, per-cell timeout, kernel.
	// +optional
	Execution *ExecutionSpec `json:"execution,omitempty"`

	// ModelValidation is accepted for compatibility with the existing CRD.
	// +optional
	ModelValidation *ModelValidationSpec `json:"modelValidation,omitempty"`

	// ValidationConfig sets the checks applied to the executed notebook.
	// +optional
	ValidationConfig *ValidationConfigSpec `json:"validationConfig,omitempty"`
}

// NotebookSpec locates a notebook in a git repository.
type NotebookSpec struct {
	// Git is the repository holding the notebook.
	Git GitSpec `json:"git"`

	// Path is the notebook's path inside the repository.
	// +kubebuilder:validation:Pattern=`^.*\.ipynb$`
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(p, p == '..')",message="path must be relative to the repository root and must not contain '..'"
	Path string `json:"path"`
}

// GitSpec is a git repository at a reference.
type GitSpec struct {
	// URL of the repository: https://, http://, git://, ssh:// or git@host:path.
	// +kubebuilder:validation:Pattern=`^((https?|git|ssh|file)://|git@).*$`
	URL string `json:"url"`

	// Ref is a branch, a tag or a commit SHA.
	// +kubebuilder:validation:MinLength=1
	Ref string `json:"ref"`

	// CredentialsSecret names a Secret in the job's namespace with keys username+password
	// (or token) for HTTPS, or ssh-privatekey (+ known_hosts) for SSH. It is mounted as files
	// into the clone step only; its values never appear in the pod spec.
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// ExecutionSpec controls notebook execution. It is an addition over the existing CRD.
type ExecutionSpec struct {
	// Parameters are injected after the cell tagged "parameters", as papermill does.
	// Values are any JSON (numbers, strings, lists, objects).
	// +optional
	Parameters map[string]apiextensionsv1.JSON `json:"parameters,omitempty"`

	// CellTimeout bounds each cell's execution (Go duration). Empty means no per-cell limit.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	CellTimeout string `json:"cellTimeout,omitempty"`

	// KernelName overrides the kernel named in the notebook's metadata.
	// +optional
	KernelName string `json:"kernelName,omitempty"`
}

// PodConfigSpec shapes the validation pod. A volumeMount naming no declared volume is refused
// when the pod is built (a CEL rule over core/v1 Volume lists exceeds the API server's cost
// budget, since their strings carry no length bound).
type PodConfigSpec struct {
	// ContainerImage runs the notebook. With a build, the built image replaces it. It must be
	// an image reference (ImageReferencePattern).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(:[0-9]+)?/)?[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`
	ContainerImage string `json:"containerImage"`

	// Resources for the notebook container, as quantity strings ("500m", "2Gi").
	// +optional
	Resources *ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName runs the validation pod: a DNS-1123 subdomain, as the API server
	// requires of a ServiceAccount's name.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:default="default"
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Env for the notebook container.
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Env []EnvVar `json:"env,omitempty"`

	// EnvFrom for the notebook container.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// Credentials is shorthand: each Secret name becomes an envFrom secretRef.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Credentials []string `json:"credentials,omitempty"`

	// BuildConfig builds the image from the repository before validation.
	// +optional
	BuildConfig *BuildConfigSpec `json:"buildConfig,omitempty"`

	// Volumes for the validation pod.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// VolumeMounts for the notebook container; each names one of Volumes.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`

	// Tolerations for scheduling the validation pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// NodeSelector for scheduling the validation pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Affinity for scheduling the validation pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
}

// ResourceRequirements keeps the existing CRD's string maps so manifests round-trip unchanged.
// A request above its limit is refused here, as the API server would refuse the pod; a value
// that is not a quantity is left to the pod's construction, which names the field.
//
// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !isQuantity(self.requests[k]) || !isQuantity(self.limits[k]) || !quantity(self.limits[k]).isLessThan(quantity(self.requests[k])))",message="every request must be less than or equal to its limit"
type ResourceRequirements struct {
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	Limits map[string]string `json:"limits,omitempty"`
	// +kubebuilder:validation:MaxProperties=6
	// +optional
	Requests map[string]string `json:"requests,omitempty"`
}

// Build strategies.
const (
	BuildStrategyS2I        = "s2i"
	BuildStrategyTekton     = "tekton"
	BuildStrategyExternal   = "external"
	BuildStrategyKaniko     = "kaniko"
	BuildStrategyShipwright = "shipwright"
	BuildStrategyCustom     = "custom"
)

// BuildConfigSpec asks for an image build before validation.
//
// +kubebuilder:validation:XValidation:rule="!self.enabled || has(self.strategy)",message="buildConfig.enabled requires buildConfig.strategy"
type BuildConfigSpec struct {
	// Enabled turns the build on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Strategy is the build system: s2i (OpenShift Build), tekton (PipelineRun), or external
	// (a CI system that reports through a signed CloudEvent). kaniko, shipwright and custom are
	// accepted for compatibility and fail the job with an explanation.
	// +kubebuilder:validation:Enum=s2i;tekton;external;kaniko;shipwright;custom
	// +kubebuilder:default="s2i"
	// +optional
	Strategy string `json:"strategy,omitempty"`

	// BaseImage is the builder (s2i) or FROM image (generated Dockerfile): an image reference
	// (ImageReferencePattern).
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(:[0-9]+)?/)?[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`
	// +kubebuilder:default="quay.io/jupyter/minimal-notebook:latest"
	// +optional
	BaseImage string `json:"baseImage,omitempty"`

	// Dockerfile is a path in the repository to build from.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9._/-]+$`
	// +optional
	Dockerfile string `json:"dockerfile,omitempty"`

	// AutoGenerateRequirements generates a Dockerfile from BaseImage + a requirements file.
	// +kubebuilder:default=true
	// +optional
	AutoGenerateRequirements *bool `json:"autoGenerateRequirements,omitempty"`

	// RequirementsFile is an explicit requirements path in the repository.
	// +optional
	RequirementsFile string `json:"requirementsFile,omitempty"`

	// RequirementsSources is the search order for a requirements file.
	// +optional
	RequirementsSources []string `json:"requirementsSources,omitempty"`

	// PreferDockerfile prefers Dockerfile over a requirements file when both exist.
	// +optional
	PreferDockerfile bool `json:"preferDockerfile,omitempty"`

	// FallbackStrategy says what to do when no requirements file is found.
	// +kubebuilder:validation:Enum=warn;fail;auto
	// +kubebuilder:default="warn"
	// +optional
	FallbackStrategy string `json:"fallbackStrategy,omitempty"`

	// StrategyConfig holds strategy-specific settings (e.g. tekton pipelineRef, builderImage).
	// +optional
	StrategyConfig map[string]string `json:"strategyConfig,omitempty"`

	// Timeout bounds the build (Go duration); the build system enforces it.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="15m"
	// +optional
	Timeout string `json:"timeout,omitempty"`
}

// ValidationConfigSpec sets the checks applied to the executed notebook.
type ValidationConfigSpec struct {
	// Level is the strictness preset.
	// +kubebuilder:validation:Enum=learning;development;staging;production
	// +kubebuilder:default="development"
	// +optional
	Level string `json:"level,omitempty"`

	// StrictMode turns every check into a failure.
	// +optional
	StrictMode bool `json:"strictMode,omitempty"`

	// FailOnStderr fails the run when any cell writes to stderr.
	// +optional
	FailOnStderr bool `json:"failOnStderr,omitempty"`

	// FailOnWarnings fails the run when a Python warning is printed.
	// +optional
	FailOnWarnings bool `json:"failOnWarnings,omitempty"`

	// DetectSilentFailures flags None / NaN results of code cells.
	// +kubebuilder:default=true
	// +optional
	DetectSilentFailures *bool `json:"detectSilentFailures,omitempty"`

	// RequireExplicitExitCodes fails a notebook whose last code cell does not end in a result.
	// +optional
	RequireExplicitExitCodes bool `json:"requireExplicitExitCodes,omitempty"`

	// CheckOutputTypes verifies ExpectedOutputs types.
	// +optional
	CheckOutputTypes bool `json:"checkOutputTypes,omitempty"`

	// VerifyAssertions requires at least one assert statement in the notebook.
	// +optional
	VerifyAssertions bool `json:"verifyAssertions,omitempty"`

	// EducationalMode is accepted for compatibility.
	// +optional
	EducationalMode bool `json:"educationalMode,omitempty"`

	// ExpectedOutputs are checks on specific cells' outputs.
	// +optional
	ExpectedOutputs []ExpectedOutputSpec `json:"expectedOutputs,omitempty"`
}

// ExpectedOutputSpec is a check on one cell's output.
type ExpectedOutputSpec struct {
	// Cell is the zero-based cell index.
	// +kubebuilder:validation:Minimum=0
	Cell int `json:"cell"`

	// Type is the expected Python type name of the cell's result.
	// +optional
	Type string `json:"type,omitempty"`

	// Shape is "rows,cols" for array-like results; -1 means any.
	// +optional
	Shape string `json:"shape,omitempty"`

	// MinValue is the smallest acceptable numeric result.
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`
	// +optional
	MinValue string `json:"minValue,omitempty"`

	// MaxValue is the largest acceptable numeric result.
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`
	// +optional
	MaxValue string `json:"maxValue,omitempty"`

	// NotEmpty requires a non-empty result.
	// +optional
	NotEmpty bool `json:"notEmpty,omitempty"`
}

// ComparisonConfigSpec tunes the golden comparison.
type ComparisonConfigSpec struct {
	// Strategy is exact (byte-equal outputs) or normalized (tolerances and masks applied).
	// +kubebuilder:validation:Enum=exact;normalized
	// +kubebuilder:default="normalized"
	// +optional
	Strategy string `json:"strategy,omitempty"`

	// FloatingPointTolerance is the absolute and relative tolerance for numbers in outputs.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`
	// +kubebuilder:default="0.0001"
	// +optional
	FloatingPointTolerance *string `json:"floatingPointTolerance,omitempty"`

	// IgnoreTimestamps masks timestamps before comparing.
	// +kubebuilder:default=true
	// +optional
	IgnoreTimestamps *bool `json:"ignoreTimestamps,omitempty"`

	// IgnoreExecutionCount ignores execution counts (and "In [n]" in tracebacks).
	// +kubebuilder:default=true
	// +optional
	IgnoreExecutionCount *bool `json:"ignoreExecutionCount,omitempty"`

	// CustomTimestampPatterns are extra regular expressions masked as timestamps.
	// +optional
	CustomTimestampPatterns []string `json:"customTimestampPatterns,omitempty"`

	// IgnoreOutputTypes are output types (e.g. "display_data", "image/png") left out.
	// +optional
	IgnoreOutputTypes []string `json:"ignoreOutputTypes,omitempty"`

	// ImageComparison says how PNG and JPEG outputs are compared with the golden ones: type
	// (the image is there, with the same MIME type, as nbval does; the default under
	// normalized, since renderers and dpi change the pixels), size (also the same pixel
	// dimensions), pixels (the same decoded pixels) or bytes (the default under exact).
	// +kubebuilder:validation:Enum=type;size;pixels;bytes
	// +optional
	ImageComparison string `json:"imageComparison,omitempty"`

	// MaskPatterns rewrite volatile text in both notebooks' outputs before they are compared
	// (nbval's sanitize): each match of pattern is replaced, in order, under either strategy.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	MaskPatterns []MaskPattern `json:"maskPatterns,omitempty"`
}

// MaskPattern is one regular-expression replacement applied to output text.
type MaskPattern struct {
	// Pattern is a regular expression (RE2 syntax, as Go and CEL accept it).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="''.matches(self) || !''.matches(self)",message="pattern must be a valid regular expression (RE2 syntax)"
	Pattern string `json:"pattern"`

	// Replacement replaces each match; $1 or ${name} insert capture groups. Empty deletes.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Replacement string `json:"replacement,omitempty"`
}

// ModelValidationSpec is accepted for compatibility with the existing CRD.
type ModelValidationSpec struct {
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +kubebuilder:validation:Enum=kserve;openshift-ai;vllm;torchserve;tensorflow-serving;triton;ray-serve;seldon;bentoml;custom
	// +kubebuilder:default="kserve"
	// +optional
	Platform string `json:"platform,omitempty"`
	// +kubebuilder:validation:Enum=clean;existing;both
	// +kubebuilder:default="both"
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	TargetModels []string `json:"targetModels,omitempty"`
	// +optional
	PredictionValidation *PredictionValidationSpec `json:"predictionValidation,omitempty"`
	// +optional
	CustomPlatform *CustomPlatformSpec `json:"customPlatform,omitempty"`
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="5m"
	// +optional
	Timeout string `json:"timeout,omitempty"`
}

// PredictionValidationSpec is part of ModelValidationSpec.
type PredictionValidationSpec struct {
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	TestData string `json:"testData,omitempty"`
	// +optional
	ExpectedOutput string `json:"expectedOutput,omitempty"`
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`
	// +kubebuilder:default="0.01"
	// +optional
	Tolerance string `json:"tolerance,omitempty"`
}

// CustomPlatformSpec is part of ModelValidationSpec.
type CustomPlatformSpec struct {
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`
	// +optional
	ResourceType string `json:"resourceType,omitempty"`
	// +optional
	HealthCheckEndpoint string `json:"healthCheckEndpoint,omitempty"`
	// +optional
	PredictionEndpoint string `json:"predictionEndpoint,omitempty"`
}
