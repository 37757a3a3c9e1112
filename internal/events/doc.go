// Package events owns the project's CloudEvents vocabulary: the types the functions accept
// (Knative ApiServerSource Resource-mode events and PingSource ticks) and emit (the transition
// reply, the external-CI build report), decoding them into checked Go values, building reply
// events, and validating every payload against its JSON Schema from package schemas at the edge.
//
// Every decoding failure wraps ErrMalformed so that the function runtime answers 400 (the broker
// must not redeliver an event that can never be understood) with a message naming the problem.
package events

import "errors"

// ErrMalformed marks an event that can never be processed: wrong type, missing attribute, data
// that is not what its type promises. Callers answer it with HTTP 400.
var ErrMalformed = errors.New("malformed event")
