package bench

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/activator"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

func TestParseMix(t *testing.T) {
	m, err := ParseMix(" nobuild=3, tekton=1 ,s2i=0")
	if err != nil || m[NoBuild] != 3 || m[Tekton] != 1 || m[S2I] != 0 || m.String() != "nobuild=3,tekton=1" {
		t.Errorf("ParseMix = %v (%s), %v", m, m, err)
	}
	for _, bad := range []string{"", "nobuild=0", "kaniko=1", "nobuild", "nobuild=-1", "nobuild=x", "nobuild=1,nobuild=2"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

// TestPlan: the mix is kept over the run and in every stretch of it, names are unique, and the
// planned failures follow their rule.
func TestPlan(t *testing.T) {
	plan := Plan(100, Mix{NoBuild: 2, Tekton: 1, External: 1})
	count := map[Kind]int{}
	names := map[string]bool{}
	buildFails, notebookFails := 0, 0
	for i, p := range plan {
		count[p.Kind]++
		if names[p.Name] {
			t.Errorf("name %s twice", p.Name)
		}
		names[p.Name] = true
		if p.BuildFails {
			buildFails++
			if p.Kind == NoBuild || p.NotebookFails || p.WantsPod() || p.WantPhase() != v1alpha1.PhaseFailed {
				t.Errorf("%+v: a failed build means no pod and Failed", p)
			}
		}
		if p.NotebookFails {
			notebookFails++
		}
		if i < 4 && count[NoBuild] > 2 {
			t.Errorf("the first 4 jobs hold %d no-build jobs, want the mix in every stretch", count[NoBuild])
		}
		if (p.Kind == NoBuild) != (p.Job("ns").Spec.PodConfig.BuildConfig == nil) {
			t.Errorf("%s: build config %+v", p.Name, p.Job("ns").Spec.PodConfig.BuildConfig)
		}
	}
	if count[NoBuild] != 50 || count[Tekton] != 25 || count[External] != 25 || count[S2I] != 0 {
		t.Errorf("kinds %v, want 50/25/25/0", count)
	}
	if buildFails != 4 || notebookFails != 19 { // every 10th of 25+25 builds; every 5th of 96 validations
		t.Errorf("%d build failures and %d notebook failures, want 4 and 19", buildFails, notebookFails)
	}
}

func TestLatency(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	l := latency("hop", samples)
	if l.N != 100 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 {
		t.Errorf("latency = %+v", l)
	}
	if l := latency("none", nil); l.N != 0 || l.Max != 0 {
		t.Errorf("no samples: %+v", l)
	}
}

func auditEvent(user, verb, resource, sub, name string, code int, req, resp string) controlplane.AuditEvent {
	var e controlplane.AuditEvent
	body := map[string]any{"verb": verb, "user": map[string]any{"username": user},
		"objectRef":      map[string]any{"resource": resource, "subresource": sub, "name": name},
		"responseStatus": map[string]any{"code": code}}
	if req != "" {
		body["requestObject"] = json.RawMessage(req)
	}
	if resp != "" {
		body["responseObject"] = json.RawMessage(resp)
	}
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &e); err != nil {
		panic(err)
	}
	return e
}

// TestAttribute: requests are attributed to the job they are about (itself, its children by
// their derived names, Events by the object they regard), status writes are sorted into
// changes, conflicts and writes that changed nothing (a write from an event's copy refused 422
// is a conflict, one that was taken a change), and the sources are kept apart.
func TestAttribute(t *testing.T) {
	const copyPatch = `[{"op":"test","path":"/metadata/resourceVersion","value":"2"},{"op":"add","path":"/status","value":{}}]`
	const jc, pc, src = "system:serviceaccount:nbv-system:nbv-job-created", "system:serviceaccount:nbv-system:nbv-pod-completed", "system:serviceaccount:nbv-system:source"
	functions := map[string]string{jc: "job-created", pc: "pod-completed"}
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "uid-a"}}
	pod := statemachine.PodName(job, 0)
	evs := []controlplane.AuditEvent{
		auditEvent(jc, "get", "notebookvalidationjobs", "", "a", 200, "", ""),
		auditEvent(jc, "patch", "notebookvalidationjobs", "status", "a", 200, `{"metadata":{"resourceVersion":"1"}}`, `{"metadata":{"resourceVersion":"2"}}`),
		auditEvent(jc, "patch", "notebookvalidationjobs", "status", "a", 409, `{"metadata":{"resourceVersion":"1"}}`, `{"kind":"Status"}`),
		auditEvent(jc, "create", "pods", "", pod, 201, "", ""),
		auditEvent(jc, "patch", "notebookvalidationjobs", "status", "a", 422, copyPatch, `{"kind":"Status"}`),
		auditEvent(jc, "patch", "notebookvalidationjobs", "status", "a", 200, copyPatch, `{"metadata":{"resourceVersion":"3"}}`),
		auditEvent(jc, "create", "events", "", "", 201, `{"regarding":{"name":"a"}}`, ""),
		auditEvent(pc, "get", "pods", "", pod, 200, "", ""),
		auditEvent(pc, "patch", "notebookvalidationjobs", "status", "a", 200, `{"metadata":{"resourceVersion":"2"}}`, `{"metadata":{"resourceVersion":"2"}}`),
		auditEvent(pc, "create", "events", "", "a.17f0c2", 201, `{}`, ""),
		auditEvent(pc, "list", "notebookvalidationjobs", "", "", 200, "", ""),
		auditEvent(pc, "patch", "notebookvalidationjobs", "status", "a", 503, `{"metadata":{"resourceVersion":"2"}}`, `{"kind":"Status"}`),
		auditEvent(pc, "patch", "notebookvalidationjobs", "status", "a", 422, `{"metadata":{"resourceVersion":"2"}}`, `{"kind":"Status"}`),
		auditEvent(src, "watch", "pods", "", "", 200, "", ""),
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	evs[0].RequestReceivedTimestamp, evs[0].StageTimestamp = t0, t0.Add(7*time.Millisecond)
	evs[7].RequestReceivedTimestamp, evs[7].StageTimestamp = t0, t0.Add(3*time.Millisecond)
	evs[8].StageTimestamp = t0                                                             // no received time: no server time
	evs[9].RequestReceivedTimestamp, evs[9].StageTimestamp = t0, t0.Add(-time.Millisecond) // clocks gone backwards: none either
	a := attribute(evs, functions, map[string]types.UID{"a": "uid-a"}, nil)
	if got := a.ServerTimeByFunction; len(got["job-created"]) != 1 || got["job-created"][0] != 7*time.Millisecond ||
		len(got["pod-completed"]) != 1 || got["pod-completed"][0] != 3*time.Millisecond {
		t.Errorf("API server time by function %v, want job-created [7ms], pod-completed [3ms]", got)
	}
	c := a.job("a")
	if c.Total != 12 || c.ByCall["create events"] != 2 || c.ByCall["get pods"] != 1 || c.ByCall["patch notebookvalidationjobs/status"] != 7 {
		t.Errorf("calls of job a: %+v", c)
	}
	if c.StatusWrites != 7 || c.Changed != 2 || c.Conflicts != 2 || c.NoOp != 1 || c.Unavailable != 1 || c.Other != 1 || c.OtherCodes[0] != 422 {
		t.Errorf("status writes of job a: %+v", c)
	}
	if a.ByFunction["job-created"] != 7 || a.ByFunction["pod-completed"] != 6 || a.TransitionsByFunction["job-created"] != 2 || a.TransitionsByFunction["pod-completed"] != 0 {
		t.Errorf("by function %v, transitions %v", a.ByFunction, a.TransitionsByFunction)
	}
	if a.ConflictsByFunction["job-created"] != 2 || a.ConflictsByFunction["pod-completed"] != 0 {
		t.Errorf("conflicts by function %v, want job-created's 409 and its refused copy", a.ConflictsByFunction)
	}
	if a.Shared["list notebookvalidationjobs"] != 1 || a.Sources["watch pods"] != 1 || len(a.Sources) != 1 {
		t.Errorf("shared %v, sources %v", a.Shared, a.Sources)
	}
	s := endState{plan: []Planned{{Name: "a"}}, calls: a}
	if inv := writesAreTransitions(s); inv.OK || !strings.Contains(inv.Violations[0], "1 changed nothing") || !strings.Contains(inv.Violations[0], "[422]") {
		t.Errorf("a write that changed nothing, and one refused with 422, passed: %+v", inv)
	}
	// Unavailable writes alone do not break it.
	a.jobs["a"] = &jobCalls{StatusWrites: 3, Changed: 1, Conflicts: 1, Unavailable: 1}
	if inv := writesAreTransitions(s); !inv.OK {
		t.Errorf("a write the API server could not take broke the invariant: %v", inv.Violations)
	}
}

// TestForbiddenWhileRestarting: a status write refused 403 by a kube-apiserver that was
// restarting (its RBAC cache still filling) is one the API server could not take; the same
// 403 at any other time is the function's fault and breaks the invariant.
func TestForbiddenWhileRestarting(t *testing.T) {
	const jc = "system:serviceaccount:nbv-system:nbv-job-created"
	functions := map[string]string{jc: "job-created"}
	restart := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	inWindow := func(at time.Time) bool { return !at.Before(restart) && at.Before(restart.Add(time.Minute)) }
	forbidden := func(at time.Time) controlplane.AuditEvent {
		e := auditEvent(jc, "patch", "notebookvalidationjobs", "status", "a", 403, `{"metadata":{"resourceVersion":"2"}}`, `{"kind":"Status"}`)
		e.StageTimestamp = at
		return e
	}
	for _, c := range []struct {
		name               string
		at                 time.Time
		unavailable, other int
	}{
		{"during the restart", restart.Add(10 * time.Second), 1, 0},
		{"before it", restart.Add(-time.Second), 0, 1},
		{"long after it", restart.Add(2 * time.Minute), 0, 1},
	} {
		a := attribute([]controlplane.AuditEvent{forbidden(c.at)}, functions, map[string]types.UID{"a": "uid-a"}, inWindow)
		if got := a.job("a"); got.Unavailable != c.unavailable || got.Other != c.other {
			t.Errorf("403 %s: unavailable %d, other %d; want %d, %d", c.name, got.Unavailable, got.Other, c.unavailable, c.other)
		}
	}
}

// TestInvariants breaks each invariant once and checks that it, and only it, reports it.
func TestInvariants(t *testing.T) {
	plan := []Planned{{Name: "ok", Kind: Tekton}, {Name: "nb", Kind: NoBuild, NotebookFails: true}}
	jobOf := func(name, uid, phase string) *v1alpha1.NotebookValidationJob {
		return &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)},
			Status: v1alpha1.NotebookValidationJobStatus{Phase: phase}}
	}
	owned := func(j *v1alpha1.NotebookValidationJob) []metav1.OwnerReference {
		return []metav1.OwnerReference{*metav1.NewControllerRef(j, v1alpha1.GroupVersionKind)}
	}
	good := func() endState {
		ok, nb := jobOf("ok", "u1", "Succeeded"), jobOf("nb", "u2", "Failed")
		return endState{plan: plan, jobs: map[string]*v1alpha1.NotebookValidationJob{"ok": ok, "nb": nb},
			children: []child{
				{Kind: "Pod", Name: statemachine.PodName(ok, 0), JobLabel: "ok", Owners: owned(ok)},
				{Kind: "PipelineRun", Name: statemachine.BuildName(ok), JobLabel: "ok", Owners: owned(ok)},
				{Kind: "Pod", Name: statemachine.PodName(nb, 0), JobLabel: "nb", Owners: owned(nb)},
			},
			records: map[string]jobRecord{
				"ok": {phases: []phaseSeen{{Phase: "Initializing"}, {Phase: "Building"}, {Phase: "ValidationRunning"}, {Phase: "Succeeded"}}},
				"nb": {phases: []phaseSeen{{Phase: "ValidationRunning"}, {Phase: "Failed"}}},
			},
			calls: &apiCalls{jobs: map[string]*jobCalls{"ok": {StatusWrites: 5, Changed: 4, Conflicts: 1}}}}
	}
	for _, inv := range checkInvariants(good()) {
		if !inv.OK {
			t.Errorf("good run: %s broken: %v", inv.Name, inv.Violations)
		}
	}
	breaks := map[string]func(*endState){
		"every job terminal": func(s *endState) { s.jobs["ok"].Status.Phase = "Building" },
		"the intended phase": func(s *endState) { s.jobs["nb"].Status.Phase = "Succeeded" },
		"one pod per attempt": func(s *endState) {
			s.children = append(s.children, child{Kind: "Pod", Name: "extra", JobLabel: "nb", Owners: owned(s.jobs["nb"])})
		},
		"no orphaned children": func(s *endState) {
			s.children = append(s.children, child{Kind: "Build", Name: statemachine.BuildName(s.jobs["nb"]), JobLabel: "nb", Owners: owned(s.jobs["nb"])})
		},
		"no phase going backwards": func(s *endState) {
			s.records["ok"] = jobRecord{phases: []phaseSeen{{Phase: "Building"}, {Phase: "Initializing"}}}
		},
		"status writes <= transitions + conflicts": func(s *endState) { s.calls.jobs["ok"].StatusWrites = 6 },
	}
	for name, breakIt := range breaks {
		s := good()
		breakIt(&s)
		for _, inv := range checkInvariants(s) {
			if inv.OK != (inv.Name != name) {
				t.Errorf("breaking %q: %q ok=%v %v", name, inv.Name, inv.OK, inv.Violations)
			}
		}
	}
	s := good()
	orphan := jobOf("ok", "another-uid", "Succeeded")
	s.children = append(s.children, child{Kind: "PipelineRun", Name: "x", JobLabel: "ok", Owners: owned(orphan)})
	if inv := noOrphans(s); inv.OK {
		t.Error("a child controlled by an earlier job of the same name passed")
	}
}

func TestIsSourceEvent(t *testing.T) {
	h := http.Header{}
	h.Set("Ce-Type", "dev.knative.apiserver.resource.update")
	if !isSourceEvent(h, nil) {
		t.Error("binary ApiServerSource event not recognised")
	}
	h.Set("Ce-Type", "dev.knative.sources.ping")
	if isSourceEvent(h, nil) {
		t.Error("a ping counted as a source event: the sweep's wake-up would be dropped")
	}
	if !isSourceEvent(http.Header{}, []byte(`{"specversion":"1.0","type":"dev.knative.apiserver.resource.add"}`)) {
		t.Error("structured ApiServerSource event not recognised")
	}
}

// A played build never goes back from its end to running, whichever write lands last.
func TestBuildFinished(t *testing.T) {
	now := metav1.Now()
	for _, status := range []func(string, string, metav1.Time) map[string]any{tektonStatus, openshiftStatus} {
		if buildFinished(status(buildRunning, "img", now)) {
			t.Error("a running build counts as finished")
		}
		for _, end := range []string{buildSucceeded, buildFailed} {
			if !buildFinished(status(end, "img", now)) {
				t.Errorf("a %s build does not count as finished", end)
			}
		}
	}
	if buildFinished(nil) {
		t.Error("a build with no status counts as finished")
	}
}

// Each process started counts once, with the first request it answered.
func TestColdStartTimesPerProcess(t *testing.T) {
	ms := time.Millisecond
	ready, answered, handled := coldStartTimes([]activator.ColdStart{
		{Pid: 7, ProcessToReady: 20 * ms, ProcessToAnswered: 60 * ms, Handled: 30 * ms},
		{Pid: 7, ProcessToReady: 20 * ms, ProcessToAnswered: 45 * ms, Handled: 21 * ms},
		{Pid: 9, ProcessToReady: 30 * ms, ProcessToAnswered: 50 * ms},
	})
	if !slices.Equal(ready, []time.Duration{20 * ms, 30 * ms}) || !slices.Equal(answered, []time.Duration{45 * ms, 50 * ms}) {
		t.Errorf("ready %v, answered %v; want [20ms 30ms] and [45ms 50ms]", ready, answered)
	}
	// Pid 9's answer said nothing of its handling: no sample rather than a zero.
	if !slices.Equal(handled, []time.Duration{21 * ms}) {
		t.Errorf("handled %v, want [21ms] (the first answer's)", handled)
	}
}
