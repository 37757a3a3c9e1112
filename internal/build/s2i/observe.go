package s2i

import (
	"strings"

	buildv1 "github.com/openshift/api/build/v1"

	"github.com/mlops-dev/nbv/internal/build"
)

// Reasons OpenShift gives a Build stopped by completionDeadlineSeconds.
const (
	ReasonDeadlineExceeded         = "DeadlineExceeded"
	ReasonBuildPodDeadlineExceeded = "BuildPodDeadlineExceeded"
)

// Observe reads a Build's phase: New/Pending (or none yet) is Pending, Running is Running,
// Complete is Succeeded with status.outputDockerImageReference pinned to
// status.output.to.imageDigest when present, Cancelled is Cancelled, and Failed/Error is
// TimedOut when the reason is a deadline, else Failed. Reason and message come from status.
func Observe(b *buildv1.Build) build.Observed {
	st := b.Status
	o := build.Observed{
		Name:      b.Name,
		Reason:    string(st.Reason),
		Message:   st.Message,
		Started:   st.StartTimestamp,
		Completed: st.CompletionTimestamp,
	}
	switch st.Phase {
	case buildv1.BuildPhaseRunning:
		o.State = build.StateRunning
	case buildv1.BuildPhaseComplete:
		ref := strings.TrimSpace(st.OutputDockerImageReference)
		if ref == "" {
			o.State, o.Reason = build.StateFailed, build.ReasonImageMissing
			o.Message = "the Build completed but reported no status.outputDockerImageReference"
			return o
		}
		digest := ""
		if st.Output.To != nil {
			digest = strings.TrimSpace(st.Output.To.ImageDigest)
		}
		o.State, o.Image = build.StateSucceeded, build.PinDigest(ref, digest)
	case buildv1.BuildPhaseCancelled:
		o.State = build.StateCancelled
	case buildv1.BuildPhaseFailed, buildv1.BuildPhaseError:
		switch o.Reason {
		case ReasonDeadlineExceeded, ReasonBuildPodDeadlineExceeded:
			o.State = build.StateTimedOut
		default:
			o.State = build.StateFailed
		}
	default:
		// New, Pending, or a Build the controller has not looked at yet.
		o.State = build.StatePending
	}
	return o
}
