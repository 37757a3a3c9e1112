package validationpod

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// SummarySchema names the runner summary's JSON Schema in package schemas.
const SummarySchema = "runner-summary.v1"

// DecodeSummary reads the runner's summary from a container's termination message. The
// container runs the user's image, so the message is checked twice: strictly decoded and
// checked for consistency by summary.Decode, and validated against
// schemas/runner-summary.v1.json with the same schema registry the events use. Every refusal
// of a JSON document wraps summary.ErrInvalid; an empty or non-JSON message does not.
func DecodeSummary(message string) (summary.Summary, error) {
	b := []byte(message)
	s, err := summary.Decode(b)
	if err != nil && !errors.Is(err, summary.ErrInvalid) {
		return summary.Summary{}, err
	}
	// The schema names the offending field by its JSON pointer: prefer its words.
	if serr := events.ValidateDocument(SummarySchema, b); serr != nil {
		return summary.Summary{}, fmt.Errorf("%w: %v", summary.ErrInvalid, serr)
	}
	return s, err
}

// contradiction says how a valid summary contradicts the container that wrote it and the pod,
// or "" when it does not: prepare only ever reports errors; the runner exits 0 exactly when
// the notebook passed, and a pod only succeeds when every container exited 0.
func contradiction(s *summary.Summary, container string, exitCode int32, phase corev1.PodPhase) string {
	switch {
	case container == PrepareContainer && s.Result != summary.ResultError:
		return fmt.Sprintf("the prepare container exited with code %d and a summary saying %s, but prepare only ever reports errors", exitCode, s.Result)
	case s.Result == summary.ResultPassed && exitCode != 0:
		return fmt.Sprintf("the summary says passed but the %s container exited with code %d", container, exitCode)
	case s.Result == summary.ResultPassed && phase != corev1.PodSucceeded:
		return fmt.Sprintf("the summary says passed but the pod phase is %s", phase)
	case s.Result != summary.ResultPassed && exitCode == 0:
		return fmt.Sprintf("the summary says %s (%s) but the %s container exited with code 0", s.Result, s.Reason, container)
	}
	return ""
}

// inconsistent is the terminal outcome of a summary that cannot be trusted. Nothing from the
// summary is kept: its counts and cells are what is in doubt. Running the same notebook in the
// same image again would write the same summary, so it is not retried.
func inconsistent(pod *corev1.Pod, container, why string) Outcome {
	return Outcome{State: StateFailed, Reason: ReasonInconsistent,
		Message: fmt.Sprintf("the runner summary in the %s container's termination message cannot be trusted: %s; nothing from it was recorded (the notebook or image may have written %s itself); see kubectl logs -n %s %s -c %s",
			container, why, TerminationLog, pod.Namespace, pod.Name, container)}
}

// invalidDetail is what a summary.ErrInvalid error says beyond "invalid".
func invalidDetail(err error) string {
	return strings.TrimPrefix(err.Error(), summary.ErrInvalid.Error()+": ")
}
