package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlops-dev/nbv/internal/otlpjson"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/tracing"
)

// Span names of the runner: "clone" (prepare), "execute" with "kernel start" and one "cell"
// per code cell (execute).
const (
	spanClone       = "clone"
	spanExecute     = "execute"
	spanKernelStart = "kernel start"
	spanCell        = "cell"
	attrCellIndex   = "nbv.cell.index"
	attrCellStatus  = "nbv.cell.status"
	attrErrorType   = "error.type"
	attrKernel      = "nbv.kernel.name"
	attrCommit      = "vcs.ref.head.revision"
)

// traceFlushTimeout bounds the export at exit, so an unreachable endpoint delays the pod's end
// by at most this much.
const traceFlushTimeout = 5 * time.Second

// startTracing exports the runner's spans when the pod was given an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, set only when the installer configured one for pods) and
// parents them on TRACEPARENT, the span of the function that created the pod. Without an
// endpoint it does nothing. end flushes.
func startTracing(ctx context.Context, stderr io.Writer) (context.Context, func()) {
	stop, err := tracing.Start(ctx, tracing.Options{Endpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), ServiceName: "nbv-runner",
		Exporter: otlpjson.New})
	if err != nil {
		// Tracing is an aid: a bad endpoint must not fail the validation.
		fmt.Fprintf(stderr, "nbv-runner: tracing off: %v\n", err)
		return ctx, func() {}
	}
	return tracing.FromTraceparent(ctx, os.Getenv(tracing.EnvTraceparent)), func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
		defer cancel()
		if err := stop(fctx); err != nil {
			fmt.Fprintf(stderr, "nbv-runner: %v\n", err)
		}
	}
}

// endSpan ends span, failed with reason when err is not nil.
func endSpan(span trace.Span, reason string, err error) {
	if err != nil {
		span.SetAttributes(attribute.String(attrErrorType, reason))
		span.SetStatus(codes.Error, reason)
	}
	span.End()
}

// cellSpans turns the driver's events into spans under the execute span: "kernel start"
// (ending when the start event arrives, as long as the driver reported it took) and one "cell"
// per cell, from its cell_start (or its reported duration) to its end, with its status.
type cellSpans struct {
	ctx     context.Context
	mu      sync.Mutex
	started map[int]time.Time
}

func newCellSpans(ctx context.Context) *cellSpans {
	return &cellSpans{ctx: ctx, started: map[int]time.Time{}}
}

func (c *cellSpans) event(ev execute.Event) {
	if !tracing.Enabled() {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Event {
	case "start":
		_, s := tracing.Tracer().Start(c.ctx, spanKernelStart, trace.WithTimestamp(now.Add(-time.Duration(ev.StartupMs)*time.Millisecond)),
			trace.WithAttributes(attribute.String(attrKernel, ev.Kernel)))
		s.End(trace.WithTimestamp(now))
	case "cell_start":
		c.started[ev.Index] = now
	case "cell":
		from, ok := c.started[ev.Index]
		if !ok {
			from = now.Add(-time.Duration(ev.Ms) * time.Millisecond)
		}
		_, s := tracing.Tracer().Start(c.ctx, spanCell, trace.WithTimestamp(from),
			trace.WithAttributes(attribute.Int(attrCellIndex, ev.Index), attribute.String(attrCellStatus, ev.Status)))
		if ev.Status == execute.StatusFailure || ev.Status == execute.StatusTimeout {
			// The exception's class only: its message may hold what the notebook printed.
			s.SetAttributes(attribute.String(attrErrorType, ev.EName))
			s.SetStatus(codes.Error, ev.Status)
		}
		s.End(trace.WithTimestamp(now))
	}
}
