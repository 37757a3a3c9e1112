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
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// WithJob records the job an event is about, so that every later log line of this event
// (including the runtime's summary line) names it. Outside the runtime it returns a context
// carrying a logger with the job's attributes.
func WithJob(ctx context.Context, namespace, name string) context.Context {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.jobNamespace, st.job = namespace, name
		st.mu.Unlock()
		return ctx
	}
	return context.WithValue(ctx, stateKey{}, &reqState{base: slog.Default(), jobNamespace: namespace, job: name})
}

// Logger returns the logger for the event being handled: JSON lines carrying the event's id,
// type and source and, once WithJob was called, the job's namespace and name.
func Logger(ctx context.Context) *slog.Logger {
	st := stateFrom(ctx)
	if st == nil {
		return slog.Default()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.job == "" {
		return st.base
	}
	return st.base.With(slog.String("job.namespace", st.jobNamespace), slog.String("job.name", st.job))
}

// Source is the CloudEvents source of events this function replies with: "/nbv/<K_SERVICE>".
func Source(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil && st.service != "" {
		return "/nbv/" + st.service
	}
	return "/nbv/" + DefaultServiceName
}
