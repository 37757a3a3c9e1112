// Package externalci owns the external-CI route of build-status-changed (DESIGN section 6): a
// CI system that builds a job's image itself (spec.podConfig.buildConfig.strategy: external)
// POSTs a signed build report, a CloudEvent of type dev.mlops.notebookvalidationjob.build.v1
// in structured or binary mode, straight to the function at Path (not through the broker,
// which would re-encode it and break the signature). The package also builds and sends such
// requests (NewEvent, NewRequest, Send) and is the body of `nbv ci-event` (Command).
//
// # Checks, in order
//
//  1. Size: a body over MaxBody (default 64 KiB) is refused while reading: 413. A body that
//     is not valid UTF-8 is 400 (JSON decoding would silently replace the bytes).
//  2. Shape: a single CloudEvent (in binary mode with Content-Type application/json, else 415) of the build-report type whose data matches its schema, else
//     a 400. The data is read before the signature is checked because it names the namespace
//     whose key verifies it.
//  3. Signature (package cisignature): HMAC-SHA256 with the Secret nbv-ci-webhook of the
//     report's namespace over "<t>." + SignedContent, compared in constant time; then the
//     signed timestamp must be inside the window: else 401. So one namespace's key cannot
//     report for another namespace's job.
//  4. Replay: the (source, id) pair is recorded as a Lease in the namespace; a pair seen
//     before is 409. Nothing is written before this point, so unauthenticated or stale
//     requests cannot consume ids.
//  5. The job: unknown 404; not built with strategy external 409; not in phase Building 409.
//     These are read only after authentication so the route cannot be used to probe which
//     jobs exist.
//  6. One state-machine step (transition.Executor): ExternalBuildSucceeded with the reported
//     image (pinned by its digest when given) or ExternalBuildFailed with the CI's message,
//     answered 200 naming the transition.
//
// # Binary mode
//
// In binary mode the CloudEvent's id, source and type travel in ce-* headers, which a MAC over
// the body alone would not cover: a captured request could be re-posted under a new id and
// pass the replay guard. So the MAC covers the headers too (SignedContent): in either mode it
// covers the whole event, and changing the id breaks the signature.
//
// # Which requests consume their id
//
// Every request that passed steps 1-3 consumes its (source, id), including one refused in
// step 5 and one that met a server error in step 6: the Lease is written before the job is
// read, so that a check of the job never precedes authentication and replay protection. A CI
// system retries by sending a new event (new id, new timestamp), which `nbv ci-event` does on
// every run; re-posting the same bytes is exactly what the replay guard refuses.
//
// # Status codes
//
// The caller is a CI script, not the broker, so codes say what happened rather than steering
// broker retries: 200 applied; 400 malformed, schema-invalid or not UTF-8; 401 signature, key
// or timestamp; 404 unknown job; 409 replayed, wrong strategy or wrong phase; 413 too large;
// 415 binary mode without Content-Type application/json; 429 or 503 retry later with a new
// event; 500 internal error. Every 4xx body names the problem and means the job was not
// changed, except that every reason a signature cannot be checked (no header, no key in the
// namespace, the wrong key) gets one 401 text, cisignature.Unauthorized: an unsigned request
// must not learn which namespaces are set up for external CI.
package externalci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// Path is where build-status-changed serves the route.
const Path = "/ci"

// Route is the http.Handler of the external-CI route. Mount it with Routes.
type Route struct {
	// Executor performs the step; its Store reads the job.
	Executor *transition.Executor
	Keys     cisignature.KeySource
	Replay   cisignature.ReplayStore
	// MaxBody, MaxAge and MaxSkew default to cisignature's defaults when zero.
	MaxBody         int64
	MaxAge, MaxSkew time.Duration
	// Now is the clock of the time window; nil means time.Now.
	Now func() time.Time
}

// New builds the route for the function whose executor is x, reading keys from Secrets and
// recording (source, id) pairs as Leases with the client configuration kube.
func New(kube *rest.Config, x *transition.Executor) (*Route, error) {
	if x == nil || x.Store == nil {
		return nil, errors.New("externalci: an executor with a job store is required")
	}
	dyn, err := dynamic.NewForConfig(kube)
	if err != nil {
		return nil, fmt.Errorf("externalci: dynamic client: %w", err)
	}
	return &Route{Executor: x, Keys: cisignature.SecretKeys{Secrets: cisignature.SecretsOver(dyn)},
		Replay: cisignature.LeaseStore{Leases: cisignature.LeasesOver(dyn)}}, nil
}

// EventTypes makes rt a function.EventRoute: a build report POSTed to another path of the
// function is answered 404 naming Path.
func (rt *Route) EventTypes() []string { return []string{events.TypeBuildReport} }

// Routes is the function.Config.Routes value mounting rt at Path.
func (rt *Route) Routes() map[string]http.Handler {
	return map[string]http.Handler{Path: rt}
}

// Outcomes, for logs and metrics.
const (
	outcomeApplied      = "applied"
	outcomeBadInput     = "bad_input"
	outcomeTooLarge     = "too_large"
	outcomeUnauthorized = "unauthorized"
	outcomeReplayed     = "replayed"
	outcomeUnknownJob   = "unknown_job"
	outcomeWrongState   = "wrong_state"
	outcomeRateLimited  = "rate_limited"
	outcomeUnavailable  = "unavailable"
	outcomeRetry        = "retry"
)

// wrongStateError is a job that does not take the report (strategy or phase); its message,
// sent to the caller, says which.
type wrongStateError struct{ msg string }

func (e *wrongStateError) Error() string { return e.msg }

func wrongState(format string, args ...any) error {
	return &wrongStateError{msg: fmt.Sprintf(format, args...)}
}

// result is the answer to one request.
type result struct {
	status     int
	outcome    string
	body       string
	retryAfter time.Duration
	err        error // logged; for 5xx it is not sent to the caller
}

// ServeHTTP handles one POST (the function runtime answers other methods).
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, span := function.StartRouteSpan(r.Context(), r)
	eventType := "other" // senders choose the type; only the accepted one is a metric label
	var ev *cloudevents.Event
	res := rt.handle(ctx, w, r, &ev)
	defer func() { span.End(ev, res.status, res.outcome, res.err) }()
	if ev != nil && ev.Type() == events.TypeBuildReport {
		eventType = ev.Type()
	}
	if res.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((res.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(res.status)
	_, _ = io.WriteString(w, res.body+"\n")

	latency := time.Since(start)
	metrics.RecordEvent(ctx, eventType, res.outcome, latency)
	attrs := []slog.Attr{slog.String("outcome", res.outcome), slog.Int("status", res.status),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000)}
	if ev != nil {
		attrs = append(attrs, slog.String("event.id", ev.ID()), slog.String("event.type", ev.Type()), slog.String("event.source", ev.Source()))
	} else {
		attrs = append(attrs, slog.String("remote", r.RemoteAddr))
	}
	level := slog.LevelInfo
	switch {
	case res.status >= 500:
		level = slog.LevelError
	case res.status >= 400:
		level = slog.LevelWarn
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	function.Logger(ctx).LogAttrs(ctx, level, "external CI event handled", attrs...)
}

// handle runs the checks of the package documentation in order; ev receives the decoded event.
func (rt *Route) handle(ctx context.Context, w http.ResponseWriter, r *http.Request, ev **cloudevents.Event) result {
	maxBody := rt.MaxBody
	if maxBody <= 0 {
		maxBody = cisignature.DefaultMaxBody
	}
	body, err := cisignature.ReadBody(w, r, maxBody)
	if err != nil {
		return rejection(err)
	}

	if at := events.InvalidUTF8(body); at >= 0 {
		return badInput("body is not valid UTF-8 (invalid byte at offset %d)", at)
	}

	msg := cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body)))
	enc := msg.ReadEncoding()
	switch enc {
	case binding.EncodingUnknown:
		return badInput("not a CloudEvent: no ce-specversion header (binary mode) and content type %q is not application/cloudevents+json (structured mode)", r.Header.Get("Content-Type"))
	case binding.EncodingBatch:
		return badInput("batched CloudEvents are not accepted: send one event per request")
	case binding.EncodingBinary:
		if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
			return result{status: http.StatusUnsupportedMediaType, outcome: outcomeBadInput,
				body: fmt.Sprintf("binary mode: Content-Type %q is not application/json: the build report's data is JSON", ct)}
		}
	}
	e, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return badInput("cannot decode CloudEvent: %v", err)
	}
	*ev = e
	if err := events.CheckEnvelope(*e); err != nil {
		return badInput("%v", err)
	}
	if e.Type() != events.TypeBuildReport {
		return badInput("event type %q is not accepted here: send %s", e.Type(), events.TypeBuildReport)
	}
	report, err := events.DecodeBuildReport(*e)
	if err != nil {
		return badInput("%v", err)
	}
	ctx = function.WithJob(ctx, report.Namespace, report.Job)
	signed, err := SignedContent(enc, r.Header, body)
	if err != nil {
		return rejection(err)
	}

	err = cisignature.Verify(ctx, cisignature.VerifyInput{
		Namespace: report.Namespace, Signature: r.Header.Get(cisignature.Header), Body: signed,
		Source: e.Source(), ID: e.ID(), Keys: rt.Keys, Replay: rt.Replay,
		Now: rt.now(), MaxAge: rt.MaxAge, MaxSkew: rt.MaxSkew,
		// The raw body was bounded by ReadBody; the signed content adds the header block.
		MaxBody: maxBody + maxSignedHeaders,
	})
	if err != nil {
		return rejection(err)
	}

	out, err := rt.Executor.Run(ctx, report.Namespace, report.Job, observe(report))
	var ws *wrongStateError
	switch {
	case errors.As(err, &ws):
		return result{status: http.StatusConflict, outcome: outcomeWrongState, body: ws.msg + "; the job was not changed"}
	case err != nil:
		return serverError(err)
	case out.Job == nil:
		return result{status: http.StatusNotFound, outcome: outcomeUnknownJob,
			body: fmt.Sprintf("job %s/%s not found; nothing was changed", report.Namespace, report.Job)}
	case !out.Written:
		// observe checked what Decide checks; this is the state machine refusing anyway.
		return result{status: http.StatusConflict, outcome: outcomeWrongState,
			body: fmt.Sprintf("job %s/%s (phase %s) did not take the report; the job was not changed", report.Namespace, report.Job, out.Job.Status.Phase)}
	}
	return result{status: http.StatusOK, outcome: outcomeApplied, body: fmt.Sprintf("job %s/%s: %s -> %s: %s",
		report.Namespace, report.Job, out.PreviousPhase, out.Job.Status.Phase, out.Job.Status.Message)}
}

// observe turns the verified report into the observation, refusing a job that does not wait
// for an external build. It runs on the job as freshly read for the write, so the check and
// the decision see the same state.
func observe(report events.BuildReport) transition.Observer {
	return func(_ context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		name := job.Namespace + "/" + job.Name
		if s := strategy(job); s != v1alpha1.BuildStrategyExternal {
			return statemachine.Observation{}, wrongState("job %s builds with %s; reports are accepted only for strategy %s", name, s, v1alpha1.BuildStrategyExternal)
		}
		if job.Status.Phase != v1alpha1.PhaseBuilding {
			phase := job.Status.Phase
			if phase == "" {
				phase = "(none yet)"
			}
			return statemachine.Observation{}, wrongState("job %s is in phase %s; reports are accepted only in phase %s", name, phase, v1alpha1.PhaseBuilding)
		}
		if report.Status == events.BuildSucceeded {
			return statemachine.Observation{Kind: statemachine.ExternalBuildSucceeded, Image: report.ImageReference()}, nil
		}
		return statemachine.Observation{Kind: statemachine.ExternalBuildFailed, Message: report.Message}, nil
	}
}

// strategy describes how job builds, as the state machine sees it: the strategy recorded when
// the build started (a spec edit cannot redirect a build in flight), else the spec's.
func strategy(job *v1alpha1.NotebookValidationJob) string {
	if !statemachine.BuildEnabled(job) {
		return "no build (spec.podConfig.buildConfig is not enabled)"
	}
	if bs := job.Status.BuildStatus; bs != nil && bs.Strategy != "" && job.Status.Phase == v1alpha1.PhaseBuilding {
		return bs.Strategy
	}
	if s := job.Spec.PodConfig.BuildConfig.Strategy; s != "" {
		return s
	}
	return v1alpha1.BuildStrategyS2I
}

func (rt *Route) now() time.Time {
	if rt.Now != nil {
		return rt.Now()
	}
	return time.Now()
}

func badInput(format string, args ...any) result {
	return result{status: http.StatusBadRequest, outcome: outcomeBadInput, body: fmt.Sprintf(format, args...)}
}

// rejection answers an error of the verification steps: cisignature's sentinels are the
// caller's problem and named to it; anything else (an API failure) is ours.
func rejection(err error) result {
	status := cisignature.HTTPStatus(err)
	outcome := outcomeBadInput
	switch status {
	case http.StatusInternalServerError:
		return serverError(err)
	case http.StatusRequestEntityTooLarge:
		outcome = outcomeTooLarge
	case http.StatusUnauthorized:
		outcome = outcomeUnauthorized
	case http.StatusConflict:
		outcome = outcomeReplayed
	}
	return result{status: status, outcome: outcome, body: cisignature.PublicMessage(err), err: err}
}

// isJSON reports whether a Content-Type header is application/json (parameters such as
// charset allowed).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// serverError answers a failure that is not the caller's: the details go to our log only.
func serverError(err error) result {
	const retry = "; send the report again as a new event"
	switch {
	case apierrors.IsTooManyRequests(err), errors.Is(err, function.ErrRateLimited):
		res := result{status: http.StatusTooManyRequests, outcome: outcomeRateLimited, body: "rate limited" + retry, err: err}
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			res.retryAfter = time.Duration(s) * time.Second
		}
		return res
	case errors.Is(err, function.ErrConflict), errors.Is(err, function.ErrUnavailable),
		apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return result{status: http.StatusServiceUnavailable, outcome: outcomeUnavailable, body: "temporarily unavailable" + retry, err: err}
	}
	return result{status: http.StatusInternalServerError, outcome: outcomeRetry, body: "internal error" + retry, err: err}
}
