package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/otlpjson"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/version"
)

// Handler handles one event: it reads fresh state, performs at most one transition and returns
// the reply event (or nil). The error it returns chooses the HTTP answer (package documentation).
type Handler func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error)

// metricsFlushTimeout bounds the final metric (and trace) export, so an unreachable collector cannot keep
// a terminating pod alive past its grace period.
const metricsFlushTimeout = 5 * time.Second

// server is the HTTP side of the runtime. It decodes requests with sdk-go's HTTP protocol
// binding but does its own dispatch: sdk-go's receiver answers a structured-mode body that is
// not JSON with 500 (the broker would redeliver it forever) and a non-CloudEvent request with
// 415, and it hands each request's message to whichever goroutine reads its channel first.
type server struct {
	cfg      Config
	handler  Handler
	accepted map[string]bool
	// routed maps an event type a route takes (EventRoute) to the route's path.
	routed map[string]string

	draining atomic.Bool
	inflight atomic.Int64
}

func newServer(cfg Config, h Handler) (*server, error) {
	cfg = cfg.withDefaults()
	if h == nil {
		return nil, errors.New("function: nil Handler")
	}
	if len(cfg.Types) == 0 {
		return nil, errors.New("function: Config.Types is empty: a function must name the event types it handles")
	}
	s := &server{cfg: cfg, handler: h, accepted: map[string]bool{}, routed: map[string]string{}}
	for _, t := range cfg.Types {
		if !events.HasSchema(t) {
			return nil, fmt.Errorf("function: event type %q has no schema in package schemas: every accepted type is validated at the edge", t)
		}
		s.accepted[t] = true
	}
	for path, h := range cfg.Routes {
		switch {
		case !strings.HasPrefix(path, "/"):
			return nil, fmt.Errorf("function: route %q: a path starts with /", path)
		case path == "/" || path == "/healthz" || path == "/readyz":
			return nil, fmt.Errorf("function: route %q: the runtime serves that path itself", path)
		case h == nil:
			return nil, fmt.Errorf("function: route %q: nil handler", path)
		}
		if er, ok := h.(EventRoute); ok {
			for _, t := range er.EventTypes() {
				if s.accepted[t] {
					return nil, fmt.Errorf("function: route %q takes event type %q, which %q also accepts", path, t, "/")
				}
				s.routed[t] = path
			}
		}
	}
	return s, nil
}

// EventRoute is a route (Config.Routes) that takes CloudEvents of its own types. A POST of one
// of those types to any other path is answered 404 naming the route's path, so a sender that
// got the path wrong (`/CI`, `/`) learns where to send instead of "type not handled".
type EventRoute interface {
	http.Handler
	EventTypes() []string
}

// Main is the whole of a function's main: the collector tuned for a short-lived process
// (tuneGC), configuration from the environment, Serve until SIGTERM, exit status 1 on failure.
func Main(h Handler, types ...string) {
	MainWithRoutes(h, nil, types...)
}

// MainWithRoutes is Main for a function that also serves Config.Routes.
func MainWithRoutes(h Handler, routes map[string]http.Handler, types ...string) {
	tuneGC()
	cfg, err := ConfigFromEnv()
	if err == nil {
		cfg.Types = types
		cfg.Routes = routes
		err = Serve(context.Background(), cfg, h)
	}
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("function failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

// Serve receives CloudEvents until ctx is cancelled or the process gets SIGTERM or SIGINT, then
// drains: readiness turns false, the listener closes (new connections are refused), in-flight
// events run to completion for up to Config.DrainTimeout (then their contexts are cancelled),
// metrics are flushed, and Serve returns. It returns nil after a clean drain.
func Serve(ctx context.Context, cfg Config, h Handler) error {
	s, err := newServer(cfg, h)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

func (s *server) run(ctx context.Context) error {
	cfg := s.cfg
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	flushMetrics, err := metrics.Start(ctx, metrics.Options{Endpoint: cfg.OTLPEndpoint, ServiceName: cfg.ServiceName})
	if err != nil {
		return fmt.Errorf("function %s: %w", cfg.ServiceName, err)
	}
	flushTraces, err := tracing.Start(ctx, tracing.Options{Endpoint: cfg.OTLPEndpoint, ServiceName: cfg.ServiceName, Exporter: otlpjson.New})
	if err != nil {
		s.flush(ctx, map[string]func(context.Context) error{"metrics": flushMetrics})
		return fmt.Errorf("function %s: %w", cfg.ServiceName, err)
	}
	defer s.flush(ctx, map[string]func(context.Context) error{"metrics": flushMetrics, "traces": flushTraces})
	if cfg.OTLPEndpoint != "" {
		// The SDK reports a failed periodic export here; by default with package log, a line
		// no log search of the function's JSON would find.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			cfg.Logger.Warn("telemetry not exported", slog.String("error", err.Error()))
		}))
	}

	ln := cfg.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", ":"+cfg.Port)
		if err != nil {
			return fmt.Errorf("function %s: listen on port %s: %w", cfg.ServiceName, cfg.Port, err)
		}
	}

	// Handlers run on a context that survives the shutdown signal (in-flight events must
	// finish) and is cancelled only when the drain timeout expires.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	srv := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return handlerCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cfg.Logger.Info("function serving", slog.String("service", cfg.ServiceName), slog.String("version", version.String()),
		slog.String("addr", ln.Addr().String()), slog.Any("types", cfg.Types), slog.Bool("metrics", cfg.OTLPEndpoint != ""))

	select {
	case err := <-served:
		return fmt.Errorf("function %s: serve: %w", cfg.ServiceName, err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	cfg.Logger.Info("function draining", slog.Int64("inflight", s.inflight.Load()), slog.Duration("timeout", cfg.DrainTimeout))
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	var drainErr error
	if err := srv.Shutdown(dctx); err != nil {
		left := s.inflight.Load()
		cancelHandlers()
		_ = srv.Close()
		drainErr = fmt.Errorf("function %s: drain: %d event(s) still in flight after %s: %w", cfg.ServiceName, left, cfg.DrainTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		drainErr = errors.Join(drainErr, fmt.Errorf("function %s: serve: %w", cfg.ServiceName, err))
	}
	cfg.Logger.Info("function stopped", slog.Bool("clean", drainErr == nil))
	return drainErr
}

// flush runs the exporters' final flushes (by what they export: "metrics", "traces") at
// once, all bounded by one metricsFlushTimeout, and logs each failure.
func (s *server) flush(ctx context.Context, flushes map[string]func(context.Context) error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsFlushTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for what, flush := range flushes {
		wg.Go(func() {
			if err := flush(fctx); err != nil {
				s.cfg.Logger.Warn(what+" not flushed", slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		writeText(w, http.StatusOK, "ok")
		return
	case "/readyz":
		if s.draining.Load() {
			writeText(w, http.StatusServiceUnavailable, "draining")
			return
		}
		writeText(w, http.StatusOK, "ok")
		return
	}
	route, isRoute := s.cfg.Routes[r.URL.Path]
	switch {
	case r.Method == http.MethodPost && isRoute:
		s.serveRoute(w, r, route)
	case r.Method == http.MethodPost:
		s.serveEvent(w, r)
	case r.Method == http.MethodOptions:
		s.webhookHandshake(w, r)
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		writeText(w, http.StatusMethodNotAllowed, "CloudEvents are POSTed")
	}
}

// webhookHandshake answers the CloudEvents webhook abuse-protection handshake
// (CloudEvents HTTP webhook spec, section 4): a sender asks whether it may deliver from an origin.
func (s *server) webhookHandshake(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST, OPTIONS")
	origin := r.Header.Get("WebHook-Request-Origin")
	if origin == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	allowed := ""
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			allowed = origin
			break
		}
	}
	if allowed == "" {
		writeText(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed to deliver to %s", origin, s.cfg.ServiceName))
		return
	}
	w.Header().Set("WebHook-Allowed-Origin", allowed)
	if r.Header.Get("WebHook-Request-Rate") != "" {
		w.Header().Set("WebHook-Allowed-Rate", "*")
	}
	w.WriteHeader(http.StatusOK)
}

// serveRoute hands one POST to a route with what serveEvent gives a handler: in-flight
// accounting for the drain, the request's Logger, and a 500 instead of a dropped connection
// when it panics. The ResponseWriter is passed unwrapped, so http.MaxBytesReader can still
// close the connection after an oversized body; routes write their answer last, so a panic
// finds nothing sent yet.
func (s *server) serveRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	st := &reqState{service: s.cfg.ServiceName, base: s.cfg.Logger.With(slog.String("service", s.cfg.ServiceName), slog.String("route", r.URL.Path))}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	defer func() {
		if v := recover(); v != nil {
			Logger(ctx).Error("route panicked", slog.String("error", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			writeText(w, http.StatusInternalServerError, "internal error")
		}
	}()
	h.ServeHTTP(w, r.WithContext(ctx))
	recordColdStart(ctx)
}

// processStart approximates the process's start: package initialisation runs before main.
var processStart = time.Now()

var coldStart sync.Once

// recordColdStart records, once per process, the time from its start to the first request
// answered (an event, or a route's request): what a cold start costs the first sender.
func recordColdStart(ctx context.Context) {
	coldStart.Do(func() { metrics.RecordColdStart(ctx, time.Since(processStart)) })
}

// serveEvent handles one POST: decode, check, call the handler, answer, log, count.
func (s *server) serveEvent(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	start := time.Now()
	st := &reqState{service: s.cfg.ServiceName, base: s.cfg.Logger.With(slog.String("service", s.cfg.ServiceName)), answerFirst: true}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	metricType := "other" // unaccepted types are not used as metric labels: senders choose them
	// The answer is sent whole before the work the handler left for after it (AfterAnswer).
	out := newBufferedAnswer()

	var ev *cloudevents.Event
	var handlerErr error
	var span *eventSpan
	a := func() answer {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		msg := cehttp.NewMessageFromHttpRequest(r)
		defer func() { _ = msg.Finish(nil) }()
		switch msg.ReadEncoding() {
		case binding.EncodingUnknown:
			return badInput("not a CloudEvent: no supported ce-specversion header (binary mode) and content type %q is not application/cloudevents+json (structured mode)",
				r.Header.Get("Content-Type"))
		case binding.EncodingBatch:
			return badInput("batched CloudEvents are not accepted: send one event per request")
		}
		var err error
		ev, err = binding.ToEvent(ctx, msg)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return answer{status: http.StatusRequestEntityTooLarge, outcome: outcomeTooLarge,
					body: fmt.Sprintf("body exceeds %d bytes", s.cfg.MaxBodyBytes)}
			}
			return badInput("cannot decode CloudEvent: %v", err)
		}
		st.base = st.base.With(slog.String("event.id", ev.ID()), slog.String("event.type", ev.Type()),
			slog.String("event.source", ev.Source()), slog.String("event.subject", ev.Subject()))
		ctx, span = startEventSpan(ctx, s.cfg.ServiceName, ev, start)
		if sc := trace.SpanContextFromContext(ctx); span != nil && sc.IsValid() {
			st.base = st.base.With(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		if err := events.CheckEnvelope(*ev); err != nil {
			return badInput("%v", err)
		}
		if path, ok := s.routed[ev.Type()]; ok {
			return answer{status: http.StatusNotFound, outcome: outcomeWrongPath,
				body: fmt.Sprintf("event type %q is accepted only at %s, not at %s: POST it to %s", ev.Type(), path, r.URL.Path, path)}
		}
		if !s.accepted[ev.Type()] {
			return badInput("event type %q is not handled by %s (accepted: %s)", ev.Type(), s.cfg.ServiceName, strings.Join(slices.Sorted(maps.Keys(s.accepted)), ", "))
		}
		metricType = ev.Type()
		if err := events.ValidateData(ev.Type(), ev.Data()); err != nil {
			return badInput("event %s: %v", ev.ID(), err)
		}
		span.decoded(nil)
		var reply *cloudevents.Event
		reply, handlerErr = s.call(ctx, *ev)
		if handlerErr != nil {
			var p *panicError
			if errors.As(handlerErr, &p) {
				return answer{status: http.StatusInternalServerError, outcome: outcomePanic, body: "internal error, will be redelivered"}
			}
			return classify(handlerErr)
		}
		if reply == nil {
			return answer{status: http.StatusAccepted, outcome: outcomeDone}
		}
		setReplyTraceparent(ctx, reply)
		if err := s.completeReply(ctx, reply); err != nil {
			// The handler's write happened; failing the request would only make the broker
			// redeliver an event whose work is done. The broken reply is logged and dropped.
			handlerErr = err
			return answer{status: http.StatusAccepted, outcome: outcomeReplyInvalid}
		}
		if err := cehttp.WriteResponseWriter(ctx, (*binding.EventMessage)(reply), http.StatusOK, out); err != nil {
			handlerErr = fmt.Errorf("write reply %s: %w", reply.ID(), err)
			return answer{status: 0, outcome: outcomeReply}
		}
		return answer{status: 0, outcome: outcomeReply} // already written
	}()

	if a.status != 0 {
		if a.retryAfter > 0 {
			out.Header().Set("Retry-After", strconv.Itoa(int((a.retryAfter+time.Second-1)/time.Second)))
		}
		writeText(out, a.status, a.body)
	}
	latency := time.Since(start)
	metrics.RecordEvent(ctx, metricType, a.outcome, latency)
	recordColdStart(ctx)

	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 400 && status < 500 {
		span.decoded(errors.New(a.body))
	}
	span.end(status, a.outcome, handlerErr)
	attrs := []slog.Attr{slog.String("outcome", a.outcome), slog.Int("status", status),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000)}
	if ev == nil {
		attrs = append(attrs, slog.String("remote", r.RemoteAddr))
	}
	level := slog.LevelInfo
	switch {
	case status >= 500 || a.outcome == outcomeReplyInvalid || (a.outcome == outcomeReply && handlerErr != nil):
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if handlerErr != nil {
		attrs = append(attrs, slog.String("error", handlerErr.Error()))
	} else if status >= 400 {
		attrs = append(attrs, slog.String("error", a.body))
	}
	var p *panicError
	if errors.As(handlerErr, &p) {
		attrs = append(attrs, slog.String("stack", p.stack))
	}
	Logger(ctx).LogAttrs(ctx, level, "event handled", attrs...)
	// Sent once the span, the metrics and the log line are done, as a response written to w
	// would have been when the handler returned; then the work left for after the answer.
	out.Header().Set(ServerTimingHeader, ServerTiming(time.Since(start)))
	if err := out.sendTo(w); err != nil {
		Logger(ctx).Warn("answer not sent", slog.String("error", err.Error()))
	}
	st.runAfterAnswer(ctx)
}

type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.value) }

// call runs the handler, turning a panic into an error so one bad event cannot kill the
// process and every other in-flight event with it.
func (s *server) call(ctx context.Context, e cloudevents.Event) (reply *cloudevents.Event, err error) {
	defer func() {
		if v := recover(); v != nil {
			reply, err = nil, &panicError{value: v, stack: string(debug.Stack())}
		}
	}()
	return s.handler(ctx, e)
}

// completeReply fills the attributes a handler may leave out and validates the reply, including
// its data against the schema of its type: we emit only what subscribers can rely on.
func (s *server) completeReply(ctx context.Context, reply *cloudevents.Event) error {
	if reply.ID() == "" {
		reply.SetID(uuid.NewString())
	}
	if reply.Source() == "" {
		reply.SetSource(Source(ctx))
	}
	if reply.Time().IsZero() {
		reply.SetTime(time.Now())
	}
	if err := reply.Validate(); err != nil {
		return fmt.Errorf("reply %s is not a valid CloudEvent: %w", reply.ID(), err)
	}
	if err := events.ValidateData(reply.Type(), reply.Data()); err != nil {
		return fmt.Errorf("reply %s: %w", reply.ID(), err)
	}
	return nil
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if body != "" {
		_, _ = w.Write([]byte(body + "\n"))
	}
}
