// Package prefetch starts a read that a step will need before the step reads its job, so that
// both requests go out together: one round trip to the API server instead of two in a row. The
// functions use it for the child an event is about (a validation pod, a finished build).
package prefetch

import "context"

// Read is one read started ahead of the step that needs it. A step runs its reads one after
// the other, so a Read is not for concurrent use.
type Read[T any] struct {
	get  func(context.Context) (T, error)
	done chan struct{}
	val  T
	err  error
	used bool
}

// Start starts get(ctx) now.
func Start[T any](ctx context.Context, get func(context.Context) (T, error)) *Read[T] {
	r := &Read[T]{get: get, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.val, r.err = get(ctx)
	}()
	return r
}

// Get returns what was read: the first call waits for the read started ahead, every later one
// (a step decided again after a 409, which must see the object as it is then) reads afresh.
func (r *Read[T]) Get(ctx context.Context) (T, error) {
	if r.used {
		return r.get(ctx)
	}
	r.used = true
	<-r.done
	return r.val, r.err
}

// Wait returns once the read started ahead is over, so that none outlives the request.
func (r *Read[T]) Wait() { <-r.done }
