package statemachine

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/reuse"
)

// Reuse reasons (decision reasons and reasons of the Reused condition).
const (
	// ReasonReused ends a job with the verdict of an earlier run that had the same inputs.
	ReasonReused = "Reused"
	// ReasonNotReusable: the job asks for reuse but an input is not fixed by its spec; it runs.
	ReasonNotReusable = "NotReusable"
	// ReasonNoReusableRun: no earlier run of the namespace had the job's inputs; it runs, and
	// records its key so that a later job can reuse it.
	ReasonNoReusableRun = "NoReusableRun"
	// ReasonInvalidReuseRequest fails a job whose reuse annotation is neither "true" nor "false".
	ReasonInvalidReuseRequest = "InvalidReuseRequest"
)

// ReuseCheck is what a function found, with I/O, for a job that asks for reuse
// (reuse.Requested) and pins every input of its spec (reuse.Pinned).
type ReuseCheck struct {
	// Key is the job's reuse key (reuse.Key); nil when NotReusable says why it has none.
	Key         *v1alpha1.ReuseKey
	NotReusable string
	// Runs are jobs of the namespace listed by Key's digest (reuse.FieldSelector); Decide
	// picks among them (ReusableRun).
	Runs []v1alpha1.NotebookValidationJob
}

// reuseBeforeStart decides, for a job about to start, whether it asked for reuse and what came
// of it. decided: d ends the step (the job reused a run, its request is malformed, or the
// caller did not look for a run). Otherwise the job starts as it would without the request,
// with the Reused condition (and the key, when it has one) saying why it runs.
func (t *transition) reuseBeforeStart() (d Decision, decided bool) {
	requested, err := reuse.Requested(t.job)
	if err != nil {
		return t.fail(ReasonInvalidReuseRequest, "cannot start: "+err.Error()), true
	}
	if !requested {
		return Decision{}, false
	}
	if err := reuse.Pinned(t.job); err != nil {
		t.noteRuns(ReasonNotReusable, "not reusable: "+err.Error())
		return Decision{}, false
	}
	check := t.obs.Reuse
	switch {
	case check == nil:
		// A caller that did not look for an earlier run must not start the job: job-created
		// and the sweep, which do, decide it.
		return t.unchanged(), true
	case check.Key == nil:
		t.noteRuns(ReasonNotReusable, "not reusable: "+check.NotReusable)
		return Decision{}, false
	}
	t.st.ReuseKey = check.Key.DeepCopy()
	if run := ReusableRun(check.Key, t.job, check.Runs); run != nil {
		return t.reuse(run), true
	}
	t.noteRuns(ReasonNoReusableRun, fmt.Sprintf("no finished run in namespace %s has reuse key %s", t.job.Namespace, check.Key.Digest))
	return Decision{}, false
}

// noteRuns sets Reused=False: the notebook runs, and why.
func (t *transition) noteRuns(reason, why string) {
	t.setCondition(v1alpha1.ConditionReused, metav1.ConditionFalse, reason, why+"; running the notebook")
}

// reuse ends the job in the phase of run, with its results, comparison and artifact, naming it.
func (t *transition) reuse(run *v1alpha1.NotebookValidationJob) Decision {
	prev := &run.Status
	t.keepResults(prev.Results, prev.ComparisonResult, prev.Artifact)
	reused := &v1alpha1.ReusedRun{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)}
	record := "no artifact"
	if prev.Artifact != nil && prev.Artifact.Reference != "" {
		reused.ArtifactReference = prev.Artifact.Reference
		record = "artifact " + prev.Artifact.Reference
	}
	t.st.ReusedRun = reused
	message := fmt.Sprintf("reused the verdict of run %s/%s (uid %s, %s), which had the same inputs (reuse key %s), without running the notebook: %s",
		run.Namespace, run.Name, run.UID, record, t.st.ReuseKey.Digest, prev.Message)
	t.setCondition(v1alpha1.ConditionReused, metav1.ConditionTrue, ReasonReused, message)
	if prev.Phase == v1alpha1.PhaseSucceeded {
		return t.succeed(ReasonReused, message)
	}
	return t.fail(ReasonReused, message)
}

// notebookVerdicts are the reasons a run ends with when the notebook itself decided: a run
// that timed out, lost its pod or could not start says nothing about the notebook.
var notebookVerdicts = []string{ReasonNotebookSucceeded, ReasonNotebookFailed}

// ReusableRun is the run among runs whose verdict job may reuse under key: another job,
// finished with the notebook's own verdict (notebookVerdicts; a job that itself reused a run
// ended with ReasonReused, so only runs that executed count), whose status carries exactly
// key. When several do, the latest to complete. nil when none does.
func ReusableRun(key *v1alpha1.ReuseKey, job *v1alpha1.NotebookValidationJob, runs []v1alpha1.NotebookValidationJob) *v1alpha1.NotebookValidationJob {
	var best *v1alpha1.NotebookValidationJob
	for i := range runs {
		run := &runs[i]
		st := &run.Status
		ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		switch {
		case run.UID == job.UID, !Terminal(st.Phase), st.ReuseKey == nil, *st.ReuseKey != *key,
			ready == nil, !slices.Contains(notebookVerdicts, ready.Reason), st.CompletionTime == nil:
			continue
		}
		if best == nil || best.Status.CompletionTime.Before(st.CompletionTime) {
			best = run
		}
	}
	return best
}
