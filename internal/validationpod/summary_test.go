package validationpod

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// lyingSummaries are termination messages a notebook or image could leave in place of the
// runner's, each with the exit code and pod phase it arrives with and words the refusal names.
var lyingSummaries = []struct {
	name  string
	msg   string
	exit  int32
	phase corev1.PodPhase
	why   string
}{
	{"passed with failed cells", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":3,"passed":0,"failed":3,"skipped":0}}`,
		0, corev1.PodSucceeded, "3 code cells failed"},
	{"negative counts", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":-1,"passed":-5,"failed":0,"skipped":4}}`,
		0, corev1.PodSucceeded, "'/cells/total'"},
	{"total is not the sum", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":10,"passed":2,"failed":0,"skipped":0}}`,
		0, corev1.PodSucceeded, "cells.total 10 is not passed 2"},
	{"passed from a failed pod", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":1,"passed":1,"failed":0,"skipped":0}}`,
		0, corev1.PodFailed, "pod phase is Failed"},
	{"passed with a non-zero exit", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":1,"passed":1,"failed":0,"skipped":0}}`,
		1, corev1.PodFailed, "exited with code 1"},
	{"failed with exit code 0", `{"v":1,"result":"failed","reason":"CheckFailed","message":"x","cells":{"total":1,"passed":1,"failed":0,"skipped":0}}`,
		0, corev1.PodSucceeded, "exited with code 0"},
	{"reason outside the enum", `{"v":1,"result":"error","reason":"Rm -rf \u001b[31mPWNED","message":"x","cells":{"total":0,"passed":0,"failed":0,"skipped":0}}`,
		2, corev1.PodFailed, "'/reason'"},
	{"reason of another result", `{"v":1,"result":"passed","reason":"CellFailed","message":"x","cells":{"total":0,"passed":0,"failed":0,"skipped":0}}`,
		0, corev1.PodSucceeded, "reason CellFailed goes with result failed"},
	{"unknown field", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":0,"passed":0,"failed":0,"skipped":0},"trustMe":true}`,
		0, corev1.PodSucceeded, "trustMe"},
	{"duplicate key", `{"v":1,"result":"failed","reason":"Passed","message":"ok","cells":{"total":0,"passed":0,"failed":0,"skipped":0},"result":"passed"}`,
		0, corev1.PodSucceeded, `key "result" appears twice`},
	{"duplicate key in a nested object", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":0,"passed":0,"failed":5,"failed":0,"skipped":0}}`,
		0, corev1.PodSucceeded, `key "failed" appears twice`},
	{"wrong type", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":"1","passed":1,"failed":0,"skipped":0}}`,
		0, corev1.PodSucceeded, "'/cells/total'"},
	{"invalid UTF-8", "{\"v\":1,\"result\":\"passed\",\"reason\":\"Passed\",\"message\":\"\xff\",\"cells\":{\"total\":0,\"passed\":0,\"failed\":0,\"skipped\":0}}",
		0, corev1.PodSucceeded, "UTF-8"},
	{"more failed results than counted", `{"v":1,"result":"failed","reason":"CellFailed","message":"x","cells":{"total":2,"passed":1,"failed":1,"skipped":0},"firstFailure":{"i":1,"s":"Failure"},"results":[{"i":0,"s":"Failure"},{"i":1,"s":"Failure"}]}`,
		1, corev1.PodFailed, "2 cells with status Failure"},
	{"cell failure without a failed cell", `{"v":1,"result":"failed","reason":"CellFailed","message":"x","cells":{"total":1,"passed":1,"failed":0,"skipped":0}}`,
		1, corev1.PodFailed, "needs a failed cell"},
	{"matched comparison with mismatches", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":1,"passed":1,"failed":0,"skipped":0},"comparison":{"strategy":"exact","result":"matched","total":1,"matched":1,"mismatched":4}}`,
		0, corev1.PodSucceeded, "matched with 4 mismatched"},
	{"counts that overflow into a match", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":0,"passed":9223372036854775807,"failed":0,"skipped":1}}`,
		0, corev1.PodSucceeded, "cells.total 0 is not passed"},
}

func podWithNotebookMessage(msg string, exit int32, phase corev1.PodPhase) *corev1.Pod {
	reason := "Completed"
	if exit != 0 {
		reason = "Error"
	}
	p := &corev1.Pod{}
	p.Namespace, p.Name = "team-a", "nb-validation"
	p.Status = corev1.PodStatus{Phase: phase, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
		ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, exit, reason, msg)}}
	return p
}

func TestLyingSummaryFailsTheJobTerminally(t *testing.T) {
	for _, c := range lyingSummaries {
		t.Run(c.name, func(t *testing.T) {
			o := Classify(podWithNotebookMessage(c.msg, c.exit, c.phase))
			if o.State != StateFailed || o.Reason != ReasonInconsistent || o.Summary != nil {
				t.Fatalf("Classify = %s/%s (summary kept: %v), want %s/%s with no summary: %s", o.State, o.Reason, o.Summary != nil, StateFailed, ReasonInconsistent, o.Message)
			}
			if !strings.Contains(o.Message, c.why) || !strings.Contains(o.Message, "cannot be trusted") {
				t.Errorf("message %q does not say %q", o.Message, c.why)
			}
		})
	}
}

func TestPrepareMayOnlyReportErrors(t *testing.T) {
	p := podWithNotebookMessage("", 0, corev1.PodFailed)
	p.Status.ContainerStatuses = nil
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{terminated(PrepareContainer, 1, "Error",
		`{"v":1,"result":"failed","reason":"CheckFailed","message":"x","cells":{"total":0,"passed":0,"failed":0,"skipped":0}}`)}
	if o := Classify(p); o.State != StateFailed || o.Reason != ReasonInconsistent || !strings.Contains(o.Message, "prepare only ever reports errors") {
		t.Errorf("Classify = %s/%s %q, want Failed/%s", o.State, o.Reason, o.Message, ReasonInconsistent)
	}
}

// A summary that is not JSON at all (the runner killed before or while writing it) is the one
// summary failure a new pod can plausibly fix: it stays an infrastructure failure.
func TestTruncatedSummaryIsRetried(t *testing.T) {
	for _, msg := range []string{"", `{"v":1,"result":"failed","reason":"CellFai`} {
		o := Classify(podWithNotebookMessage(msg, 137, corev1.PodFailed))
		if o.State != StateInfraFailed {
			t.Errorf("message %q: Classify = %s/%s, want %s", msg, o.State, o.Reason, StateInfraFailed)
		}
	}
}

// What the runner really writes, even cut down by Encode to fit 4 KiB, is accepted whole.
func TestRunnerSummariesAreAccepted(t *testing.T) {
	long := strings.Repeat("Traceback line ", 500)
	var results []summary.Cell
	for i := range 300 {
		results = append(results, summary.Cell{Index: i, Status: summary.CellSuccess, DurationMs: 4, Error: ""})
	}
	results[299] = summary.Cell{Index: 299, Status: summary.CellFailure, Error: long}
	cases := []struct {
		s     summary.Summary
		exit  int32
		phase corev1.PodPhase
		state State
	}{
		{summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "299 code cells passed",
			Cells: summary.Counts{Total: 299, Passed: 299}, Results: results[:299],
			Comparison: &summary.Comparison{Strategy: "exact", Result: "matched", Total: 299, Matched: 299}}, 0, corev1.PodSucceeded, StateSucceeded},
		{summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: long,
			Cells: summary.Counts{Total: 300, Passed: 299, Failed: 1}, Results: results, FirstFailure: &results[299]}, 1, corev1.PodFailed, StateFailed},
		{summary.Summary{Result: summary.ResultError, Reason: summary.ReasonRefNotFound, Message: "no ref"}, 2, corev1.PodFailed, StateFailed},
	}
	for _, c := range cases {
		b, err := summary.Encode(c.s, 0)
		if err != nil {
			t.Fatal(err)
		}
		o := Classify(podWithNotebookMessage(string(b), c.exit, c.phase))
		if o.State != c.state || o.Summary == nil {
			t.Errorf("%s summary: Classify = %s/%s %q, want %s with the summary", c.s.Reason, o.State, o.Reason, o.Message, c.state)
		}
	}
}

// FuzzDecodeSummary: whatever the termination message holds, decoding never panics, what it
// accepts is consistent and survives a round trip through Encode, and what it refuses as JSON
// classifies as a terminal inconsistent summary.
func FuzzDecodeSummary(f *testing.F) {
	for _, c := range lyingSummaries {
		f.Add(c.msg, c.exit)
	}
	good, _ := summary.Encode(summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 1 failed",
		Cells: summary.Counts{Total: 2, Passed: 1, Failed: 1}, FirstFailure: &summary.Cell{Index: 1, Status: summary.CellFailure, Error: "ValueError: 7"}}, 0)
	f.Add(string(good), int32(1))
	f.Add("", int32(137))
	f.Add(`{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":0,"passed":0,"failed":0,"skipped":0},"results":[]}`, int32(0))
	f.Add(`{"v":1,"result":"passed"`, int32(0))
	f.Fuzz(func(t *testing.T, msg string, exit int32) {
		s, err := DecodeSummary(msg)
		if err == nil {
			if cerr := s.Check(); cerr != nil {
				t.Fatalf("accepted a summary that fails Check: %v", cerr)
			}
			b, eerr := summary.Encode(s, 1<<20)
			if eerr != nil {
				t.Fatalf("re-encode accepted summary: %v", eerr)
			}
			back, derr := DecodeSummary(string(b))
			if derr != nil {
				t.Fatalf("re-encoded summary refused: %v\n%s", derr, b)
			}
			if b2, _ := summary.Encode(back, 1<<20); !bytes.Equal(b, b2) {
				t.Fatalf("round trip changed the summary:\n%s\n%s", b, b2)
			}
		}
		phase := corev1.PodFailed
		if exit == 0 {
			phase = corev1.PodSucceeded
		}
		o := Classify(podWithNotebookMessage(msg, exit, phase))
		switch {
		case errors.Is(err, summary.ErrInvalid) && (o.State != StateFailed || o.Reason != ReasonInconsistent):
			t.Fatalf("invalid summary (%v) classified %s/%s", err, o.State, o.Reason)
		case o.State == StateSucceeded && (err != nil || exit != 0 || s.Result != summary.ResultPassed || s.Cells.Failed != 0):
			t.Fatalf("succeeded with exit %d, error %v, summary %+v", exit, err, s)
		}
	})
}
