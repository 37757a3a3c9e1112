package statemachine

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// at is sampleStart plus d.
func at(d time.Duration) metav1.Time { return metav1.NewTime(sampleStart.Add(d)) }

// apply decides and, like a caller, writes a changed status back to the job.
func apply(job *v1alpha1.NotebookValidationJob, obs Observation) Decision {
	d := Decide(job, obs)
	if d.Changed {
		job.Status = d.Status
	}
	return d
}

// condition returns the status, reason and transition time of a condition ("" when absent).
func condition(st v1alpha1.NotebookValidationJobStatus, conditionType string) (metav1.ConditionStatus, string, metav1.Time) {
	c := meta.FindStatusCondition(st.Conditions, conditionType)
	if c == nil {
		return "", "", metav1.Time{}
	}
	return c.Status, c.Reason, c.LastTransitionTime
}

func wantCondition(t *testing.T, st v1alpha1.NotebookValidationJobStatus, conditionType string, status metav1.ConditionStatus, reason string, since metav1.Time) {
	t.Helper()
	gotStatus, gotReason, gotSince := condition(st, conditionType)
	if gotStatus != status || gotReason != reason || !gotSince.Equal(&since) {
		t.Errorf("%s = %s/%s since %v; want %s/%s since %v", conditionType, gotStatus, gotReason, gotSince, status, reason, since)
	}
}

func TestHappyPathWithBuildSetsConditionsAndFields(t *testing.T) {
	job := sampleJob(v1alpha1.PhaseNone, v1alpha1.BuildStrategyTekton)

	d := apply(job, Observation{Kind: JobSeen, Now: at(0)})
	if d.Status.Phase != v1alpha1.PhaseInitializing || !d.Status.StartTime.Equal(ptr(at(0))) || d.Status.ObservedGeneration != 2 {
		t.Fatalf("JobSeen on a new job: got %+v", d.Status)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionReady, metav1.ConditionUnknown, ReasonInitialized, at(0))

	d = apply(job, Observation{Kind: JobSeen, Now: at(time.Second)})
	bs := d.Status.BuildStatus
	if d.Effect != EffectCreateBuild || bs == nil || bs.BuildName != BuildName(job) || bs.Strategy != "tekton" ||
		bs.Phase != v1alpha1.BuildPhasePending || !bs.StartTime.Equal(ptr(at(time.Second))) {
		t.Fatalf("Initializing with a tekton build: effect %q buildStatus %+v", d.Effect, bs)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionBuildReady, metav1.ConditionUnknown, ReasonBuildStarted, at(time.Second))

	if d = apply(job, Observation{Kind: BuildRunning, Now: at(time.Minute), BuildName: BuildName(job)}); d.Changed {
		t.Fatalf("a build running as the job says it started must write nothing: %+v", d)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionBuildReady, metav1.ConditionUnknown, ReasonBuildStarted, at(time.Second))

	built := at(6 * time.Minute)
	d = apply(job, Observation{Kind: BuildSucceeded, Now: at(7 * time.Minute), Image: sampleBuiltImage,
		BuildStarted: ptr(at(30 * time.Second)), BuildCompleted: &built})
	bs = d.Status.BuildStatus
	if d.Status.Phase != v1alpha1.PhaseBuildComplete || bs.ImageReference != sampleBuiltImage ||
		bs.Phase != v1alpha1.BuildPhaseComplete || !bs.CompletionTime.Equal(&built) || bs.Duration != "5m30s" {
		t.Fatalf("BuildSucceeded: phase %q buildStatus %+v", d.Status.Phase, bs)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionBuildReady, metav1.ConditionTrue, ReasonBuildSucceeded, at(7*time.Minute))

	d = apply(job, Observation{Kind: JobSeen, Now: at(8 * time.Minute)})
	if d.Effect != EffectCreateValidationPod || d.PodName != PodName(job, 0) || d.Image != sampleBuiltImage {
		t.Fatalf("BuildComplete must validate in the built image: %q %q %q", d.Effect, d.PodName, d.Image)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionValidationComplete, metav1.ConditionUnknown, ReasonValidationStarted, at(8*time.Minute))

	if d = apply(job, Observation{Kind: PodRunning, Now: at(9 * time.Minute), PodName: PodName(job, 0)}); d.Changed {
		t.Fatalf("PodRunning for the recorded pod must write nothing: %+v", d)
	}

	comparison := &v1alpha1.ComparisonResult{Strategy: "exact", Result: "matched", TotalCells: 1, MatchedCells: 1}
	d = apply(job, Observation{Kind: PodSucceeded, Now: at(10 * time.Minute), PodName: PodName(job, 0),
		Results: []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}}, Comparison: comparison})
	if d.Status.Phase != v1alpha1.PhaseSucceeded || len(d.Status.Results) != 1 || d.Status.ComparisonResult.Result != "matched" ||
		!d.Status.CompletionTime.Equal(ptr(at(10*time.Minute))) || d.Status.Message != "notebook passed: 1 of 1 cells succeeded" {
		t.Fatalf("PodSucceeded: %+v", d.Status)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionValidationComplete, metav1.ConditionTrue, ReasonNotebookSucceeded, at(10*time.Minute))
	wantCondition(t, job.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonNotebookSucceeded, at(10*time.Minute))
	wantCondition(t, job.Status, v1alpha1.ConditionBuildReady, metav1.ConditionTrue, ReasonBuildSucceeded, at(7*time.Minute))
}

func ptr(t metav1.Time) *metav1.Time { return &t }

func TestInfraFailuresRetryUpToMaxThenFail(t *testing.T) {
	job := buildCompleteJob()
	apply(job, Observation{Kind: JobSeen, Now: at(time.Minute)})
	seen := map[string]bool{job.Status.ValidationPodName: true}
	for attempt := 1; attempt <= MaxInfraRetries; attempt++ {
		now := at(time.Duration(attempt+1) * time.Minute)
		d := apply(job, Observation{Kind: PodInfraFailed, Now: now, PodName: job.Status.ValidationPodName,
			Reason: "Evicted", Message: "node ran out of memory"})
		if d.Status.Phase != v1alpha1.PhaseValidationRunning || d.Effect != EffectCreateValidationPod ||
			d.Status.RetryCount != attempt || d.PodName != PodName(job, attempt) || d.Image != sampleBuiltImage ||
			!d.Status.LastRetryTime.Equal(&now) || d.Reason != ReasonValidationRetried {
			t.Fatalf("retry %d: %+v", attempt, d)
		}
		if seen[d.PodName] {
			t.Fatalf("retry %d reuses pod name %s", attempt, d.PodName)
		}
		seen[d.PodName] = true
		if !strings.Contains(d.Status.Message, "node ran out of memory") || !strings.Contains(d.Status.Message, d.PodName) {
			t.Errorf("retry message must explain the failure and name the new pod: %q", d.Status.Message)
		}
	}
	d := apply(job, Observation{Kind: PodInfraFailed, Now: at(time.Hour), PodName: job.Status.ValidationPodName, Message: "image pull failed"})
	if d.Status.Phase != v1alpha1.PhaseFailed || d.Effect != EffectNone || d.Reason != ReasonInfrastructureFailed ||
		!strings.Contains(d.Status.Message, "image pull failed") || d.Status.RetryCount != MaxInfraRetries {
		t.Fatalf("after %d retries the job must fail: %+v", MaxInfraRetries, d)
	}
	wantCondition(t, job.Status, v1alpha1.ConditionValidationComplete, metav1.ConditionFalse, ReasonInfrastructureFailed, at(time.Hour))
}

func TestStalePodObservationsAreIgnored(t *testing.T) {
	job := validatingJob(v1alpha1.PhaseValidationRunning)
	first := job.Status.ValidationPodName
	apply(job, Observation{Kind: PodInfraFailed, Now: at(time.Minute), PodName: first})
	for _, kind := range podKinds {
		for _, name := range []string{first, ""} {
			if d := Decide(job, Observation{Kind: kind, Now: at(2 * time.Minute), PodName: name}); d.Changed {
				t.Errorf("%s for pod %q (current %s) must change nothing; got %+v", kind, name, job.Status.ValidationPodName, d.Status)
			}
		}
	}
}

func TestJobWithoutRecordedPodAdoptsTheFirstOutcome(t *testing.T) {
	job := validatingJob(v1alpha1.PhaseValidationRunning)
	job.Status.ValidationPodName = ""
	if d := Decide(job, Observation{Kind: PodRunning, Now: at(time.Minute), PodName: PodName(job, 0)}); d.Changed {
		t.Fatalf("a pod's progress must write nothing, even to adopt it: %+v", d)
	}
	d := apply(job, Observation{Kind: PodInfraFailed, Now: at(time.Minute), PodName: PodName(job, 0)})
	if !d.Changed || d.Status.ValidationPodName != PodName(job, 1) || d.Status.RetryCount != 1 {
		t.Fatalf("the outcome of a pod must adopt it and decide: %+v", d)
	}
	if d = Decide(job, Observation{Kind: PodFailed, Now: at(2 * time.Minute), PodName: PodName(job, 0)}); d.Changed {
		t.Fatalf("once adopted and replaced, the first pod is stale")
	}
}

func TestBuildProgressWritesOnlyWhatTheJobDoesNotShow(t *testing.T) {
	job := buildingJob(v1alpha1.BuildStrategyTekton)
	steps := []struct {
		kind    Kind
		message string
		changed bool
	}{
		{BuildRunning, "", false}, // as the job says: started
		{BuildPending, "", false}, // nothing of its own to say
		{BuildPending, "waiting for a node", true},
		{BuildPending, "waiting for a node", false},
		{BuildPending, "exceeded quota", true},
		{BuildRunning, "", true},  // held no more
		{BuildRunning, "", false}, // running already recorded
		{BuildRunning, "step build", false},
	}
	for i, step := range steps {
		d := apply(job, Observation{Kind: step.kind, Now: at(time.Duration(i) * time.Minute), BuildName: BuildName(job), Message: step.message})
		if d.Changed != step.changed {
			t.Fatalf("step %d (%s %q): changed %v, want %v", i, step.kind, step.message, d.Changed, step.changed)
		}
		if d.Changed && step.message != "" && (job.Status.BuildStatus.Message != step.message || job.Status.Message != step.message) {
			t.Fatalf("step %d: build message %q, job message %q; want %q", i, job.Status.BuildStatus.Message, job.Status.Message, step.message)
		}
	}
}

func TestBuildFailuresSayWhatHappened(t *testing.T) {
	cases := []struct {
		strategy string
		kind     Kind
		reason   string
		words    string
		effect   Effect
	}{
		{v1alpha1.BuildStrategyTekton, BuildFailed, ReasonBuildFailed, "failed", EffectNone},
		{v1alpha1.BuildStrategyTekton, BuildCancelled, ReasonBuildCancelled, "was cancelled", EffectNone},
		{v1alpha1.BuildStrategyS2I, BuildTimedOut, ReasonBuildTimeout, "timed out after 15m0s", EffectNone},
		{v1alpha1.BuildStrategyS2I, BuildStartFailed, ReasonBuildStartFailed, "could not create", EffectNone},
		{v1alpha1.BuildStrategyExternal, ExternalBuildFailed, ReasonBuildFailed, "external CI reported", EffectNone},
		{v1alpha1.BuildStrategyExternal, DeadlinePassed, ReasonBuildTimeout, "external CI never reported the build's result within 15m0s", EffectDeleteChildren},
		{v1alpha1.BuildStrategyTekton, DeadlinePassed, ReasonBuildTimeout, "the build did not finish within 15m0s", EffectDeleteChildren},
	}
	for _, c := range cases {
		t.Run(c.strategy+"/"+string(c.kind), func(t *testing.T) {
			job := buildingJob(c.strategy)
			obs := sampleObservation(job, c.kind)
			d := Decide(job, obs)
			bs := d.Status.BuildStatus
			if d.Status.Phase != v1alpha1.PhaseFailed || d.Reason != c.reason || d.Effect != c.effect || bs.Phase != v1alpha1.BuildPhaseFailed {
				t.Fatalf("got phase %q reason %q effect %q build phase %q", d.Status.Phase, d.Reason, d.Effect, bs.Phase)
			}
			if !strings.Contains(d.Status.Message, c.words) || bs.Message != d.Status.Message {
				t.Errorf("message %q (build %q) must say %q", d.Status.Message, bs.Message, c.words)
			}
			if c.kind != DeadlinePassed && (!strings.Contains(d.Status.Message, obs.Message) || bs.Reason != obs.Reason) {
				t.Errorf("the build system's words must be kept: message %q reason %q", d.Status.Message, bs.Reason)
			}
			wantCondition(t, d.Status, v1alpha1.ConditionBuildReady, metav1.ConditionFalse, c.reason, obs.Now)
		})
	}
}

func TestBuildSucceededWithoutImageFails(t *testing.T) {
	for _, strategy := range []string{v1alpha1.BuildStrategyTekton, v1alpha1.BuildStrategyExternal} {
		job := buildingJob(strategy)
		kind := BuildSucceeded
		if strategy == v1alpha1.BuildStrategyExternal {
			kind = ExternalBuildSucceeded
		}
		d := Decide(job, Observation{Kind: kind, Now: sampleNow})
		if d.Status.Phase != v1alpha1.PhaseFailed || d.Reason != ReasonImageMissing ||
			!strings.Contains(d.Status.Message, "succeeded but reported no image") {
			t.Errorf("%s without image: phase %q reason %q message %q", kind, d.Status.Phase, d.Reason, d.Status.Message)
		}
	}
}

func TestStrategyChoice(t *testing.T) {
	external := Decide(sampleJob(v1alpha1.PhaseInitializing, v1alpha1.BuildStrategyExternal), Observation{Kind: JobSeen, Now: sampleNow})
	if bs := external.Status.BuildStatus; bs.Message != "waiting for external CI to report the build" || bs.Strategy != "external" || bs.BuildName != "" {
		t.Errorf("external build status: %+v", bs)
	}
	for _, strategy := range []string{v1alpha1.BuildStrategyKaniko, v1alpha1.BuildStrategyShipwright, v1alpha1.BuildStrategyCustom} {
		d := Decide(sampleJob(v1alpha1.PhaseInitializing, strategy), Observation{Kind: JobSeen, Now: sampleNow})
		if d.Reason != ReasonUnsupportedStrategy || !strings.Contains(d.Status.Message, strategy) ||
			!strings.Contains(d.Status.Message, "not supported") || !strings.Contains(d.Status.Message, "use tekton, s2i or external") {
			t.Errorf("%s: reason %q message %q", strategy, d.Reason, d.Status.Message)
		}
		wantCondition(t, d.Status, v1alpha1.ConditionBuildReady, metav1.ConditionFalse, ReasonUnsupportedStrategy, sampleNow)
	}
	disabled := sampleJob(v1alpha1.PhaseInitializing, v1alpha1.BuildStrategyTekton)
	disabled.Spec.PodConfig.BuildConfig.Enabled = false
	if d := Decide(disabled, Observation{Kind: JobSeen, Now: sampleNow}); d.Status.Phase != v1alpha1.PhaseValidationRunning || d.Image != sampleSpecImage {
		t.Errorf("a disabled build must validate the spec image: phase %q image %q", d.Status.Phase, d.Image)
	}
}

func TestPodFailedNamesTheFailingCell(t *testing.T) {
	job := validatingJob(v1alpha1.PhaseValidationRunning)
	obs := sampleObservation(job, PodFailed)
	d := Decide(job, obs)
	if d.Status.Message != "notebook failed: cell 1 failed: ZeroDivisionError: division by zero" {
		t.Errorf("fallback message: %q", d.Status.Message)
	}
	wantCondition(t, d.Status, v1alpha1.ConditionValidationComplete, metav1.ConditionFalse, ReasonNotebookFailed, sampleNow)
	obs.Results[1].ErrorMessage = "changed after the decision"
	if d.Status.Results[1].ErrorMessage != "ZeroDivisionError: division by zero" {
		t.Errorf("the decision shares memory with the observation's results")
	}
	obs.Message = "cell 3 raised KeyError: 'x'"
	if d = Decide(job, obs); d.Status.Message != obs.Message {
		t.Errorf("the caller's message must win: %q", d.Status.Message)
	}
}

func TestLegacyPhasesMigrate(t *testing.T) {
	pending := sampleJob(v1alpha1.PhasePending, "")
	pending.Status.StartTime = nil
	d := Decide(pending, Observation{Kind: JobSeen, Now: sampleNow})
	if d.Status.Phase != v1alpha1.PhaseValidationRunning || !d.Status.StartTime.Equal(&sampleNow) {
		t.Errorf("legacy Pending: phase %q startTime %v", d.Status.Phase, d.Status.StartTime)
	}
	running := validatingJob(v1alpha1.PhaseRunning)
	running.Status.Results = []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}}
	d = Decide(running, sampleObservation(running, PodSucceeded))
	if d.Status.Phase != v1alpha1.PhaseValidationRunning || d.Effect != EffectNone || d.Reason != ReasonMigrated ||
		len(d.Status.Results) != 1 || d.Status.ValidationPodName != running.Status.ValidationPodName {
		t.Errorf("legacy Running must migrate, keeping its fields, before any pod observation applies: %+v", d)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	if d := Decide(nil, Observation{Kind: JobSeen, Now: sampleNow}); d.Changed || d.Effect != EffectNone {
		t.Errorf("nil job: %+v", d)
	}
	job := sampleJob(v1alpha1.PhaseNone, "")
	if d := Decide(job, Observation{Kind: JobSeen}); d.Changed || !equality.Semantic.DeepEqual(d.Status, job.Status) {
		t.Errorf("an observation without a time must change nothing: %+v", d)
	}
	for _, phase := range AllPhases {
		for _, s := range samples(phase) {
			if d := Decide(s.job, Observation{Now: sampleNow}); d.Changed {
				t.Errorf("an observation without a kind must change nothing (%s, %s): %+v", phase, s.guard, d)
			}
		}
	}
	job.Status.Phase = "Bogus"
	if d := Decide(job, Observation{Kind: JobSeen, Now: sampleNow}); d.Changed {
		t.Errorf("an unknown phase must change nothing: %+v", d)
	}
}

func TestChildNames(t *testing.T) {
	job := sampleJob(v1alpha1.PhaseNone, "")
	for _, c := range []struct{ got, want string }{
		{PodName(job, 0), "nb-682571-validation"},
		{PodName(job, 2), "nb-682571-validation-2"},
		{BuildName(job), "nb-682571-build"},
	} {
		if c.got != c.want {
			t.Errorf("child name %q, want %q", c.got, c.want)
		}
	}
	again := job.DeepCopy()
	again.UID = "a-new-incarnation"
	if PodName(again, 0) == PodName(job, 0) || BuildName(again) == BuildName(job) {
		t.Errorf("a job re-created under the same name must not reuse its children's names")
	}
	long := sampleJob(v1alpha1.PhaseNone, "")
	long.Name = strings.Repeat("n", 253)
	names := map[string]bool{BuildName(long): true}
	for attempt := 0; attempt <= MaxInfraRetries; attempt++ {
		names[PodName(long, attempt)] = true
	}
	for name := range names {
		if len(name) > 63 {
			t.Errorf("child name %q is longer than 63", name)
		}
	}
	if len(names) != MaxInfraRetries+2 {
		t.Errorf("child names of a long job collide: %v", names)
	}
	longAgain := long.DeepCopy()
	longAgain.UID = "a-new-incarnation"
	if PodName(longAgain, 0) == PodName(long, 0) {
		t.Errorf("a long job re-created under the same name reuses its pod name %s", PodName(long, 0))
	}
}

// TestStartFailuresSayWhatWasRefused: a child that cannot be created fails the job with a
// reason saying why, in every phase and build strategy that creates one.
func TestStartFailuresSayWhatWasRefused(t *testing.T) {
	type start struct {
		job  *v1alpha1.NotebookValidationJob
		kind Kind
	}
	starts := map[string]start{
		"no build, Initializing":     {sampleJob(v1alpha1.PhaseInitializing, ""), PodStartFailed},
		"no build, legacy Pending":   {sampleJob(v1alpha1.PhasePending, ""), PodStartFailed},
		"built image, BuildComplete": {buildCompleteJob(), PodStartFailed},
		"retry, ValidationRunning":   {validatingJob(v1alpha1.PhaseValidationRunning), PodStartFailed},
		"tekton, Initializing":       {sampleJob(v1alpha1.PhaseInitializing, v1alpha1.BuildStrategyTekton), BuildStartFailed},
		"s2i, Building":              {buildingJob(v1alpha1.BuildStrategyS2I), BuildStartFailed},
	}
	reasons := map[Kind]map[StartFailure]string{
		PodStartFailed:   {StartInvalid: ReasonPodStartFailed, StartRejected: ReasonPodRejected, StartNameTaken: ReasonChildNameTaken, StartNotPermitted: ReasonNotPermitted},
		BuildStartFailed: {StartInvalid: ReasonBuildStartFailed, StartRejected: ReasonBuildRejected, StartNameTaken: ReasonChildNameTaken, StartNotPermitted: ReasonNotPermitted},
	}
	for name, s := range starts {
		for _, failure := range AllStartFailures {
			t.Run(name+"/"+string(failure), func(t *testing.T) {
				obs := sampleObservation(s.job, s.kind)
				obs.Reason, obs.StartFailure = "", failure
				obs.Message = `Pod "x" is invalid: spec.containers[0].image: Invalid value: "quay.io/x:latest ": must not have leading or trailing whitespace`
				d := Decide(s.job, obs)
				want := reasons[s.kind][failure]
				if d.Status.Phase != v1alpha1.PhaseFailed || d.Reason != want || d.Effect != EffectNone {
					t.Fatalf("got phase %q reason %q effect %q; want Failed %s", d.Status.Phase, d.Reason, d.Effect, want)
				}
				if !strings.Contains(d.Status.Message, obs.Message) {
					t.Errorf("message %q does not carry the API server's words", d.Status.Message)
				}
				wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, want, obs.Now)
				if s.kind == BuildStartFailed {
					if bs := d.Status.BuildStatus; bs.Phase != v1alpha1.BuildPhaseFailed || bs.Reason != want {
						t.Errorf("buildStatus %+v, want Failed with reason %s", bs, want)
					}
				}
			})
		}
	}
}

func TestConditionMessageStaysWithinTheSchemaLimit(t *testing.T) {
	job := validatingJob(v1alpha1.PhaseValidationRunning)
	obs := sampleObservation(job, PodFailed)
	obs.Message = strings.Repeat("é", maxConditionMessage)
	d := Decide(job, obs)
	c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
	if len(c.Message) > maxConditionMessage || !utf8.ValidString(c.Message) || len(c.Message) < maxConditionMessage-1 {
		t.Errorf("condition message: %d bytes, valid UTF-8 %v", len(c.Message), utf8.ValidString(c.Message))
	}
	if d.Status.Message != obs.Message {
		t.Errorf("status.message must keep the whole text")
	}
}
