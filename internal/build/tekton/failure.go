package tekton

import "fmt"

// TaskRunNames are the names of the TaskRuns a PipelineRun started, in its order: where a
// failed build's TaskRuns say which step failed.
func TaskRunNames(pr *PipelineRun) []string {
	if pr.Status == nil {
		return nil
	}
	var names []string
	for _, c := range pr.Status.ChildReferences {
		if c.Kind == TaskRunKind && c.Name != "" {
			names = append(names, c.Name)
		}
	}
	return names
}

// FailedStep is the first step of tr that exited with a non-zero code, if any.
func FailedStep(tr *TaskRun) (StepState, bool) {
	if tr.Status == nil {
		return StepState{}, false
	}
	for _, s := range tr.Status.Steps {
		if s.Terminated != nil && s.Terminated.ExitCode != 0 {
			return s, true
		}
	}
	return StepState{}, false
}

// FailureMessage says, after Tekton's own message for the PipelineRun (which counts failed
// tasks only), which step of which TaskRun failed with which exit code, and the command that
// shows what it printed. The functions never read pod logs: the permission would reach the
// validation pods' output too (see config/rbac).
func FailureMessage(tektonMessage string, tr *TaskRun, step StepState) string {
	msg := fmt.Sprintf("step %q of TaskRun %s exited with code %d", step.Name, tr.Name, step.Terminated.ExitCode)
	if tr.Status != nil && tr.Status.PodName != "" && step.Container != "" {
		msg += fmt.Sprintf(" (its output: kubectl logs -n %s %s -c %s)", tr.Namespace, tr.Status.PodName, step.Container)
	}
	if tektonMessage != "" {
		msg = tektonMessage + "; " + msg
	}
	return msg
}
