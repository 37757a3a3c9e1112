// Package statemachine owns the NotebookValidationJob state machine: the pure decision
// Decide(job, observation) -> Decision that every function calls after it has read fresh
// state from the API. It does no I/O, reads no clock (the time arrives in the observation)
// and logs nothing, so it can be tested exhaustively over every phase x observation pair.
//
// Phases: "" -> Initializing -> Building -> BuildComplete -> ValidationRunning -> Succeeded |
// Failed; Initializing goes straight to ValidationRunning when no build is configured.
// Succeeded and Failed absorb every observation. Each call makes at most one transition.
//
// Legacy phases written by the previous operator are migrated on first sight:
//   - Pending is decided exactly as Initializing (a JobSeen moves it to Building or
//     ValidationRunning and sets startTime when it is missing).
//   - Running becomes ValidationRunning, keeping every recorded field, when a validation pod
//     is recorded; pod observations then apply on a later event. Without a recorded pod
//     nothing can be resumed, so it becomes Initializing and starts over. Either way the
//     migration itself is the one transition: it writes status and has no effect. A pod's
//     progress (PodPending, PodRunning) migrates nothing: it changes no job in any phase
//     (see CouldApply); job-created, the pod's outcome or the sweep migrate the job.
//
// A job with spec.modelValidation waits in Initializing before it starts (models.go): a
// JobSeen carrying a reading of its target models (Observation.Models) that lists some not
// ready records ModelsReady=False and the result, and moves nothing; one listing none starts
// it. Past modelValidation.timeout (Deadline) DeadlinePassed starts it without them. It never
// fails over its models, as in the existing operator.
//
// Effects name children deterministically (PodName, BuildName) and creating an existing
// child counts as success, so a caller may perform the effect before writing the status:
// a lost write is re-decided to the same effect.
package statemachine

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Kind says what a function observed.
type Kind string

// Observation kinds.
const (
	JobSeen                Kind = "JobSeen"                // job add/update event or sweep: decide from the job alone
	BuildPending           Kind = "BuildPending"           // child build exists, not started
	BuildRunning           Kind = "BuildRunning"           // child build is running
	BuildSucceeded         Kind = "BuildSucceeded"         // Image set (pinned by digest when known)
	BuildFailed            Kind = "BuildFailed"            // child build failed
	BuildCancelled         Kind = "BuildCancelled"         // child build was cancelled
	BuildTimedOut          Kind = "BuildTimedOut"          // the build system's own timeout fired
	BuildStartFailed       Kind = "BuildStartFailed"       // creating the build child failed permanently (platform missing, invalid config)
	ExternalBuildSucceeded Kind = "ExternalBuildSucceeded" // signed external-CI report (already verified by the caller)
	ExternalBuildFailed    Kind = "ExternalBuildFailed"    // signed external-CI report of a failed build
	PodPending             Kind = "PodPending"             // validation pod exists, not running
	PodRunning             Kind = "PodRunning"             // validation pod is running
	PodSucceeded           Kind = "PodSucceeded"           // runner summary says passed
	PodFailed              Kind = "PodFailed"              // notebook failed: a result, never retried
	PodInfraFailed         Kind = "PodInfraFailed"         // eviction, image pull, node lost, runner error, missing pod: retryable
	PodTimedOut            Kind = "PodTimedOut"            // activeDeadlineSeconds exceeded: not retried
	PodStartFailed         Kind = "PodStartFailed"         // creating the validation pod failed permanently (the spec cannot make a valid pod)
	DeadlinePassed         Kind = "DeadlinePassed"         // sweep: the job's deadline (see Deadline) passed and nothing else enforced it
)

// AllKinds lists every Kind (the test uses it to fail when a kind has no row).
var AllKinds = []Kind{
	JobSeen,
	BuildPending, BuildRunning, BuildSucceeded, BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed,
	ExternalBuildSucceeded, ExternalBuildFailed,
	PodPending, PodRunning, PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed,
	DeadlinePassed,
}

// AllPhases lists every phase Decide knows, legacy ones included (the test uses it to fail
// when a phase has no row).
var AllPhases = []string{
	v1alpha1.PhaseNone,
	v1alpha1.PhaseInitializing,
	v1alpha1.PhaseBuilding,
	v1alpha1.PhaseBuildComplete,
	v1alpha1.PhaseValidationRunning,
	v1alpha1.PhaseSucceeded,
	v1alpha1.PhaseFailed,
	v1alpha1.PhasePending,
	v1alpha1.PhaseRunning,
}

// Observation is what a function saw, already read from the API (or verified, for external CI).
type Observation struct {
	Kind    Kind
	Now     metav1.Time
	Reason  string // machine reason (e.g. "ImagePullBackOff", "OOMKilled", "PipelineRunTimeout", "Timeout")
	Message string // human text from the build system / pod / runner, already made readable by the caller
	// Build observations
	BuildName                    string
	Image                        string
	BuildStarted, BuildCompleted *metav1.Time
	// StartFailure says why a child could not be created (PodStartFailed, BuildStartFailed).
	StartFailure StartFailure
	// Pod observations: the results the caller extracted from the runner summary
	PodName    string
	Results    []v1alpha1.CellResult
	Comparison *v1alpha1.ComparisonResult
	// Artifact is what the pod's publish sidecar pushed (the run's record), when it has one.
	Artifact *v1alpha1.ArtifactStatus
	// Models is what the caller read of the job's target models, on a JobSeen of a job that
	// AwaitsModels (nil: not read); Message then says why the job waits.
	Models *ModelCheck
	// Reuse is what the caller found for a job that asks to reuse an earlier run's verdict,
	// on a JobSeen that may start it (nil: not looked up). See reuse.go.
	Reuse *ReuseCheck
}

// StartFailure says why creating a child (the validation pod, the build) failed for good. The
// decision's reason says which: the job's owner fixes each differently.
type StartFailure string

// Start failures.
const (
	// StartInvalid (the zero value): the spec cannot make a valid child, found before any API
	// call, or the cluster does not serve the build's API.
	StartInvalid StartFailure = ""
	// StartRejected: the API server refused the child (validation or admission).
	StartRejected StartFailure = "Rejected"
	// StartNameTaken: an object this job does not control holds the child's name.
	StartNameTaken StartFailure = "NameTaken"
	// StartNotPermitted: the job's spec author may not use what the child would use (a
	// Secret, a ServiceAccount, a pod-level power); nothing was created.
	StartNotPermitted StartFailure = "NotPermitted"
)

// AllStartFailures lists every StartFailure (tests decide each).
var AllStartFailures = []StartFailure{StartInvalid, StartRejected, StartNameTaken, StartNotPermitted}

// Effect is the one side effect a decision asks the caller to perform.
type Effect string

// Effects.
const (
	EffectNone                Effect = ""
	EffectCreateBuild         Effect = "CreateBuild"         // create the build child for job.Spec.PodConfig.BuildConfig.Strategy (not for external)
	EffectCreateValidationPod Effect = "CreateValidationPod" // create pod Decision.PodName with image Decision.Image
	EffectDeleteChildren      Effect = "DeleteChildren"      // deadline passed: clean up build/pod children
)

// Decision is the outcome of one observation.
type Decision struct {
	Status  v1alpha1.NotebookValidationJobStatus // the complete new status (a deep copy, modified)
	Effect  Effect
	PodName string // for EffectCreateValidationPod
	Image   string // for EffectCreateValidationPod: spec image, or buildStatus.imageReference after a build
	Changed bool   // false means: write nothing
	Reason  string // CamelCase reason for the Kubernetes Event and reply CloudEvent, e.g. "BuildStarted", "ValidationStarted", "NotebookFailed"
}

// MaxInfraRetries is how many validation pods are replaced after infra failures before the job fails.
const MaxInfraRetries = 2

// Decision reasons. They are also used as condition reasons, so they never come from callers.
const (
	ReasonInitialized           = "Initialized"
	ReasonBuildStarted          = "BuildStarted"
	ReasonAwaitingExternalBuild = "AwaitingExternalBuild"
	ReasonUnsupportedStrategy   = "UnsupportedBuildStrategy"
	ReasonBuildStartFailed      = "BuildStartFailed"
	ReasonPodStartFailed        = "PodStartFailed"
	ReasonPodRejected           = "PodRejected"    // the API server refused the validation pod
	ReasonBuildRejected         = "BuildRejected"  // the API server refused the build child
	ReasonChildNameTaken        = "ChildNameTaken" // an object the job does not control holds a child's name
	ReasonNotPermitted          = "NotPermitted"   // the job's author may not use what its spec references
	ReasonBuildPending          = "BuildPending"
	ReasonBuildRunning          = "BuildRunning"
	ReasonBuildSucceeded        = "BuildSucceeded"
	ReasonImageMissing          = "ImageMissing"
	ReasonBuildFailed           = "BuildFailed"
	ReasonBuildCancelled        = "BuildCancelled"
	ReasonBuildTimeout          = "BuildTimeout"
	ReasonValidationStarted     = "ValidationStarted"
	ReasonValidationRetried     = "ValidationRetried"
	ReasonNotebookSucceeded     = "NotebookSucceeded"
	ReasonNotebookFailed        = "NotebookFailed"
	ReasonInfrastructureFailed  = "InfrastructureFailed"
	ReasonTimeout               = "Timeout"
	ReasonMigrated              = "Migrated"

	// ReasonInconsistentSummary fails a job whose pod left a runner summary that contradicts
	// itself or the pod (observed as PodFailed with this reason): terminal, never retried.
	ReasonInconsistentSummary = "InconsistentSummary"
)
