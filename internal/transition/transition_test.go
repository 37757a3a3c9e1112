package transition

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// effects records what it was asked to do and fails with err.
type effects struct {
	err   error
	calls []string
}

func (f *effects) CreateValidationPod(_ context.Context, _ *v1alpha1.NotebookValidationJob, podName, image string) error {
	f.calls = append(f.calls, "pod "+podName+" "+image)
	return f.err
}

func (f *effects) CreateBuild(context.Context, *v1alpha1.NotebookValidationJob) error {
	f.calls = append(f.calls, "build")
	return f.err
}

func (f *effects) DeleteChildren(context.Context, *v1alpha1.NotebookValidationJob) error {
	f.calls = append(f.calls, "delete")
	return f.err
}

func initializing(build bool) *v1alpha1.NotebookValidationJob {
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "team-a", Generation: 1}}
	job.Spec.PodConfig.ContainerImage = "img"
	if build {
		job.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton}
	}
	job.Status.Phase = v1alpha1.PhaseInitializing
	return job
}

func jobSeen(context.Context, *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
	return statemachine.Observation{Kind: statemachine.JobSeen}, nil
}

// decide performs the decision's effect, and turns a permanent failure of it into the
// matching start-failure decision instead of an error.
func TestDecidePerformsTheEffect(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pods := schema.GroupResource{Resource: "pods"}
	pipelineRuns := schema.GroupResource{Group: "tekton.dev", Resource: "pipelineruns"}
	invalidImage := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "nb-validation", field.ErrorList{
		field.Invalid(field.NewPath("spec", "containers").Index(0).Child("image"), "quay.io/x:latest ", "must not have leading or trailing whitespace")})
	podSecurity := apierrors.NewForbidden(pods, "nb-validation", errors.New(`violates PodSecurity "baseline:latest": hostPath volumes (volume "host")`))
	rbac := apierrors.NewForbidden(pods, "nb-validation", errors.New(`User "system:serviceaccount:nbv-system:job-created" cannot create resource "pods" in API group "" in the namespace "team-a"`))
	quota := apierrors.NewForbidden(pods, "nb-validation", errors.New("exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10"))
	// What OwnerReferencesPermissionEnforcement answered in the chaos run right after the API
	// server restarted, before its discovery knew the job's kind again.
	ownerMapping := apierrors.NewForbidden(pods, "nb-validation", errors.New(`cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion mlops.mlops.dev/v1alpha1 Kind NotebookValidationJob: no matches for kind "NotebookValidationJob" in version "mlops.mlops.dev/v1alpha1"`))
	webhook := apierrors.NewBadRequest(`admission webhook "validation.webhook.pipeline.tekton.dev" denied the request: validation failed: invalid value: spec.params`)
	podCall := "pod " + statemachine.PodName(initializing(false), 0) + " img"
	cases := []struct {
		name       string
		build      bool
		err        error
		wantPhase  string
		wantReason string
		wantErr    bool
		wantCall   string
	}{
		{"pod created", false, nil, v1alpha1.PhaseValidationRunning, statemachine.ReasonValidationStarted, false, podCall},
		{"pod spec invalid", false, Permanent(errors.New(`resources.limits["memory"]: "4 GB"`)), v1alpha1.PhaseFailed, statemachine.ReasonPodStartFailed, false, podCall},
		{"pod refused as invalid", false, CreateFailure(invalidImage), v1alpha1.PhaseFailed, statemachine.ReasonPodRejected, false, podCall},
		{"pod denied by admission", false, CreateFailure(podSecurity), v1alpha1.PhaseFailed, statemachine.ReasonPodRejected, false, podCall},
		{"pod name taken", false, NameTaken(errors.New("Pod team-a/nb-validation exists, controlled by nothing")), v1alpha1.PhaseFailed, statemachine.ReasonChildNameTaken, false, podCall},
		{"function lacks RBAC", false, CreateFailure(rbac), "", "", true, podCall},
		{"quota exhausted", false, CreateFailure(quota), "", "", true, podCall},
		{"owner kind not yet known after a restart", false, CreateFailure(ownerMapping), "", "", true, podCall},
		{"API unavailable", false, CreateFailure(errors.New("connection refused")), "", "", true, podCall},
		{"build started", true, nil, v1alpha1.PhaseBuilding, statemachine.ReasonBuildStarted, false, "build"},
		{"platform missing", true, Permanent(errors.New("tekton.dev/v1 pipelineruns is not served")), v1alpha1.PhaseFailed, statemachine.ReasonBuildStartFailed, false, "build"},
		{"build refused by a webhook", true, CreateFailure(webhook), v1alpha1.PhaseFailed, statemachine.ReasonBuildRejected, false, "build"},
		{"build name taken", true, NameTaken(apierrors.NewAlreadyExists(pipelineRuns, "nb-build")), v1alpha1.PhaseFailed, statemachine.ReasonChildNameTaken, false, "build"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := &effects{err: tc.err}
			x := &Executor{Effects: fx, Now: func() time.Time { return now }}
			d, err := x.decide(context.Background(), initializing(tc.build), jobSeen, answered)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(fx.calls) != 1 || fx.calls[0] != tc.wantCall {
				t.Errorf("effects = %v, want [%s]", fx.calls, tc.wantCall)
			}
			if tc.wantErr {
				return
			}
			if !d.Changed || d.Status.Phase != tc.wantPhase || d.Reason != tc.wantReason {
				t.Errorf("decision phase %q reason %q changed %v, want %q %q", d.Status.Phase, d.Reason, d.Changed, tc.wantPhase, tc.wantReason)
			}
			if tc.err != nil && !strings.Contains(d.Status.Message, tc.err.Error()) {
				t.Errorf("message %q does not carry the cause %q", d.Status.Message, tc.err)
			}
			if got := d.Status.Conditions; len(got) == 0 || got[0].LastTransitionTime.Time != now {
				t.Errorf("conditions %+v not stamped with the executor's clock", got)
			}
		})
	}
}

// A decision that changes nothing performs nothing.
func TestDecideNoChangeNoEffect(t *testing.T) {
	fx := &effects{}
	x := &Executor{Effects: fx}
	job := initializing(false)
	job.Status.Phase = v1alpha1.PhaseSucceeded
	d, err := x.decide(context.Background(), job, jobSeen, answered)
	if err != nil || d.Changed || len(fx.calls) != 0 {
		t.Errorf("terminal job: changed %v err %v effects %v, want nothing", d.Changed, err, fx.calls)
	}
}

// A copy of the job that was not read fresh decides only a plain status write; a child to
// create or delete, or an end (its notification Event is recorded before the write), is
// decided again from the job read fresh. An event's copy that changes nothing is answered so;
// a remembered answer, maybe behind, is not.
func TestMayDecide(t *testing.T) {
	write := statemachine.Decision{Changed: true, Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseInitializing}}
	pod := write
	pod.Effect, pod.Status.Phase = statemachine.EffectCreateValidationPod, v1alpha1.PhaseValidationRunning
	end := write
	end.Status.Phase = v1alpha1.PhaseFailed
	nothing := statemachine.Decision{}
	for _, c := range []struct {
		name string
		t    trust
		d    statemachine.Decision
		want bool
	}{
		{"answered, a child", answered, pod, true},
		{"answered, an end", answered, end, true},
		{"carried, a plain write", carried, write, true},
		{"carried, a child", carried, pod, false},
		{"carried, an end", carried, end, false},
		{"carried, nothing", carried, nothing, true},
		{"remembered, a plain write", remembered, write, true},
		{"remembered, a child", remembered, pod, false},
		{"remembered, nothing", remembered, nothing, false},
	} {
		if got := mayDecide(c.t, c.d); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A job accepted, a build's progress and a build's success (job-created moves on from
// BuildComplete at once) record no Kubernetes Event; every other transition, a job held in
// Initializing included, does.
func TestQuietTransitions(t *testing.T) {
	for _, c := range []struct {
		from, to, reason string
		want             bool
	}{
		{"", v1alpha1.PhaseInitializing, statemachine.ReasonInitialized, true},
		{v1alpha1.PhaseBuilding, v1alpha1.PhaseBuilding, "BuildRunning", true},
		{v1alpha1.PhaseInitializing, v1alpha1.PhaseInitializing, statemachine.ReasonModelsNotReady, false},
		{v1alpha1.PhaseInitializing, v1alpha1.PhaseBuilding, statemachine.ReasonBuildStarted, false},
		{v1alpha1.PhaseBuilding, v1alpha1.PhaseBuildComplete, statemachine.ReasonBuildSucceeded, true},
		{v1alpha1.PhaseBuildComplete, v1alpha1.PhaseValidationRunning, statemachine.ReasonValidationStarted, false},
		{v1alpha1.PhaseBuilding, v1alpha1.PhaseFailed, statemachine.ReasonBuildFailed, false},
		{v1alpha1.PhaseValidationRunning, v1alpha1.PhaseSucceeded, "NotebookSucceeded", false},
	} {
		if got := quiet(c.from, c.to, c.reason); got != c.want {
			t.Errorf("%q -> %q (%s): quiet %v, want %v", c.from, c.to, c.reason, got, c.want)
		}
	}
}
