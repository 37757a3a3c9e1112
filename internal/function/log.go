package function

import (
	"context"
	"log/slog"
	"sync"
)

// reqState is what the runtime knows about the event being handled. Handlers add the job once
// they know it (WithJob), and the runtime's final log line for the event then carries it too,
// which is why it is a shared, mutable value rather than context values layered per call.
type reqState struct {
	service string
	base    *slog.Logger // carries the event's attributes

	mu                sync.Mutex
	jobNamespace, job string
	// severalJobs is set once the event concerns more than one job (the sweep): the summary
	// line then names none rather than the last one.
	severalJobs bool

	// answerFirst is set for an event's request: AfterAnswer then queues into afterAnswer.
	answerFirst bool
	afterAnswer []func(context.Context)
}

type stateKey struct{}

// jobRef is the job of one call chain, for handlers that work on several jobs per event.
type jobRef struct{ namespace, name string }

type jobKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// WithJob records the job an event is about, so that every later log line of this event
// (including the runtime's summary line) names it. Outside the runtime it returns a context
// carrying a logger with the job's attributes.
//
// The returned context's log lines name this job even when the event concerns several (the
// sweep); the event's summary line names a job only if it is the only one.
func WithJob(ctx context.Context, namespace, name string) context.Context {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		switch {
		case st.severalJobs:
		case st.job == "":
			st.jobNamespace, st.job = namespace, name
		case st.jobNamespace != namespace || st.job != name:
			st.severalJobs, st.jobNamespace, st.job = true, "", ""
		}
		st.mu.Unlock()
	}
	return context.WithValue(ctx, jobKey{}, jobRef{namespace: namespace, name: name})
}

// Logger returns the logger for the event being handled: JSON lines carrying the event's id,
// type and source and, once WithJob was called, the job's namespace and name.
func Logger(ctx context.Context) *slog.Logger {
	base, job := slog.Default(), jobRef{}
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		base, job = st.base, jobRef{namespace: st.jobNamespace, name: st.job}
		st.mu.Unlock()
	}
	if ref, ok := ctx.Value(jobKey{}).(jobRef); ok {
		job = ref
	}
	if job.name == "" {
		return base
	}
	return base.With(slog.String("job.namespace", job.namespace), slog.String("job.name", job.name))
}

// Source is the CloudEvents source of events this function replies with: "/nbv/<K_SERVICE>".
func Source(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil && st.service != "" {
		return "/nbv/" + st.service
	}
	return "/nbv/" + DefaultServiceName
}
