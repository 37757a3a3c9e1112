package integration

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/podcompleted"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/statustext"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// finishPod plays the kubelet: the prepare container succeeded, the notebook container exited
// with exitCode leaving message as its termination message, and the pod is in phase.
func (f *fixture) finishPod(name string, exitCode int32, phase corev1.PodPhase, message string) {
	f.t.Helper()
	pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	now := metav1.Now()
	reason := "Completed"
	if exitCode != 0 {
		reason = "Error"
	}
	pod.Status.Phase = phase
	pod.Status.StartTime = &now
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: validationpod.PrepareContainer, Ready: true,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: validationpod.NotebookContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Reason: reason, Message: message, StartedAt: now, FinishedAt: now}}}}
	if _, err := f.kube.CoreV1().Pods(f.ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("kubelet: update pod %s status: %v", name, err)
	}
}

// TestLyingSummaryFailsTheJob: a notebook or image that writes its own termination message
// cannot make a job succeed, nor make the functions retry: each lie ends the job Failed as
// InconsistentSummary, with a message naming the contradiction and no results from it. A
// truthful runner's summary still succeeds, on the same stack.
func TestLyingSummaryFailsTheJob(t *testing.T) {
	f := newFixture(t, 1)
	const cells = `"cells":{"total":1,"passed":1,"failed":0,"skipped":0}`
	lies := []struct {
		job, msg string
		exit     int32
		phase    corev1.PodPhase
		why      string
	}{
		{"passed-with-failures", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":3,"passed":0,"failed":3,"skipped":0}}`,
			0, corev1.PodSucceeded, "3 code cells failed"},
		{"negative-counts", `{"v":1,"result":"passed","reason":"Passed","message":"ok","cells":{"total":-1,"passed":-5,"failed":0,"skipped":4}}`,
			0, corev1.PodSucceeded, "'/cells/total'"},
		{"passed-in-failed-pod", `{"v":1,"result":"passed","reason":"Passed","message":"ok",` + cells + `}`,
			0, corev1.PodFailed, "pod phase is Failed"},
		{"reason-off-enum", `{"v":1,"result":"error","reason":"\u001b[31mTrustMe","message":"x",` + cells + `}`,
			2, corev1.PodFailed, "'/reason'"},
		{"unknown-field", `{"v":1,"result":"passed","reason":"Passed","message":"ok",` + cells + `,"admin":true}`,
			0, corev1.PodSucceeded, "admin"},
		{"duplicate-key", `{"v":1,"result":"failed","reason":"Passed","message":"ok",` + cells + `,"result":"passed"}`,
			0, corev1.PodSucceeded, `key "result" appears twice`},
	}
	for _, l := range lies {
		f.createJob(l.job, nil)
	}
	f.createJob("truthful", nil)
	for _, l := range lies {
		job := f.waitJob(l.job, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
		f.finishPod(job.Status.ValidationPodName, l.exit, l.phase, l.msg)
	}
	job := f.waitJob("truthful", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())

	for _, l := range lies {
		job := f.waitJob(l.job, "Failed", phaseIs(v1alpha1.PhaseFailed))
		ready := findCondition(job, v1alpha1.ConditionReady)
		if ready == nil || ready.Reason != statemachine.ReasonInconsistentSummary {
			t.Errorf("%s: Ready = %+v, want reason %s", l.job, ready, statemachine.ReasonInconsistentSummary)
		}
		if !strings.Contains(job.Status.Message, "cannot be trusted") || !strings.Contains(job.Status.Message, l.why) {
			t.Errorf("%s: message %q does not name %q", l.job, job.Status.Message, l.why)
		}
		if job.Status.RetryCount != 0 || len(job.Status.Results) != 0 || strings.ContainsRune(job.Status.Message, 0x1b) {
			t.Errorf("%s: retries %d, results %d, message %q; want no retry, no results, clean text", l.job, job.Status.RetryCount, len(job.Status.Results), job.Status.Message)
		}
		f.expectEvents(job, statemachine.ReasonInconsistentSummary)
	}
	if job := f.waitJob("truthful", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded)); len(job.Status.Results) != 2 {
		t.Errorf("truthful job: %d results, want 2", len(job.Status.Results))
	}
}

// hostileText is what a notebook can print: colours, an OSC-8 link, NUL and BEL, a bidi
// override, with its one readable sentence at the start; as JSON it takes about size bytes.
func hostileText(size int) string {
	noise := "\x1b[1;31mred\x1b[0m \x1b]8;;https://evil.example/\x07link\x1b]8;;\x07 \x00\x07\u202e "
	encoded, _ := json.Marshal(noise)
	return "ValueError: the data is bad " + strings.Repeat(noise, size/len(encoded))
}

// TestHostileMessageIsBoundedAndClean: a consistent summary whose failing cell's error is
// 1.4 MB of escape sequences and control characters (the pod object carries it: the API
// server does not enforce the kubelet's 4 KiB; etcd's 1.5 MiB request limit does) fails the job with a status, an Event and a
// reply event that are bounded, clean, and still say what failed; the reply validates against
// its schema. The functions' handlers run in process so the test receives the reply.
func TestHostileMessageIsBoundedAndClean(t *testing.T) {
	f := newSweepFixture(t)
	job, pod := f.validating("hostile")
	// Without per-cell results the first failure becomes status.results: the text is stored once.
	failing := summary.Cell{Index: 2, Status: summary.CellFailure, Error: hostileText(1_400_000)}
	raw, err := json.Marshal(summary.Summary{V: summary.SchemaVersion, Result: summary.ResultFailed, Reason: summary.ReasonCellFailed,
		Message: "cell 2 failed", Cells: summary.Counts{Total: 2, Passed: 1, Failed: 1}, FirstFailure: &failing})
	if err != nil {
		t.Fatal(err)
	}
	f.finishPod(pod, 1, corev1.PodFailed, string(raw))

	px, pstore := f.executor("pod-completed")
	finished, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := podcompleted.Handler(px, pstore)(f.ctx, f.objectEvent(finished))
	if err != nil || reply == nil {
		t.Fatalf("pod-completed: reply %v, error %v", reply, err)
	}
	if err := events.ValidateData(reply.Type(), reply.Data()); err != nil {
		t.Errorf("reply event fails its schema: %v", err)
	}
	var data events.Transition
	if err := json.Unmarshal(reply.Data(), &data); err != nil {
		t.Fatal(err)
	}

	got := f.get("hostile")
	if got.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("phase %s (%s), want Failed", got.Status.Phase, got.Status.Message[:min(200, len(got.Status.Message))])
	}
	list, err := f.kube.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID)})
	if err != nil {
		t.Fatal(err)
	}
	var eventMessage string
	for _, e := range list.Items {
		if e.Reason == statemachine.ReasonNotebookFailed {
			eventMessage = e.Message
		}
	}
	texts := []struct {
		where string
		text  string
		limit int
	}{
		{"status.message", got.Status.Message, statustext.MaxMessage},
		{"reply event message", data.Message, statustext.MaxMessage},
		{"Event message", eventMessage, statustext.MaxEventMessage},
		{"Ready condition message", findCondition(got, v1alpha1.ConditionReady).Message, statustext.MaxConditionMessage},
	}
	for _, r := range got.Status.Results {
		if r.Status == v1alpha1.CellStatusFailure {
			texts = append(texts, struct {
				where string
				text  string
				limit int
			}{"results[].errorMessage", r.ErrorMessage, statustext.MaxCellText})
		}
	}
	if len(texts) != 5 {
		t.Fatalf("found %d texts (no Event, or no failed result?): %+v", len(texts), got.Status.Results)
	}
	for _, x := range texts {
		if len(x.text) > x.limit || strings.ContainsAny(x.text, "\x1b\x00\x07\u202e") || strings.Contains(x.text, "evil.example") {
			t.Errorf("%s: %d bytes (limit %d), or escape/control characters left: %q", x.where, len(x.text), x.limit, x.text[:min(120, len(x.text))])
		}
		if !strings.Contains(x.text, "ValueError: the data is bad") || !strings.Contains(x.text, "[truncated") {
			t.Errorf("%s lost the readable error or the truncation marker: %q", x.where, x.text[:min(120, len(x.text))])
		}
	}
}
