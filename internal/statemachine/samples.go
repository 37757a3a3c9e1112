package statemachine

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/reuse"
)

// Representative jobs and observations. The transition table test and Mermaid both run
// Decide over them, so the committed diagram is what the tested code does.

// sample is one representative job in a phase. guard tells it apart from the phase's other
// samples; the diagram shows it only where the outcome depends on it. The first sample of a
// phase is its primary one.
type sample struct {
	guard string
	job   *v1alpha1.NotebookValidationJob
}

// Times and names shared by the samples.
var (
	sampleStart = metav1.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	sampleNow   = metav1.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC)
)

const (
	sampleJobName    = "nb"
	sampleJobUID     = "5a3f0c1e-8f4b-4c5e-9d2a-1b7e6f0a9c3d"
	sampleSpecImage  = "quay.io/jupyter/minimal-notebook:latest"
	sampleBuiltImage = "registry.example/nb@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sampleCommit     = "0123456789abcdef0123456789abcdef01234567"
	sampleRunner     = "registry.example/nbv-runner@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	sampleArtifact   = "registry.example/nbv-runs/notebooks@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// samples returns the representative jobs of a phase (nil for a phase Decide does not know).
func samples(phase string) []sample {
	switch phase {
	case v1alpha1.PhaseNone:
		return []sample{{"new job", sampleJob(phase, "")}}
	case v1alpha1.PhaseInitializing, v1alpha1.PhasePending:
		return []sample{
			{"no build", sampleJob(phase, "")},
			{"s2i", sampleJob(phase, v1alpha1.BuildStrategyS2I)},
			{"tekton", sampleJob(phase, v1alpha1.BuildStrategyTekton)},
			{"external", sampleJob(phase, v1alpha1.BuildStrategyExternal)},
			{"kaniko", sampleJob(phase, v1alpha1.BuildStrategyKaniko)},
			{"shipwright", sampleJob(phase, v1alpha1.BuildStrategyShipwright)},
			{"custom", sampleJob(phase, v1alpha1.BuildStrategyCustom)},
			{"models not ready", modelJob(phase, sampleUnreadyModel)},
			{"models ready", modelJob(phase, sampleReadyModel)},
			{"same inputs passed before", reuseJob(phase, v1alpha1.PhaseSucceeded)},
			{"same inputs failed before", reuseJob(phase, v1alpha1.PhaseFailed)},
		}
	case v1alpha1.PhaseBuilding:
		return []sample{
			{"tekton", buildingJob(v1alpha1.BuildStrategyTekton)},
			{"build held", heldBuildJob()},
			{"s2i", buildingJob(v1alpha1.BuildStrategyS2I)},
			{"external", buildingJob(v1alpha1.BuildStrategyExternal)},
		}
	case v1alpha1.PhaseBuildComplete:
		noImage := buildCompleteJob()
		noImage.Status.BuildStatus.ImageReference = ""
		return []sample{{"image built", buildCompleteJob()}, {"no image recorded", noImage}}
	case v1alpha1.PhaseValidationRunning:
		exhausted := validatingJob(v1alpha1.PhaseValidationRunning)
		exhausted.Status.RetryCount = MaxInfraRetries
		exhausted.Status.ValidationPodName = PodName(exhausted, MaxInfraRetries)
		exhausted.Status.LastRetryTime = &sampleStart
		return []sample{{"retries left", validatingJob(v1alpha1.PhaseValidationRunning)}, {"retries exhausted", exhausted}}
	case v1alpha1.PhaseRunning:
		noPod := validatingJob(v1alpha1.PhaseRunning)
		noPod.Status.ValidationPodName = ""
		return []sample{{"pod recorded", validatingJob(v1alpha1.PhaseRunning)}, {"no pod recorded", noPod}}
	case v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed:
		done := validatingJob(phase)
		done.Status.CompletionTime = &sampleStart
		return []sample{{"finished", done}}
	}
	return nil
}

// sampleJob is a job in phase with a build of strategy ("" for none).
func sampleJob(phase, strategy string) *v1alpha1.NotebookValidationJob {
	job := &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: sampleJobName, Namespace: "notebooks", UID: sampleJobUID, Generation: 2},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Path: "notebooks/analysis.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: sampleSpecImage},
			Timeout:   "30m",
		},
		Status: v1alpha1.NotebookValidationJobStatus{Phase: phase, ObservedGeneration: 1},
	}
	if strategy != "" {
		job.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "15m"}
	}
	if phase != v1alpha1.PhaseNone {
		job.Status.StartTime = &sampleStart
	}
	return job
}

// Target models of the samples: sampleObservation reads the first as not ready.
const (
	sampleUnreadyModel = "sklearn-iris"
	sampleReadyModel   = "sklearn-iris-v2"
)

// modelJob is a job in phase that validates against model (spec.modelValidation, 5m timeout,
// shorter than the time from sampleStart to sampleNow).
func modelJob(phase, model string) *v1alpha1.NotebookValidationJob {
	job := sampleJob(phase, "")
	enabled := true
	job.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{
		Enabled: &enabled, Platform: "kserve", TargetModels: []string{model}, Timeout: "5m",
	}
	return job
}

func buildingJob(strategy string) *v1alpha1.NotebookValidationJob {
	job := sampleJob(v1alpha1.PhaseBuilding, strategy)
	job.Status.BuildStatus = &v1alpha1.BuildStatus{
		Phase: v1alpha1.BuildPhasePending, Strategy: strategy, StartTime: &sampleStart, Message: "starting the build",
	}
	if strategy != v1alpha1.BuildStrategyExternal {
		job.Status.BuildStatus.BuildName = BuildName(job)
	}
	return job
}

// heldBuildJob is a tekton job whose build said why it was held before running.
func heldBuildJob() *v1alpha1.NotebookValidationJob {
	job := buildingJob(v1alpha1.BuildStrategyTekton)
	job.Status.BuildStatus.Message = sampleHeldMessage
	job.Status.Conditions = []metav1.Condition{{
		Type: v1alpha1.ConditionBuildReady, Status: metav1.ConditionUnknown,
		Reason: ReasonBuildPending, Message: sampleHeldMessage, LastTransitionTime: sampleStart,
	}}
	return job
}

// sampleHeldMessage is what a held build says, and what sampleObservation's pending build says.
const sampleHeldMessage = "exceeded quota: compute-resources"

func buildCompleteJob() *v1alpha1.NotebookValidationJob {
	job := buildingJob(v1alpha1.BuildStrategyTekton)
	job.Status.Phase = v1alpha1.PhaseBuildComplete
	bs := job.Status.BuildStatus
	bs.Phase, bs.ImageReference, bs.CompletionTime = v1alpha1.BuildPhaseComplete, sampleBuiltImage, &sampleStart
	return job
}

func validatingJob(phase string) *v1alpha1.NotebookValidationJob {
	job := sampleJob(phase, "")
	job.Status.ValidationPodName = PodName(job, 0)
	job.Status.Conditions = []metav1.Condition{{
		Type: v1alpha1.ConditionValidationComplete, Status: metav1.ConditionUnknown,
		Reason: ReasonValidationStarted, LastTransitionTime: sampleStart,
	}}
	return job
}

// sampleObservation is a typical observation of kind about job, at sampleNow. Pod
// observations name the job's current pod, so they are never stale.
func sampleObservation(job *v1alpha1.NotebookValidationJob, kind Kind) Observation {
	obs := Observation{Kind: kind, Now: sampleNow}
	switch kind {
	case BuildPending:
		obs.BuildName, obs.Message = BuildName(job), sampleHeldMessage
	case BuildRunning:
		obs.BuildName = BuildName(job)
	case BuildSucceeded, ExternalBuildSucceeded:
		obs.BuildName, obs.Image, obs.BuildCompleted = BuildName(job), sampleBuiltImage, &sampleNow
	case BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed, ExternalBuildFailed:
		obs.Reason, obs.Message, obs.BuildCompleted = "Failed", "step build exited with code 1", &sampleNow
	case PodPending, PodRunning, PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed:
		obs.PodName = job.Status.ValidationPodName
		if obs.PodName == "" {
			obs.PodName = PodName(job, job.Status.RetryCount)
		}
	}
	switch kind {
	case PodSucceeded:
		obs.Results = []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}}
	case PodFailed:
		obs.Results = []v1alpha1.CellResult{
			{CellIndex: 0, Status: v1alpha1.CellStatusSuccess},
			{CellIndex: 1, Status: v1alpha1.CellStatusFailure, ErrorMessage: "ZeroDivisionError: division by zero"},
		}
	case PodInfraFailed:
		obs.Reason, obs.Message = "ImagePullBackOff", "image could not be pulled"
	case PodStartFailed:
		obs.Message = `spec.podConfig.resources.limits["memory"]: "lots" is not a quantity`
	case PodTimedOut:
		obs.Reason = "DeadlineExceeded"
	case JobSeen:
		obs.Reuse = sampleReuseCheck(job)
		if AwaitsModels(job) {
			obs.Models = sampleModelCheck(job)
			if len(obs.Models.Waiting) > 0 {
				obs.Message = obs.Models.Message
			}
		}
	}
	return obs
}

// sampleModelCheck reads the job's one target as internal/modelready would: ready unless it
// is sampleUnreadyModel.
func sampleModelCheck(job *v1alpha1.NotebookValidationJob) *ModelCheck {
	target := job.Namespace + "/" + job.Spec.ModelValidation.TargetModels[0]
	check := &ModelCheck{Result: v1alpha1.ModelValidationResult{Phase: "both", Platform: "kserve", PlatformDetected: true, Success: true, Message: "all 1 target model(s) ready"}}
	if job.Spec.ModelValidation.TargetModels[0] == sampleUnreadyModel {
		check.Waiting = []string{target}
		check.Message = "waiting for target model " + target + ": InferenceService Ready condition is False"
		check.Result.Success, check.Result.Message = false, check.Message
	}
	return check
}

// reuseJob is a job in phase that asks for reuse and pins every input; sampleReuseCheck finds
// for it an earlier run with the same inputs that ended in earlier (Succeeded or Failed).
func reuseJob(phase, earlier string) *v1alpha1.NotebookValidationJob {
	job := sampleJob(phase, "")
	job.Annotations = map[string]string{v1alpha1.AnnotationReuse: "true", sampleEarlierPhase: earlier}
	job.Spec.Notebook.Git = v1alpha1.GitSpec{URL: "https://git.example/ml/nb.git", Ref: sampleCommit}
	job.Spec.PodConfig.ContainerImage = sampleBuiltImage
	return job
}

// sampleEarlierPhase is the samples' own annotation: the phase their earlier run ended in.
const sampleEarlierPhase = "sample.test/earlier-phase"

// sampleReuseCheck looks for an earlier run as job-created would, for a reuseJob (nil for
// any other job): the one job listed by its key ended in the phase the sample names.
func sampleReuseCheck(job *v1alpha1.NotebookValidationJob) *ReuseCheck {
	earlier, ok := job.Annotations[sampleEarlierPhase]
	if !ok {
		return nil
	}
	key, err := reuse.Key(job, sampleRunner)
	if err != nil {
		return &ReuseCheck{NotReusable: err.Error()}
	}
	return &ReuseCheck{Key: key, Runs: []v1alpha1.NotebookValidationJob{*sampleEarlierRun(job, key, earlier)}}
}

// sampleEarlierRun is a job that ran with key before job and ended in phase with the
// notebook's verdict and an artifact.
func sampleEarlierRun(job *v1alpha1.NotebookValidationJob, key *v1alpha1.ReuseKey, phase string) *v1alpha1.NotebookValidationJob {
	run := job.DeepCopy()
	run.Name, run.UID = "nb-yesterday", "0f6e7d8c-0000-4000-8000-000000000001"
	reason, status, message := ReasonNotebookSucceeded, metav1.ConditionTrue, "notebook passed: 1 of 1 cells succeeded"
	if phase == v1alpha1.PhaseFailed {
		reason, status, message = ReasonNotebookFailed, metav1.ConditionFalse, "notebook failed: cell 1 failed: ZeroDivisionError: division by zero"
	}
	run.Status = v1alpha1.NotebookValidationJobStatus{
		Phase: phase, Message: message, StartTime: &sampleStart, CompletionTime: &sampleStart,
		ValidationPodName: PodName(run, 0), ReuseKey: key.DeepCopy(),
		Results:    []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}},
		Artifact:   &v1alpha1.ArtifactStatus{Reference: sampleArtifact, Files: []string{"executed.ipynb"}},
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: message, LastTransitionTime: sampleStart}},
	}
	return run
}
