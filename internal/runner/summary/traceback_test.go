package summary_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// deepTraceback is an IPython-style traceback of a recursion depth frames deep; its last line
// names the error.
func deepTraceback(depth int) string {
	var b strings.Builder
	b.WriteString("---------------------------------------------------------------------------\nZeroDivisionError                         Traceback (most recent call last)\n")
	for i := range depth {
		fmt.Fprintf(&b, "Cell In[3], line %d, in level_%d(n)\n----> %d     return level_%d(n - 1)\n\n", i+2, i, i+2, i+1)
	}
	b.WriteString("Cell In[3], line 99, in leaf()\n----> 99     return 1 / 0\n\nZeroDivisionError: division by zero")
	return b.String()
}

func TestTracebackTailKeepsTheLastWholeLines(t *testing.T) {
	tb := deepTraceback(40)
	got := summary.TracebackTail(tb, 300)
	if len(got) > 300 {
		t.Fatalf("tail is %d bytes, want <= 300", len(got))
	}
	if !strings.HasPrefix(got, "…\n") {
		t.Errorf("tail %q does not start with the cut marker line", got)
	}
	if !strings.HasSuffix(got, "ZeroDivisionError: division by zero") || !strings.Contains(got, "return 1 / 0") {
		t.Errorf("tail lost the error and its frame: %q", got)
	}
	kept := strings.TrimPrefix(got, "…\n")
	if !strings.HasPrefix(tb[len(tb)-len(kept):], kept) || (len(kept) < len(tb) && tb[len(tb)-len(kept)-1] != '\n') {
		t.Errorf("tail does not start at a line of the traceback: %q", kept)
	}
	if short := "ValueError: x"; summary.TracebackTail(short, 300) != short {
		t.Errorf("a traceback within the limit must be kept whole")
	}
	// One last line longer than the limit keeps its end, cut on a rune boundary.
	long := "RuntimeError: " + strings.Repeat("é", 400)
	got = summary.TracebackTail(long, 101)
	if len(got) > 101 || !utf8.ValidString(got) || !strings.HasSuffix(got, "éé") {
		t.Errorf("long line tail: %d bytes, valid %v: %q", len(got), utf8.ValidString(got), got)
	}
}

// TestEncodeKeepsTheFailingCellsTraceback: a failing run of a large notebook with a deep
// traceback still fits the termination message, and what survives is the traceback's end.
func TestEncodeKeepsTheFailingCellsTraceback(t *testing.T) {
	tb := deepTraceback(200)
	fail := summary.Cell{Index: 150, Status: summary.CellFailure, DurationMs: 3, Error: "ZeroDivisionError: division by zero", Traceback: tb}
	var results []summary.Cell
	for i := range 150 {
		results = append(results, summary.Cell{Index: i, Status: summary.CellSuccess, DurationMs: 12})
	}
	results = append(results, fail)
	s := summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 150 failed: ZeroDivisionError: division by zero",
		Cells: summary.Counts{Total: 151, Passed: 150, Failed: 1}, FirstFailure: &fail, Results: results}
	b, err := summary.Encode(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > summary.MaxBytes {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, err := summary.Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	ff := got.FirstFailure.Traceback
	if len(ff) > summary.MaxTraceback || !strings.HasSuffix(ff, "ZeroDivisionError: division by zero") || !strings.Contains(ff, "return 1 / 0") {
		t.Errorf("traceback kept (%d bytes): %q", len(ff), ff)
	}
	if len(ff) < summary.MaxTraceback/2 {
		t.Errorf("the traceback was shortened to %d bytes while per-cell results of passing cells were kept (%d)", len(ff), len(got.Results))
	}
	if fail.Traceback != tb {
		t.Errorf("Encode changed its input's first failure")
	}
}

func TestCheckRefusesMisplacedOrOversizedTracebacks(t *testing.T) {
	fail := summary.Cell{Index: 1, Status: summary.CellFailure, Error: "E: x", Traceback: "E: x"}
	base := summary.Summary{V: summary.SchemaVersion, Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "m",
		Cells: summary.Counts{Total: 2, Passed: 1, Failed: 1}}
	cases := map[string]func(*summary.Summary){
		"on a result": func(s *summary.Summary) {
			s.Results = []summary.Cell{{Index: 0, Status: summary.CellSuccess, Traceback: "x"}}
		},
		"on a passing first": func(s *summary.Summary) {
			s.Reason, s.FirstFailure.Status = summary.ReasonCheckFailed, summary.CellSuccess
		},
		"longer than the limit": func(s *summary.Summary) { s.FirstFailure.Traceback = strings.Repeat("x", summary.MaxTraceback+1) },
	}
	ok := base
	ok.FirstFailure = &fail
	if err := ok.Check(); err != nil {
		t.Fatalf("a first failure with a traceback: %v", err)
	}
	for name, mutate := range cases {
		s := base
		ff := fail
		s.FirstFailure = &ff
		mutate(&s)
		if err := s.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
