package statemachine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/kmeta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Decide makes at most one transition of job given what a function observed. It never
// mutates job. An observation without a time (obs.Now zero) or a nil job changes nothing,
// because every transition records a time and Decide must not read the clock; nor does one
// without a kind (a function that observed nothing).
func Decide(job *v1alpha1.NotebookValidationJob, obs Observation) Decision {
	if job == nil {
		return Decision{}
	}
	t := &transition{job: job, obs: obs, st: *job.Status.DeepCopy()}
	if obs.Now.IsZero() || obs.Kind == "" {
		return t.unchanged()
	}
	switch job.Status.Phase {
	case v1alpha1.PhaseNone:
		if obs.Kind == JobSeen {
			return t.initialize()
		}
	case v1alpha1.PhaseInitializing, v1alpha1.PhasePending:
		return t.decideInitializing()
	case v1alpha1.PhaseBuilding:
		return t.decideBuilding()
	case v1alpha1.PhaseBuildComplete:
		return t.decideBuildComplete()
	case v1alpha1.PhaseValidationRunning:
		return t.decideValidationRunning()
	case v1alpha1.PhaseRunning:
		if !isPodProgress(obs.Kind) {
			return t.migrateRunning()
		}
	}
	// Succeeded and Failed absorb everything; unknown phases are left for a human.
	return t.unchanged()
}

// Terminal reports whether phase is Succeeded or Failed, which absorb every observation.
func Terminal(phase string) bool {
	return phase == v1alpha1.PhaseSucceeded || phase == v1alpha1.PhaseFailed
}

// PodName names the validation pod of job's attempt. Every child name carries a short hash of
// the job's UID (childSuffix), so a job re-created under the same name never meets the
// children of the one before it, which may still exist until the garbage collector runs.
func PodName(job *v1alpha1.NotebookValidationJob, attempt int) string {
	if attempt == 0 {
		return kmeta.ChildName(job.Name, childSuffix(job, "validation"))
	}
	return kmeta.ChildName(job.Name, childSuffix(job, fmt.Sprintf("validation-%d", attempt)))
}

// BuildName names job's build child (PipelineRun, or OpenShift BuildConfig and Build).
func BuildName(job *v1alpha1.NotebookValidationJob) string {
	return kmeta.ChildName(job.Name, childSuffix(job, "build"))
}

// childSuffix is "-<uid hash>-<what>". kmeta.ChildName keeps the suffix whole and shortens
// (with a hash) only a job name too long to fit in 63 characters with it.
func childSuffix(job *v1alpha1.NotebookValidationJob, what string) string {
	sum := sha256.Sum256([]byte(job.UID))
	return "-" + hex.EncodeToString(sum[:3]) + "-" + what
}

// BuildEnabled reports whether the job asks for an image build before validation.
func BuildEnabled(job *v1alpha1.NotebookValidationJob) bool {
	bc := job.Spec.PodConfig.BuildConfig
	return bc != nil && bc.Enabled
}

// transition carries one decision in progress: st is a deep copy of the job's status.
type transition struct {
	job *v1alpha1.NotebookValidationJob
	obs Observation
	st  v1alpha1.NotebookValidationJobStatus
}

func (t *transition) now() *metav1.Time {
	now := t.obs.Now
	return &now
}

// unchanged returns the job's status as it was, even if t.st was already edited.
func (t *transition) unchanged() Decision {
	return Decision{Status: *t.job.Status.DeepCopy()}
}

// move records phase, message and the Ready condition (True once succeeded, False once
// failed, Unknown before) and returns a decision that writes the status. A terminal phase
// also settles ValidationComplete the same way, as the existing operator does (True on
// Succeeded, False on Failed, whatever failed), so `kubectl wait
// --for=condition=ValidationComplete` waits for a passing notebook.
func (t *transition) move(phase, reason, message string) Decision {
	t.st.Phase = phase
	t.st.Message = message
	t.st.ObservedGeneration = t.job.Generation
	ready := metav1.ConditionUnknown
	switch phase {
	case v1alpha1.PhaseSucceeded:
		ready = metav1.ConditionTrue
	case v1alpha1.PhaseFailed:
		ready = metav1.ConditionFalse
	}
	t.setCondition(v1alpha1.ConditionReady, ready, reason, message)
	if ready != metav1.ConditionUnknown {
		t.setCondition(v1alpha1.ConditionValidationComplete, ready, reason, message)
	}
	return Decision{Status: t.st, Changed: true, Reason: reason}
}

func (t *transition) succeed(reason, message string) Decision {
	t.st.CompletionTime = t.now()
	return t.move(v1alpha1.PhaseSucceeded, reason, message)
}

func (t *transition) fail(reason, message string) Decision {
	t.st.CompletionTime = t.now()
	return t.move(v1alpha1.PhaseFailed, reason, message)
}

// timeOut fails the job because the sweep found its deadline passed, and asks the caller to
// delete whatever children may still run.
func (t *transition) timeOut(reason, message string) Decision {
	d := t.fail(reason, message)
	d.Effect = EffectDeleteChildren
	return d
}

func (t *transition) initialize() Decision {
	if t.st.StartTime == nil {
		t.st.StartTime = t.now()
	}
	return t.move(v1alpha1.PhaseInitializing, ReasonInitialized, "job accepted; deciding whether to build an image first")
}

func (t *transition) decideInitializing() Decision {
	switch t.obs.Kind {
	case JobSeen:
		if AwaitsModels(t.job) {
			return t.startAfterModels()
		}
		return t.start()
	case BuildStartFailed:
		if strategy := BuildStrategy(t.job); BuildEnabled(t.job) && (strategy == v1alpha1.BuildStrategyS2I || strategy == v1alpha1.BuildStrategyTekton) {
			return t.failBuildStart("the " + strategy + " build")
		}
	case PodStartFailed:
		if !BuildEnabled(t.job) {
			return t.failPodStart()
		}
	case DeadlinePassed:
		if deadline, ok := modelDeadline(t.job); ok && !t.obs.Now.Time.Before(deadline) {
			return t.stopWaitingForModels()
		}
		return t.timeOut(ReasonTimeout, "the job did not start within "+validationTimeout(t.job).String())
	}
	return t.unchanged()
}

// start leaves Initializing (or legacy Pending): build first, or validate right away.
func (t *transition) start() Decision {
	if t.st.StartTime == nil {
		t.st.StartTime = t.now()
	}
	if d, decided := t.reuseBeforeStart(); decided {
		return d
	}
	if !BuildEnabled(t.job) {
		return t.startValidation(t.job.Spec.PodConfig.ContainerImage, "spec.podConfig.containerImage is empty")
	}
	strategy := BuildStrategy(t.job)
	switch strategy {
	case v1alpha1.BuildStrategyExternal:
		message := "waiting for external CI to report the build"
		t.st.BuildStatus = &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhasePending, Strategy: strategy, StartTime: t.now(), Message: message}
		t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionUnknown, ReasonAwaitingExternalBuild, message)
		return t.move(v1alpha1.PhaseBuilding, ReasonAwaitingExternalBuild, message)
	case v1alpha1.BuildStrategyS2I, v1alpha1.BuildStrategyTekton:
		name := BuildName(t.job)
		message := fmt.Sprintf("starting %s build %s", strategy, name)
		t.st.BuildStatus = &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhasePending, BuildName: name, Strategy: strategy, StartTime: t.now(), Message: message}
		t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionUnknown, ReasonBuildStarted, message)
		d := t.move(v1alpha1.PhaseBuilding, ReasonBuildStarted, message)
		d.Effect = EffectCreateBuild
		return d
	}
	return t.failBuild(ReasonUnsupportedStrategy, fmt.Sprintf(
		"build strategy %q is not supported by this controller; use tekton, s2i or external", strategy))
}

// startValidation enters ValidationRunning and asks for the validation pod of the current attempt.
func (t *transition) startValidation(image, missingImage string) Decision {
	if image == "" {
		return t.fail(ReasonImageMissing, "cannot start validation: "+missingImage)
	}
	name := PodName(t.job, t.st.RetryCount)
	t.st.ValidationPodName = name
	message := fmt.Sprintf("validating the notebook in pod %s with image %s", name, image)
	t.setCondition(v1alpha1.ConditionValidationComplete, metav1.ConditionUnknown, ReasonValidationStarted, message)
	d := t.move(v1alpha1.PhaseValidationRunning, ReasonValidationStarted, message)
	d.Effect, d.PodName, d.Image = EffectCreateValidationPod, name, image
	return d
}

func (t *transition) decideBuildComplete() Decision {
	switch t.obs.Kind {
	case JobSeen:
		image := ""
		if bs := t.st.BuildStatus; bs != nil {
			image = bs.ImageReference
		}
		return t.startValidation(image, "the build recorded no image")
	case PodStartFailed:
		return t.failPodStart()
	case DeadlinePassed:
		return t.timeOut(ReasonTimeout, "validation did not start within "+validationTimeout(t.job).String()+" of the build completing")
	}
	return t.unchanged()
}

// failPodStart fails the job because its validation pod could not be created: retrying the
// same spec cannot help. The reason says why (startFailure).
func (t *transition) failPodStart() Decision {
	reason, message := t.startFailure("the validation pod", ReasonPodStartFailed, ReasonPodRejected)
	return t.fail(reason, message)
}

// failBuildStart fails the job because its build child could not be created.
func (t *transition) failBuildStart(child string) Decision {
	reason, message := t.startFailure(child, ReasonBuildStartFailed, ReasonBuildRejected)
	return t.failBuild(reason, message)
}

// startFailure is the reason and message of a child that could not be created, by why: a
// spec found invalid before any API call (invalid), refused by the API server (rejected), a
// name held by an object the job does not control, or a spec whose author may not use what
// it references.
func (t *transition) startFailure(child, invalid, rejected string) (string, string) {
	switch t.obs.StartFailure {
	case StartRejected:
		return rejected, "the API server refused " + child + detail(t.obs)
	case StartNameTaken:
		return ReasonChildNameTaken, "cannot create " + child + ": its name is taken by an object this job does not control" + detail(t.obs)
	case StartNotPermitted:
		return ReasonNotPermitted, "did not create " + child + ": " + t.obs.Message
	}
	return invalid, "could not create " + child + detail(t.obs)
}

// migrateRunning moves the legacy Running phase into the machine, keeping every recorded field.
func (t *transition) migrateRunning() Decision {
	if t.st.StartTime == nil {
		t.st.StartTime = t.now()
	}
	if t.st.ValidationPodName == "" {
		message := "migrated from legacy phase Running with no validation pod recorded; starting over"
		return t.move(v1alpha1.PhaseInitializing, ReasonMigrated, message)
	}
	message := "migrated from legacy phase Running; following validation pod " + t.st.ValidationPodName
	return t.move(v1alpha1.PhaseValidationRunning, ReasonMigrated, message)
}

// detail renders what the observer reported as " (Reason): Message", omitting empty parts.
func detail(obs Observation) string {
	s := ""
	if obs.Reason != "" {
		s = " (" + obs.Reason + ")"
	}
	if obs.Message != "" {
		s += ": " + obs.Message
	}
	return s
}
