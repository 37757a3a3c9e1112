package observe

import (
	"fmt"

	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// buildKinds maps a build child's state to the observation kind the machine decides on.
var buildKinds = map[build.State]statemachine.Kind{
	build.StatePending:   statemachine.BuildPending,
	build.StateRunning:   statemachine.BuildRunning,
	build.StateSucceeded: statemachine.BuildSucceeded,
	build.StateFailed:    statemachine.BuildFailed,
	build.StateCancelled: statemachine.BuildCancelled,
	build.StateTimedOut:  statemachine.BuildTimedOut,
}

// ReasonBuildDeleted is the observation reason of a build child that is gone.
const ReasonBuildDeleted = "BuildDeleted"

// Build turns what a build child says about itself (build.Observed, from the strategy's
// Observe) into an observation. A state the machine does not know counts as pending.
//
// A running build's own message is dropped: Tekton rewrites it as every task finishes
// ("Tasks Completed: 1 (Failed: 0, ...)"), and the machine writes the job whenever the
// recorded message changes, so passing it on would cost a status write (and a job-created
// wake-up) per task. The job's buildStatus then changes when the build's state does.
// A pending build keeps its message: it is how a build stuck before starting says why
// (quota, an invalid output reference), and it rarely changes.
func Build(o build.Observed) statemachine.Observation {
	kind, ok := buildKinds[o.State]
	if !ok {
		kind = statemachine.BuildPending
	}
	obs := statemachine.Observation{
		Kind:           kind,
		BuildName:      o.Name,
		Reason:         o.Reason,
		Message:        o.Message,
		BuildStarted:   o.Started,
		BuildCompleted: o.Completed,
	}
	switch kind {
	case statemachine.BuildSucceeded:
		obs.Image = o.Image
	case statemachine.BuildRunning:
		obs.Message = ""
	}
	return obs
}

// BuildMissing observes a build child kind/name that no longer exists: it was deleted before
// it reported a result, so the build cannot finish and counts as failed.
func BuildMissing(kind, name string) statemachine.Observation {
	return statemachine.Observation{
		Kind:      statemachine.BuildFailed,
		BuildName: name,
		Reason:    ReasonBuildDeleted,
		Message:   fmt.Sprintf("the %s was deleted before it reported a result", kind),
	}
}
