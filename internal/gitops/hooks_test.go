package gitops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statustext"
)

func endedJob(phase string, annotations map[string]string) *v1alpha1.NotebookValidationJob {
	at := metav1.NewTime(time.Date(2026, 11, 29, 21, 0, 5, 0, time.UTC))
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "team-a", Annotations: annotations},
		Status:     v1alpha1.NotebookValidationJobStatus{Phase: phase, CompletionTime: &at},
	}
}

func TestMarkPendingOnlyTerminalWithAnnotations(t *testing.T) {
	for _, c := range []struct {
		phase string
		ann   map[string]string
		want  bool
	}{
		{v1alpha1.PhaseSucceeded, map[string]string{AnnotationSyncWave: "2"}, true},
		{v1alpha1.PhaseFailed, map[string]string{AnnotationOnSuccessTrigger: "[]"}, true},
		{v1alpha1.PhaseSucceeded, map[string]string{"other": "x"}, false},
		{v1alpha1.PhaseValidationRunning, map[string]string{AnnotationSyncWave: "2"}, false},
	} {
		job := endedJob("", c.ann)
		status := v1alpha1.NotebookValidationJobStatus{Phase: c.phase}
		MarkPending(job, &status)
		job.Status = status
		if Pending(job) != c.want {
			t.Errorf("%s %v: pending %t, want %t", c.phase, c.ann, Pending(job), c.want)
		}
	}
}

func TestPlanWaveAnnotations(t *testing.T) {
	ok := PlanFor(endedJob(v1alpha1.PhaseSucceeded, map[string]string{AnnotationSyncWave: "3", AnnotationWaveFailed: "3"}))
	if ok.Wave != "mlops.dev/wave-complete=3" || *ok.JobAnnotations[AnnotationWaveComplete] != "3" ||
		*ok.JobAnnotations[AnnotationCompletionTime] != "2026-11-29T21:00:05Z" || ok.JobAnnotations[AnnotationWaveFailed] != nil {
		t.Errorf("succeeded: %+v", ok)
	}
	if _, removes := ok.JobAnnotations[AnnotationWaveFailed]; !removes {
		t.Error("succeeded: wave-failed left on the job")
	}
	failed := PlanFor(endedJob(v1alpha1.PhaseFailed, map[string]string{AnnotationSyncWave: "3"}))
	if failed.Wave != "mlops.dev/wave-failed=3" || *failed.JobAnnotations[AnnotationWaveFailed] != "3" {
		t.Errorf("failed: %+v", failed)
	}
	// Planned again on a job that carries them: nothing to write.
	done := endedJob(v1alpha1.PhaseSucceeded, map[string]string{AnnotationSyncWave: "3", AnnotationWaveComplete: "3", AnnotationCompletionTime: "2026-11-29T21:00:05Z"})
	if p := PlanFor(done); p.JobAnnotations != nil || p.Wave == "" {
		t.Errorf("annotated job: %+v", p)
	}
}

func TestPlanTriggers(t *testing.T) {
	ann := map[string]string{AnnotationOnSuccessTrigger: `
- apiVersion: apps/v1
  kind: Deployment
  name: model-server
  action: restart
- apiVersion: serving.kserve.io/v1beta1
  kind: InferenceService
  name: fraud
  action: restart
- apiVersion: argoproj.io/v1alpha1
  kind: Application
  name: ml-app
  namespace: argocd
  action: sync
- apiVersion: apps/v1
  kind: Deployment
  name: elsewhere
  namespace: team-b
  action: restart
- apiVersion: v1
  kind: ConfigMap
  name: cm
  action: refresh
`}
	p := PlanFor(endedJob(v1alpha1.PhaseSucceeded, ann))
	if len(p.Triggers) != 5 || p.Message != "" {
		t.Fatalf("plan: %+v", p)
	}
	want := []string{
		`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-29T21:00:05Z"}}}}}`,
		`{"spec":{"predictor":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-29T21:00:05Z"}}}}`,
		`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`,
	}
	for i, w := range want {
		if p.Triggers[i].Patch == nil || string(p.Triggers[i].Patch.Body) != w {
			t.Errorf("trigger %d: %+v, want patch %s", i, p.Triggers[i], w)
		}
	}
	if p.Triggers[2].Patch.Namespace != "argocd" || p.Triggers[2].Patch.Resource.Resource != "applications" || p.Triggers[0].Patch.Namespace != "team-a" {
		t.Errorf("targets: %+v %+v", p.Triggers[0].Patch, p.Triggers[2].Patch)
	}
	for _, i := range []int{3, 4} {
		if p.Triggers[i].Patch != nil || p.Triggers[i].Result.Result != v1alpha1.TriggerRefused || p.Triggers[i].Result.Message == "" {
			t.Errorf("trigger %d not refused: %+v", i, p.Triggers[i])
		}
	}
	if failed := PlanFor(endedJob(v1alpha1.PhaseFailed, ann)); len(failed.Triggers) != 0 {
		t.Errorf("a failed job fires triggers: %+v", failed)
	}
}

func TestParseTriggersRefusesBadAnnotations(t *testing.T) {
	for raw, want := range map[string]string{
		"not: a list": "not a YAML list",
		"- {kind: Deployment, name: x, action: restart}":                                            "apiVersion required",
		"- {apiVersion: apps/v1, kind: Deployment, name: x, action: delete}":                        `action "delete"`,
		"- {apiVersion: apps/v1, kind: Deployment, name: ../x, action: restart}":                    `name "../x"`,
		"- {apiVersion: apps/v1, kind: Deployment, name: x, namespace: A_B, action: restart}":       `namespace "A_B"`,
		"- {apiVersion: a/b/c, kind: Deployment, name: x, action: restart}":                         `apiVersion "a/b/c"`,
		strings.Repeat("- {apiVersion: apps/v1, kind: Deployment, name: x, action: restart}\n", 11): "11 triggers",
		"- {apiVersion: apps/v1, kind: \"Deploy\\e[31mment\", name: x, action: restart}":            "is not a kind name",
		"- {apiVersion: apps/v1, kind: " + strings.Repeat("K", 64) + ", name: x, action: restart}":  "is not a kind name",
		"- {apiVersion: apps/v1, kind: \"9Deployment\", name: x, action: restart}":                  "is not a kind name",
		"- {apiVersion: apps/v1, kind: \"Deploy-ment\", name: x, action: restart}":                  "is not a kind name",
		"- {apiVersion: Apps_/v1, kind: Deployment, name: x, action: restart}":                      "is not group/version",
	} {
		_, err := ParseTriggers(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", raw, err, want)
		}
	}
	// A 30 KB kind full of escape sequences is refused with a message quoting 64 runes of it.
	_, err := ParseTriggers("- {apiVersion: apps/v1, name: x, action: restart, kind: \"" + strings.Repeat("\\e]8;;x\\a", 3000) + "\"}")
	if err == nil || len(err.Error()) > 512 {
		t.Errorf("long kind: error of %d bytes: %.200v", len(fmt.Sprint(err)), err)
	}
	p := PlanFor(endedJob(v1alpha1.PhaseSucceeded, map[string]string{AnnotationOnSuccessTrigger: "- {kind: x}"}))
	if !strings.Contains(p.Message, AnnotationOnSuccessTrigger) || len(p.Triggers) != 0 {
		t.Errorf("bad annotation: %+v", p)
	}
}

// Every valid trigger's target fits the status bound, and no more triggers are planned than
// the status keeps.
func TestTriggersFitTheStatus(t *testing.T) {
	longest := Trigger{APIVersion: "apps/v1", Kind: strings.Repeat("K", 63), Name: strings.Repeat("n", 253), Namespace: strings.Repeat("s", 63), Action: ActionRestart}
	if err := longest.check(); err != nil {
		t.Fatal(err)
	}
	step := stepFor(endedJob(v1alpha1.PhaseSucceeded, nil), longest, "")
	if len(step.Target) > statustext.MaxTarget || MaxTriggers > statustext.MaxTriggers {
		t.Errorf("target of %d bytes (status keeps %d), %d triggers (status keeps %d)", len(step.Target), statustext.MaxTarget, MaxTriggers, statustext.MaxTriggers)
	}
}

// An Application is triggered only from the namespaces its annotation lists; the refusal
// says what the Application has and what to add. Only Application steps ask for the check.
func TestApplicationOptIn(t *testing.T) {
	for _, c := range []struct {
		annotations map[string]string
		allowed     bool
		why         string
	}{
		{map[string]string{AnnotationTriggerNamespaces: "team-a,team-b"}, true, ""},
		{map[string]string{AnnotationTriggerNamespaces: " team-b , team-a "}, true, ""},
		{nil, false, "it has no annotation mlops.mlops.dev/trigger-namespaces; its owner may add team-a there"},
		{map[string]string{AnnotationTriggerNamespaces: "team-ab,*"}, false, `it allows only "team-ab,*" in its annotation`},
		{map[string]string{AnnotationTriggerNamespaces: ""}, false, `allows only ""`},
		{map[string]string{"other": "team-a"}, false, "no annotation"},
	} {
		ok, why := AllowsTrigger(c.annotations, "team-a")
		if ok != c.allowed || !strings.Contains(why, c.why) {
			t.Errorf("%v: allowed %t (%q), want %t with %q", c.annotations, ok, why, c.allowed, c.why)
		}
	}
	p := PlanFor(endedJob(v1alpha1.PhaseSucceeded, map[string]string{AnnotationOnSuccessTrigger: `
- {apiVersion: argoproj.io/v1alpha1, kind: Application, name: ml-app, namespace: argocd, action: refresh}
- {apiVersion: apps/v1, kind: Deployment, name: model-server, action: restart}`}))
	if len(p.Triggers) != 2 || p.Triggers[0].OptInFrom != "team-a" || p.Triggers[1].OptInFrom != "" {
		t.Fatalf("opt-in asked by %+v", p.Triggers)
	}
	body, err := p.Triggers[0].Patch.GuardedBody("4711")
	if err != nil || string(body) != `{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"},"resourceVersion":"4711"}}` {
		t.Errorf("guarded body %s, %v", body, err)
	}
}
