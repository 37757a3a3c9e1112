// Package function is the runtime every functions/*/main.go uses: it receives CloudEvents over
// HTTP (structured and binary content modes) on $PORT, validates them at the edge, calls one
// Handler per event, answers with a status code the Knative broker acts on correctly, logs one
// structured line per event, records metrics, and drains gracefully on SIGTERM.
//
// # Response codes (DESIGN principle 6)
//
// The broker retries 404, 408, 409, 429 and 5xx, and never retries other 4xx. So:
//
//   - 200 with the reply event in the body (binary mode): the handler returned a reply.
//   - 202, empty: the handler returned neither reply nor error; the event is done.
//   - 200, empty: the handler returned an error wrapping ErrNotFound. The object the event is
//     about no longer exists, so there is nothing to do; retrying cannot help. Handlers may
//     equally return nil in that case; ErrNotFound only makes the log line say so.
//   - 400 with a plain-text body naming the problem: the request is not a CloudEvent, it is a
//     batch, its type is not one this function handles, its data does not match the type's
//     schema, or the handler returned an error wrapping ErrBadInput or events.ErrMalformed.
//     Never retried: the same bytes will never become valid.
//   - 413: the body is larger than Config.MaxBodyBytes.
//   - 429 with Retry-After: ErrRateLimited (see RetryAfter) or a Kubernetes 429 from the API.
//   - 503: ErrUnavailable, a Kubernetes "unavailable"/timeout error, or the handler ran out of
//     time (its context ended during a drain).
//   - 500: anything else, including ErrConflict (a 409 that re-reading did not resolve) and a
//     handler panic. The broker redelivers; the handler re-reads the job and decides again.
//
// A 2xx is never sent for a write that did not happen: a handler that could not write returns
// an error.
//
// # Routes
//
// Config.Routes mounts plain HTTP handlers at other paths, for senders whose requests must be
// seen raw: the external-CI route (internal/externalci) verifies a signature over the body
// and headers as sent. A route chooses its own status codes (its caller is not the broker);
// the runtime answers the webhook handshake and wrong methods for it and counts it for the
// drain. A route that implements EventRoute names the event types it takes: such an event
// POSTed anywhere else is answered 404 naming the route's path.
//
// # Configuration
//
// ConfigFromEnv reads PORT (default 8080), NBV_DRAIN_TIMEOUT (Go duration, default 30s: how long
// in-flight events may run after SIGTERM), OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP base URL;
// unset disables metric export), K_SERVICE (service name in logs, metrics and reply sources;
// set by Knative Serving) and NBV_WEBHOOK_ALLOWED_ORIGINS (comma-separated origins allowed by
// the CloudEvents webhook abuse-protection handshake, "*" for any; unset refuses it).
// LISTEN_FDS=1 (systemd socket activation) serves the listening socket inherited as file
// descriptor 3 instead of listening on PORT: the local stack hands each function instance a
// socket bound to loopback this way.
package function
