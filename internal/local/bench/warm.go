package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/local/optin"
)

// warmNamespace holds no job: the warm-up's events are about objects that do not exist there.
const warmNamespace = "nbv-bench-warm-up"

// warmUpHints are the events that wake each event function, one each: about an object that
// does not exist, which the function answers having nothing to do. The sweep is left out: a
// ping a minute wakes it whether it is warm or not, and it is on no job's path.
func warmUpHints() map[string]cloudevents.Event {
	return map[string]cloudevents.Event{
		"job-created":          absentObjectEvent(v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "absent", ""),
		"pod-completed":        absentObjectEvent("v1", "Pod", "absent-validation", "absent"),
		"build-status-changed": absentObjectEvent("tekton.dev/v1", "PipelineRun", "absent-build", "absent"),
	}
}

// absentObjectEvent is the ApiServerSource's update event of an object of warmNamespace,
// labelled as a child of job when job is set.
func absentObjectEvent(apiVersion, kind, name, job string) cloudevents.Event {
	return events.NewResourceUpdate("warm-up-"+kind+"-"+name, "https://kube-apiserver.nbv-bench", warmNamespace, apiVersion, kind, name, job)
}

// warmUp is what the warm-up left behind, to be kept out of the run's figures.
type warmUp struct {
	// auditFrom and auditTo bound the audit log's bytes written during the warm-up.
	auditFrom, auditTo int64
	// coldStarts is, per function, how many cold starts its activator recorded by the end of
	// the warm-up.
	coldStarts map[string]int
	// stats are the function processes' counts and CPU at the end of the warm-up.
	stats map[string]localstack.FunctionStats
}

// warmFunctions starts one instance of every event function as an event would: each gets a
// hint through its activator, which starts an instance, waits until it is ready and passes the
// hint on. It returns once every function has answered.
func warmFunctions(ctx context.Context, cp *controlplane.ControlPlane, stack *localstack.Stack, repoRoot string) (*warmUp, error) {
	// The functions' rights in warmNamespace are those of any opted-in namespace, so the hints
	// are answered as in the run's namespace.
	if err := cp.EnsureNamespace(ctx, warmNamespace); err != nil {
		return nil, fmt.Errorf("bench: warm-up namespace: %w", err)
	}
	if err := optin.Namespace(ctx, cp.RESTConfig(), repoRoot, warmNamespace); err != nil {
		return nil, fmt.Errorf("bench: warm-up namespace: %w", err)
	}
	w := &warmUp{coldStarts: map[string]int{}}
	var err error
	if w.auditFrom, err = cp.AuditOffset(); err != nil {
		return nil, fmt.Errorf("bench: warm-up: %w", err)
	}
	hints := warmUpHints()
	var wg sync.WaitGroup
	errs := make([]error, len(hints))
	for i, name := range slices.Sorted(maps.Keys(hints)) {
		url, ok := stack.FunctionURLs[name]
		if !ok {
			return nil, fmt.Errorf("bench: warm-up: the stack serves no function %s", name)
		}
		wg.Go(func() { errs[i] = sendHint(ctx, name, url, hints[name]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if w.auditTo, err = cp.AuditOffset(); err != nil {
		return nil, fmt.Errorf("bench: warm-up: %w", err)
	}
	for name, act := range stack.Activators {
		w.coldStarts[name] = len(act.ColdStarts())
	}
	if w.stats, err = stack.FunctionStats(); err != nil {
		return nil, fmt.Errorf("bench: warm-up: %w", err)
	}
	return w, nil
}

func sendHint(ctx context.Context, name, url string, ev cloudevents.Event) error {
	client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(url))
	if err != nil {
		return fmt.Errorf("bench: warm-up of %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if res := client.Send(ctx, ev); !cloudevents.IsACK(res) {
		return fmt.Errorf("bench: warm-up of %s: its hint was answered %v", name, res)
	}
	return nil
}

// withoutWarmUp drops from a run's audit events the functions' requests logged during the
// warm-up. all were read from the run's first offset, fromWarm from the warm-up's first and
// fromRun from its end; the log only grows, so their lengths place the warm-up in all. The
// sources' requests in that window are kept: they are the run's.
func withoutWarmUp(all, fromWarm, fromRun []controlplane.AuditEvent, functions map[string]string) []controlplane.AuditEvent {
	begin, end := len(all)-len(fromWarm), len(all)-len(fromRun)
	if begin < 0 || end < begin {
		return all
	}
	out := slices.Clone(all[:begin])
	for _, e := range all[begin:end] {
		if _, isFunction := functions[e.User.Username]; !isFunction {
			out = append(out, e)
		}
	}
	return append(out, all[end:]...)
}
