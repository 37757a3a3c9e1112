package tekton

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/build"
)

// Observe reads a PipelineRun's Succeeded condition: absent or Unknown is Pending (not
// started, pending, resolving) or Running (started, or finishing after a stop); True is
// Succeeded with the image from the IMAGE_URL and IMAGE_DIGEST results ("url@digest");
// False is TimedOut (PipelineRunTimeout), Cancelled (a cancel or graceful stop) or Failed.
func Observe(pr *PipelineRun) build.Observed {
	o := build.Observed{Name: pr.Name}
	if pr.Status != nil {
		o.Started, o.Completed = pr.Status.StartTime, pr.Status.CompletionTime
	}
	c := pr.Status.condition(ConditionSucceeded)
	if c == nil {
		o.State = build.StatePending
		return o
	}
	o.Reason, o.Message = c.Reason, c.Message
	switch c.Status {
	case corev1.ConditionTrue:
		img, err := imageFromResults(pr.Status.Results)
		if err != nil {
			o.State, o.Reason, o.Message = build.StateFailed, build.ReasonImageMissing, err.Error()
			return o
		}
		o.State, o.Image = build.StateSucceeded, img
	case corev1.ConditionFalse:
		switch c.Reason {
		case ReasonTimedOut:
			o.State = build.StateTimedOut
		case ReasonCancelled, "PipelineRunCancelled", "StoppedRunFinally", "CancelledRunFinally":
			o.State = build.StateCancelled
		default:
			o.State = build.StateFailed
		}
	default:
		switch c.Reason {
		case ReasonPending, ReasonResolvingPipelineRef, "":
			o.State = build.StatePending
		default:
			// Started, Running, and the *RunningFinally / Stopping reasons: work is happening.
			o.State = build.StateRunning
		}
	}
	return o
}

func imageFromResults(results []PipelineRunResult) (string, error) {
	var url, digest string
	for _, r := range results {
		switch r.Name {
		case ResultImageURL:
			url = strings.TrimSpace(r.Value.String)
		case ResultImageDigest:
			digest = strings.TrimSpace(r.Value.String)
		}
	}
	if url == "" {
		return "", fmt.Errorf("the PipelineRun succeeded but emitted no %s result (the pipeline must emit %s and, to pin the image, %s)",
			ResultImageURL, ResultImageURL, ResultImageDigest)
	}
	return build.PinDigest(url, digest), nil
}
