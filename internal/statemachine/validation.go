package statemachine

import (
	"fmt"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func (t *transition) decideValidationRunning() Decision {
	switch t.obs.Kind {
	case DeadlinePassed:
		message := fmt.Sprintf("validation did not finish within %s (plus %s grace)", validationTimeout(t.job), DeadlineGrace)
		return t.timeOut(ReasonTimeout, message)
	case PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed:
	default:
		// A pod's progress (PodPending, PodRunning) changes nothing: the job recorded its pod
		// when it created it, and the pod's outcome decides. So functions drop progress from
		// the event alone, with no API call (CouldApply).
		return t.unchanged()
	}
	// Only the current attempt's pod counts: earlier attempts' pods report late and must not
	// decide the job. A job with no recorded pod adopts the first one whose outcome it hears.
	switch {
	case t.st.ValidationPodName == "" && t.obs.PodName != "":
		t.st.ValidationPodName = t.obs.PodName
	case t.obs.PodName != t.st.ValidationPodName || t.obs.PodName == "":
		return t.unchanged()
	}
	pod := t.st.ValidationPodName
	switch t.obs.Kind {
	case PodSucceeded:
		t.recordResults()
		message := t.summary(false)
		return t.succeed(ReasonNotebookSucceeded, message)
	case PodFailed:
		t.recordResults()
		message := t.summary(true)
		reason := ReasonNotebookFailed
		if t.obs.Reason == ReasonInconsistentSummary {
			reason = ReasonInconsistentSummary
		}
		return t.fail(reason, message)
	case PodTimedOut:
		t.recordResults()
		message := fmt.Sprintf("notebook did not finish within %s in pod %s%s", validationTimeout(t.job), pod, detail(t.obs))
		return t.fail(ReasonTimeout, message)
	case PodInfraFailed:
		return t.retryOrFail(pod)
	case PodStartFailed:
		return t.failPodStart()
	}
	return t.unchanged()
}

// retryOrFail replaces a pod lost to infrastructure with the next attempt, up to MaxInfraRetries.
func (t *transition) retryOrFail(pod string) Decision {
	if t.st.RetryCount >= MaxInfraRetries {
		message := fmt.Sprintf("validation pod %s failed for an infrastructure reason%s; giving up after %d retries",
			pod, detail(t.obs), MaxInfraRetries)
		return t.fail(ReasonInfrastructureFailed, message)
	}
	t.st.RetryCount++
	t.st.LastRetryTime = t.now()
	next := PodName(t.job, t.st.RetryCount)
	t.st.ValidationPodName = next
	message := fmt.Sprintf("validation pod %s failed for an infrastructure reason%s; retrying in pod %s (retry %d of %d)",
		pod, detail(t.obs), next, t.st.RetryCount, MaxInfraRetries)
	d := t.move(v1alpha1.PhaseValidationRunning, ReasonValidationRetried, message)
	d.Effect, d.PodName, d.Image = EffectCreateValidationPod, next, t.validationImage()
	return d
}

// recordResults stores copies of the runner's results, so the decision shares no memory with
// the observation.
func (t *transition) recordResults() {
	t.keepResults(t.obs.Results, t.obs.Comparison, t.obs.Artifact)
}

// keepResults stores copies of a run's cell results, comparison and artifact, each when set.
func (t *transition) keepResults(results []v1alpha1.CellResult, comparison *v1alpha1.ComparisonResult, artifact *v1alpha1.ArtifactStatus) {
	if results != nil {
		t.st.Results = make([]v1alpha1.CellResult, len(results))
		for i := range results {
			results[i].DeepCopyInto(&t.st.Results[i])
		}
	}
	if comparison != nil {
		t.st.ComparisonResult = comparison.DeepCopy()
	}
	if artifact != nil {
		t.st.Artifact = artifact.DeepCopy()
	}
}

// summary is the human words for a finished notebook: the caller's message, else the outcome
// with the first failing cell (for a failure) or the count of cells that succeeded.
func (t *transition) summary(failed bool) string {
	if t.obs.Message != "" {
		return t.obs.Message
	}
	succeeded := 0
	for _, r := range t.obs.Results {
		if failed && r.Status == v1alpha1.CellStatusFailure {
			return fmt.Sprintf("notebook failed: cell %d failed: %s", r.CellIndex, r.ErrorMessage)
		}
		if r.Status == v1alpha1.CellStatusSuccess {
			succeeded++
		}
	}
	outcome := "notebook passed"
	if failed {
		outcome = "notebook failed"
	}
	return fmt.Sprintf("%s: %d of %d cells succeeded", outcome, succeeded, len(t.obs.Results))
}
