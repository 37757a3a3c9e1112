package main

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/codes"

	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
)

// TestCellSpans: the driver's events become a "kernel start" span lasting what the driver
// reported and one "cell" span per cell with its index and status, failed with the error's
// class (never its message) when the cell failed, all under the execute span.
func TestCellSpans(t *testing.T) {
	rec := tracingtest.Record(t)
	ctx, exec := tracing.Tracer().Start(context.Background(), spanExecute)
	c := newCellSpans(ctx)
	for _, ev := range []execute.Event{
		{Event: "start", Kernel: "python3", StartupMs: 1500},
		{Event: "cell_start", Index: 0},
		{Event: "cell", Index: 0, Status: execute.StatusSuccess, Ms: 3},
		{Event: "cell_start", Index: 1},
		{Event: "cell", Index: 1, Status: execute.StatusFailure, EName: "ZeroDivisionError", EValue: "secret in message", Ms: 2},
		{Event: "cell", Index: 2, Status: execute.StatusSkipped},
	} {
		c.event(ev)
	}
	exec.End()
	ks := tracingtest.Named(rec, spanKernelStart)
	if len(ks) != 1 || ks[0].EndTime().Sub(ks[0].StartTime()).Milliseconds() != 1500 || tracingtest.Attrs(ks[0])[attrKernel] != "python3" {
		t.Errorf("kernel start spans %v", ks)
	}
	cells := tracingtest.Named(rec, spanCell)
	if len(cells) != 3 {
		t.Fatalf("cell spans: %d", len(cells))
	}
	for i, want := range []string{execute.StatusSuccess, execute.StatusFailure, execute.StatusSkipped} {
		a := tracingtest.Attrs(cells[i])
		if a[attrCellStatus] != want || a[attrCellIndex] != string(rune('0'+i)) || cells[i].Parent().SpanID() != exec.SpanContext().SpanID() {
			t.Errorf("cell %d: attributes %v parent %v", i, a, cells[i].Parent())
		}
		for _, kv := range cells[i].Attributes() {
			if kv.Value.Emit() == "secret in message" {
				t.Errorf("cell %d carries the error's message", i)
			}
		}
	}
	if cells[1].Status().Code != codes.Error || tracingtest.Attrs(cells[1])[attrErrorType] != "ZeroDivisionError" {
		t.Errorf("failed cell: status %v attributes %v", cells[1].Status(), tracingtest.Attrs(cells[1]))
	}
}
