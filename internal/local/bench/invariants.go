package bench

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// Invariant is one property checked at the end of a run, with what broke it.
type Invariant struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
	Violations []string `json:"violations,omitempty"`
	// More counts the violations left out of the list.
	More int `json:"more,omitempty"`
}

// maxViolations bounds the violations listed per invariant.
const maxViolations = 20

func (inv *Invariant) add(format string, args ...any) {
	inv.OK = false
	if len(inv.Violations) < maxViolations {
		inv.Violations = append(inv.Violations, fmt.Sprintf(format, args...))
	} else {
		inv.More++
	}
}

// child is a child object of some job, as listed at the end of a run.
type child struct {
	Kind     string
	Name     string
	JobLabel string
	Owners   []metav1.OwnerReference
}

// endState is what the invariants are checked against.
type endState struct {
	plan     []Planned
	jobs     map[string]*v1alpha1.NotebookValidationJob // as listed at the end
	children []child
	records  map[string]jobRecord
	calls    *apiCalls
}

// checkInvariants checks the properties every run must hold, faults or not.
func checkInvariants(s endState) []Invariant {
	return []Invariant{
		everyJobEnded(s), rightPhase(s), onePodPerAttempt(s), noOrphans(s), phasesForward(s), writesAreTransitions(s),
	}
}

func everyJobEnded(s endState) Invariant {
	inv := Invariant{Name: "every job terminal", OK: true}
	for _, p := range s.plan {
		j := s.jobs[p.Name]
		switch {
		case j == nil:
			inv.add("%s: missing", p.Name)
		case !statemachine.Terminal(j.Status.Phase):
			inv.add("%s: phase %q (%s)", p.Name, j.Status.Phase, j.Status.Message)
		}
	}
	return inv
}

func rightPhase(s endState) Invariant {
	inv := Invariant{Name: "the intended phase", OK: true}
	for _, p := range s.plan {
		j := s.jobs[p.Name]
		if j == nil || !statemachine.Terminal(j.Status.Phase) {
			continue // reported by everyJobEnded
		}
		if j.Status.Phase != p.WantPhase() {
			inv.add("%s (%s, build fails %v, notebook fails %v): %s, want %s: %s",
				p.Name, p.Kind, p.BuildFails, p.NotebookFails, j.Status.Phase, p.WantPhase(), j.Status.Message)
		}
	}
	return inv
}

// onePodPerAttempt: a job's pods are its attempts 0..n-1, each once; the harness causes no
// infrastructure failure, so a job that reaches validation has exactly one, and one whose
// build fails none.
func onePodPerAttempt(s endState) Invariant {
	inv := Invariant{Name: "one pod per attempt", OK: true}
	pods := map[string][]string{}
	for _, c := range s.children {
		if c.Kind == "Pod" {
			pods[c.JobLabel] = append(pods[c.JobLabel], c.Name)
		}
	}
	for _, p := range s.plan {
		j := s.jobs[p.Name]
		if j == nil {
			continue
		}
		got := pods[p.Name]
		want := 0
		if p.WantsPod() {
			want = 1
		}
		var attempts []string
		for i := range len(got) {
			attempts = append(attempts, statemachine.PodName(j, i))
		}
		slices.Sort(got)
		slices.Sort(attempts)
		if len(got) != want || !slices.Equal(got, attempts) {
			inv.add("%s: pods %v, want %d (attempt names %v)", p.Name, got, want, attempts)
		}
	}
	return inv
}

// noOrphans: every child is controlled by the job its label names (same UID), is the child its
// job's kind makes, and carries the name the job derives for it.
func noOrphans(s endState) Invariant {
	inv := Invariant{Name: "no orphaned children", OK: true}
	plans := map[string]Planned{}
	for _, p := range s.plan {
		plans[p.Name] = p
	}
	for _, c := range s.children {
		j := s.jobs[c.JobLabel]
		if j == nil {
			inv.add("%s %s: labelled for job %q, which does not exist", c.Kind, c.Name, c.JobLabel)
			continue
		}
		ref := metav1.GetControllerOfNoCopy(&metav1.ObjectMeta{OwnerReferences: c.Owners})
		if ref == nil || ref.UID != j.UID || ref.Name != j.Name || ref.Kind != v1alpha1.Kind {
			inv.add("%s %s: controller %+v, want job %s (uid %s)", c.Kind, c.Name, ref, j.Name, j.UID)
			continue
		}
		if c.Kind == "Pod" {
			continue // checked by onePodPerAttempt
		}
		p := plans[c.JobLabel]
		if builtBy[c.Kind] != p.Kind {
			inv.add("%s %s: a %s job has no %s", c.Kind, c.Name, p.Kind, c.Kind)
		} else if c.Kind != "ImageStream" && c.Name != statemachine.BuildName(j) {
			inv.add("%s %s: not the job's build name %s", c.Kind, c.Name, statemachine.BuildName(j))
		}
	}
	return inv
}

// builtBy is the kind of job each kind of build child belongs to.
var builtBy = map[string]Kind{"PipelineRun": Tekton, "Build": S2I, "BuildConfig": S2I, "ImageStream": S2I}

// phaseRank orders the phases of the state machine; a job's phase may only rise.
var phaseRank = map[string]int{
	v1alpha1.PhaseNone: 0, v1alpha1.PhaseInitializing: 1, v1alpha1.PhaseBuilding: 2, v1alpha1.PhaseBuildComplete: 3,
	v1alpha1.PhaseValidationRunning: 4, v1alpha1.PhaseSucceeded: 5, v1alpha1.PhaseFailed: 5,
}

// phasesForward: every phase change the watch showed goes forward, and a terminal phase is
// never left.
func phasesForward(s endState) Invariant {
	inv := Invariant{Name: "no phase going backwards", OK: true}
	for _, p := range s.plan {
		rec := s.records[p.Name]
		var seq []string
		for _, ph := range rec.phases {
			seq = append(seq, ph.Phase)
		}
		for i := 1; i < len(seq); i++ {
			prev, cur := seq[i-1], seq[i]
			r0, ok0 := phaseRank[prev]
			r1, ok1 := phaseRank[cur]
			if !ok0 || !ok1 || r1 <= r0 {
				inv.add("%s: %s", p.Name, strings.Join(seq, " -> "))
				break
			}
		}
	}
	return inv
}

// writesAreTransitions: every status write the API server took either changed the job or
// lost a race (409). A write it could not take (429, 5xx: it stored nothing, as while it
// restarts) is not counted; one it refused otherwise (403, 422) breaks the invariant, as does
// one that changed nothing.
func writesAreTransitions(s endState) Invariant {
	inv := Invariant{Name: "status writes <= transitions + conflicts", OK: true}
	for _, p := range s.plan {
		c := s.calls.job(p.Name)
		if c.StatusWrites-c.Unavailable > c.Changed+c.Conflicts {
			inv.add("%s: %d status writes, %d changed the job, %d conflicts, %d changed nothing, %d unavailable, %d refused otherwise %v",
				p.Name, c.StatusWrites, c.Changed, c.Conflicts, c.NoOp, c.Unavailable, c.Other, c.OtherCodes)
		}
	}
	return inv
}
