package statemachine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// want is the outcome a transition row expects.
type want struct {
	phase   string
	effect  Effect
	changed bool
}

func unchanged(phase string) want         { return want{phase: phase} }
func to(phase string, effect Effect) want { return want{phase: phase, effect: effect, changed: true} }

// row expects want for every kind in kinds, observed on the sample of phase named guard
// ("" for the phase's primary sample).
type row struct {
	phase string
	guard string
	kinds []Kind
	want  want
}

var (
	buildChildKinds = []Kind{BuildPending, BuildRunning, BuildSucceeded, BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed}
	externalKinds   = []Kind{ExternalBuildSucceeded, ExternalBuildFailed}
	podKinds        = []Kind{PodPending, PodRunning, PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed}
)

// kindsExcept is every kind but the listed ones.
func kindsExcept(except ...Kind) []Kind {
	var kinds []Kind
	for _, k := range AllKinds {
		if !slices.Contains(except, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func join(lists ...[]Kind) []Kind { return slices.Concat(lists...) }

const (
	phaseNone       = v1alpha1.PhaseNone
	phaseInit       = v1alpha1.PhaseInitializing
	phaseBuilding   = v1alpha1.PhaseBuilding
	phaseBuilt      = v1alpha1.PhaseBuildComplete
	phaseValidating = v1alpha1.PhaseValidationRunning
	phaseSucceeded  = v1alpha1.PhaseSucceeded
	phaseFailed     = v1alpha1.PhaseFailed
	phasePending    = v1alpha1.PhasePending
	phaseRunning    = v1alpha1.PhaseRunning
)

// transitions is the machine's table. Rows with guard "" must cover every phase x kind exactly
// once; guarded rows add the outcomes that depend on the job (strategy, retries, image).
var transitions = []row{
	{phaseNone, "", []Kind{JobSeen}, to(phaseInit, EffectNone)},
	{phaseNone, "", kindsExcept(JobSeen), unchanged(phaseNone)},

	{phaseInit, "", []Kind{JobSeen}, to(phaseValidating, EffectCreateValidationPod)},
	{phaseInit, "", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phaseInit, "", []Kind{PodStartFailed}, to(phaseFailed, EffectNone)},
	{phaseInit, "", kindsExcept(JobSeen, DeadlinePassed, PodStartFailed), unchanged(phaseInit)},
	{phaseInit, "models not ready", []Kind{JobSeen}, to(phaseInit, EffectNone)},
	{phaseInit, "models not ready", []Kind{DeadlinePassed}, to(phaseValidating, EffectCreateValidationPod)},
	{phaseInit, "models ready", []Kind{JobSeen}, to(phaseValidating, EffectCreateValidationPod)},
	{phasePending, "models not ready", []Kind{JobSeen}, to(phasePending, EffectNone)},
	{phasePending, "models not ready", []Kind{DeadlinePassed}, to(phaseValidating, EffectCreateValidationPod)},
	{phasePending, "models ready", []Kind{JobSeen}, to(phaseValidating, EffectCreateValidationPod)},
	{phaseInit, "same inputs passed before", []Kind{JobSeen}, to(phaseSucceeded, EffectNone)},
	{phaseInit, "same inputs failed before", []Kind{JobSeen}, to(phaseFailed, EffectNone)},
	{phasePending, "same inputs passed before", []Kind{JobSeen}, to(phaseSucceeded, EffectNone)},
	{phasePending, "same inputs failed before", []Kind{JobSeen}, to(phaseFailed, EffectNone)},
	{phaseInit, "s2i", []Kind{JobSeen}, to(phaseBuilding, EffectCreateBuild)},
	{phaseInit, "s2i", []Kind{BuildStartFailed}, to(phaseFailed, EffectNone)},
	{phaseInit, "tekton", []Kind{JobSeen}, to(phaseBuilding, EffectCreateBuild)},
	{phaseInit, "tekton", []Kind{BuildStartFailed}, to(phaseFailed, EffectNone)},
	{phaseInit, "tekton", join(externalKinds, podKinds, buildChildKinds[:6]), unchanged(phaseInit)},
	{phaseInit, "external", []Kind{JobSeen}, to(phaseBuilding, EffectNone)},
	{phaseInit, "external", join(buildChildKinds, externalKinds), unchanged(phaseInit)},
	{phaseInit, "kaniko", []Kind{JobSeen}, to(phaseFailed, EffectNone)},
	{phaseInit, "kaniko", []Kind{BuildStartFailed}, unchanged(phaseInit)},
	{phaseInit, "shipwright", []Kind{JobSeen}, to(phaseFailed, EffectNone)},
	{phaseInit, "custom", []Kind{JobSeen}, to(phaseFailed, EffectNone)},

	// Legacy Pending is decided as Initializing.
	{phasePending, "", []Kind{JobSeen}, to(phaseValidating, EffectCreateValidationPod)},
	{phasePending, "", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phasePending, "", []Kind{PodStartFailed}, to(phaseFailed, EffectNone)},
	{phasePending, "", kindsExcept(JobSeen, DeadlinePassed, PodStartFailed), unchanged(phasePending)},
	{phasePending, "tekton", []Kind{JobSeen}, to(phaseBuilding, EffectCreateBuild)},
	{phasePending, "external", []Kind{JobSeen}, to(phaseBuilding, EffectNone)},
	{phasePending, "custom", []Kind{JobSeen}, to(phaseFailed, EffectNone)},

	// A build's progress writes only what the job does not show: why it is held, then that
	// it runs after all.
	{phaseBuilding, "", []Kind{BuildPending}, to(phaseBuilding, EffectNone)},
	{phaseBuilding, "", []Kind{BuildRunning}, unchanged(phaseBuilding)},
	{phaseBuilding, "build held", []Kind{BuildRunning}, to(phaseBuilding, EffectNone)},
	{phaseBuilding, "build held", []Kind{BuildPending}, unchanged(phaseBuilding)},
	{phaseBuilding, "", []Kind{BuildSucceeded}, to(phaseBuilt, EffectNone)},
	{phaseBuilding, "", []Kind{BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed}, to(phaseFailed, EffectNone)},
	{phaseBuilding, "", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phaseBuilding, "", join([]Kind{JobSeen}, externalKinds, podKinds), unchanged(phaseBuilding)},
	{phaseBuilding, "s2i", []Kind{BuildRunning}, unchanged(phaseBuilding)},
	{phaseBuilding, "s2i", []Kind{BuildSucceeded}, to(phaseBuilt, EffectNone)},
	{phaseBuilding, "s2i", externalKinds, unchanged(phaseBuilding)},
	{phaseBuilding, "external", []Kind{ExternalBuildSucceeded}, to(phaseBuilt, EffectNone)},
	{phaseBuilding, "external", []Kind{ExternalBuildFailed}, to(phaseFailed, EffectNone)},
	{phaseBuilding, "external", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phaseBuilding, "external", join([]Kind{JobSeen}, buildChildKinds, podKinds), unchanged(phaseBuilding)},

	{phaseBuilt, "", []Kind{JobSeen}, to(phaseValidating, EffectCreateValidationPod)},
	{phaseBuilt, "", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phaseBuilt, "", []Kind{PodStartFailed}, to(phaseFailed, EffectNone)},
	{phaseBuilt, "", kindsExcept(JobSeen, DeadlinePassed, PodStartFailed), unchanged(phaseBuilt)},
	{phaseBuilt, "no image recorded", []Kind{JobSeen}, to(phaseFailed, EffectNone)},

	{phaseValidating, "", []Kind{PodSucceeded}, to(phaseSucceeded, EffectNone)},
	{phaseValidating, "", []Kind{PodFailed, PodTimedOut, PodStartFailed}, to(phaseFailed, EffectNone)},
	{phaseValidating, "", []Kind{PodInfraFailed}, to(phaseValidating, EffectCreateValidationPod)},
	{phaseValidating, "", []Kind{DeadlinePassed}, to(phaseFailed, EffectDeleteChildren)},
	{phaseValidating, "", join([]Kind{JobSeen, PodPending, PodRunning}, buildChildKinds, externalKinds), unchanged(phaseValidating)},
	{phaseValidating, "retries exhausted", []Kind{PodInfraFailed}, to(phaseFailed, EffectNone)},
	{phaseValidating, "retries exhausted", []Kind{PodSucceeded}, to(phaseSucceeded, EffectNone)},

	{phaseSucceeded, "", AllKinds, unchanged(phaseSucceeded)},
	{phaseFailed, "", AllKinds, unchanged(phaseFailed)},

	// Legacy Running migrates on whatever was observed but a pod's progress; the observation
	// applies on a later event.
	{phaseRunning, "", kindsExcept(PodPending, PodRunning), to(phaseValidating, EffectNone)},
	{phaseRunning, "", []Kind{PodPending, PodRunning}, unchanged(phaseRunning)},
	{phaseRunning, "no pod recorded", kindsExcept(PodPending, PodRunning), to(phaseInit, EffectNone)},
}

func TestTransitionTable(t *testing.T) {
	covered := map[string]int{}
	for _, r := range transitions {
		s, ok := findSample(r.phase, r.guard)
		if !ok {
			t.Fatalf("row for phase %q names sample %q, which samples(%q) does not have", r.phase, r.guard, r.phase)
		}
		for _, kind := range r.kinds {
			name := subtestName(r.phase, r.guard, kind)
			covered[name]++
			t.Run(name, func(t *testing.T) {
				checkTransition(t, s.job, sampleObservation(s.job, kind), r.want)
			})
		}
	}
	for name, n := range covered {
		if n > 1 {
			t.Errorf("%s has %d rows; want one", name, n)
		}
	}
	for _, phase := range AllPhases {
		for _, kind := range AllKinds {
			if covered[subtestName(phase, "", kind)] == 0 {
				t.Errorf("no row for %s", subtestName(phase, "", kind))
			}
		}
	}
}

// checkTransition checks the row's outcome and the invariants every decision keeps.
func checkTransition(t *testing.T, job *v1alpha1.NotebookValidationJob, obs Observation, w want) {
	t.Helper()
	before := job.DeepCopy()
	d := Decide(job, obs)
	if !equality.Semantic.DeepEqual(before, job) {
		t.Fatalf("Decide mutated its input job")
	}
	if d.Status.Phase != w.phase || d.Effect != w.effect || d.Changed != w.changed {
		t.Fatalf("got phase %q effect %q changed %v; want phase %q effect %q changed %v (message %q)",
			d.Status.Phase, d.Effect, d.Changed, w.phase, w.effect, w.changed, d.Status.Message)
	}
	if !d.Changed {
		if !equality.Semantic.DeepEqual(d.Status, job.Status) || d.Reason != "" || d.Effect != EffectNone {
			t.Fatalf("an unchanged decision must return the status as it was, with no reason or effect: %+v", d)
		}
		return
	}
	if d.Reason == "" || d.Status.Message == "" || d.Status.ObservedGeneration != job.Generation {
		t.Errorf("a change must carry a reason, a message and observedGeneration %d: reason %q message %q generation %d",
			job.Generation, d.Reason, d.Status.Message, d.Status.ObservedGeneration)
	}
	if d.Status.StartTime == nil {
		t.Errorf("a job in the machine must have a start time")
	}
	if d.Effect == EffectCreateValidationPod && (d.PodName == "" || d.PodName != d.Status.ValidationPodName || d.Image == "") {
		t.Errorf("pod effect must name the recorded pod and an image: pod %q recorded %q image %q",
			d.PodName, d.Status.ValidationPodName, d.Image)
	}
	if d.Effect != EffectCreateValidationPod && (d.PodName != "" || d.Image != "") {
		t.Errorf("only a pod effect names a pod and image: pod %q image %q", d.PodName, d.Image)
	}
	ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		t.Fatalf("a change must set the Ready condition")
	}
	terminal := map[string]string{phaseSucceeded: "True", phaseFailed: "False"}
	complete := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionValidationComplete)
	if status, ok := terminal[d.Status.Phase]; ok {
		if string(ready.Status) != status || ready.Reason != d.Reason || d.Status.CompletionTime == nil || !d.Status.CompletionTime.Equal(&obs.Now) {
			t.Errorf("terminal phase %s needs Ready=%s with reason %s and completionTime %v; got Ready=%s/%s completionTime %v",
				d.Status.Phase, status, d.Reason, obs.Now, ready.Status, ready.Reason, d.Status.CompletionTime)
		}
		// The existing operator's meaning, which CI scripts wait on: True only on Succeeded.
		if complete == nil || string(complete.Status) != status || complete.Reason != d.Reason {
			t.Errorf("terminal phase %s needs ValidationComplete=%s with reason %s; got %+v", d.Status.Phase, status, d.Reason, complete)
		}
	} else {
		if ready.Status != "Unknown" {
			t.Errorf("non-terminal phase %s needs Ready=Unknown; got %s", d.Status.Phase, ready.Status)
		}
		if complete != nil && complete.Status != "Unknown" {
			t.Errorf("non-terminal phase %s needs ValidationComplete absent or Unknown; got %s", d.Status.Phase, complete.Status)
		}
	}
}

func findSample(phase, guard string) (sample, bool) {
	for i, s := range samples(phase) {
		if (guard == "" && i == 0) || s.guard == guard {
			return s, true
		}
	}
	return sample{}, false
}

func subtestName(phase, guard string, kind Kind) string {
	if phase == "" {
		phase = "None"
	}
	if guard != "" {
		phase += "[" + guard + "]"
	}
	return phase + "/" + string(kind)
}

// TestAllKindsAndPhasesAreComplete fails when a Kind constant or an API phase constant is
// added without joining AllKinds or AllPhases (and so the transition table).
func TestAllKindsAndPhasesAreComplete(t *testing.T) {
	kinds := declaredStrings(t, "types.go", func(name, typ string) bool { return typ == "Kind" })
	var all []string
	for _, k := range AllKinds {
		all = append(all, string(k))
	}
	if !sameSet(kinds, all) {
		t.Errorf("Kind constants %v differ from AllKinds %v", kinds, all)
	}
	phases := declaredStrings(t, "../../api/v1alpha1/status_types.go", func(name, _ string) bool { return strings.HasPrefix(name, "Phase") })
	if !sameSet(phases, AllPhases) {
		t.Errorf("API phase constants %q differ from AllPhases %q", phases, AllPhases)
	}
	for _, phase := range AllPhases {
		if len(samples(phase)) == 0 {
			t.Errorf("phase %q has no samples, so the diagram cannot show it", phase)
		}
	}
}

// declaredStrings returns the values of the string constants in file that keep accepts.
func declaredStrings(t *testing.T, file string, keep func(name, typ string) bool) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	var values []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			typ := ""
			if id, ok := vs.Type.(*ast.Ident); ok {
				typ = id.Name
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || !keep(name.Name, typ) {
					continue
				}
				value, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: constant %s: %v", file, name.Name, err)
				}
				values = append(values, value)
			}
		}
	}
	return values
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(slices.Compact(a), slices.Compact(b)) && len(a) == len(b)
}
