//go:build e2e

package e2e

// The cluster's telemetry, checked on the real backends (Prometheus and Jaeger, installed by
// the bring-up, test/e2e/monitoring): this file's tests run after every other file's (Go runs
// files in name order), so Prometheus holds what the whole run pushed.

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/realcluster"
	"github.com/mlops-dev/nbv/internal/realcluster/knative"
	"github.com/mlops-dev/nbv/internal/realcluster/node"
	"github.com/mlops-dev/nbv/internal/timechart"
)

// prometheusURL and jaegerURL are the backends' HTTP APIs at their node ports.
var (
	prometheusURL = fmt.Sprintf("http://%s:%d", node.NodeIP, knative.PrometheusNodePort)
	jaegerURL     = fmt.Sprintf("http://%s:%d", node.NodeIP, knative.JaegerQueryNodePort)
)

// TestJobTraceInJaeger: one job built by Tekton and validated in a pod has one trace in
// Jaeger, under its UID: the root span, the span of each function that handled one of its
// events, Tekton's reconciler under the span that created the PipelineRun, the runner's clone,
// execute and kernel start, and one span per cell, in the order they happened; and none of
// its events is dead-lettered.
func TestJobTraceInJaeger(t *testing.T) {
	// Every dead letter is printed with where it was going and what that answered; a build
	// job's events must all be delivered (Tekton's build pods carry the job label too, and
	// once reached pod-completed, which refused them).
	letters := deadLetters(t)
	deadBefore := letters.count()
	repo := gitRepoServer(t, map[string][]byte{
		"Dockerfile":            []byte(builtModuleDockerfile),
		"notebooks/built.ipynb": notebookFixture(t, "pass.ipynb"),
	})
	const ns, name = "e2e-traced", "traced"
	optedInNamespace(t, ns)
	if _, err := kubectl(t, builtJobYAML(ns, name, repo, "15m"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, ns, name, 12*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("job %s: phase %s: %s", name, job.Status.Phase, job.Status.Message)
	}
	traceID := strings.ReplaceAll(string(job.UID), "-", "")
	// Complete once the root span (written with the terminal phase) and the runner's three
	// cells are in: the functions export in batches, the runner when its container ends.
	tr := waitTrace(t, traceID, 2*time.Minute, func(tr trace) bool {
		return len(tr.named("nbv job")) == 1 && len(tr.named("cell")) == 3 && len(tr.named("process pod-completed")) > 0
	})
	tr.print(t)

	root := tr.named("nbv job")[0]
	if root.ParentID != "" || root.Attrs["nbv.phase.to"] != v1alpha1.PhaseSucceeded {
		t.Errorf("root span: parent %q, nbv.phase.to %q; want no parent and Succeeded", root.ParentID, root.Attrs["nbv.phase.to"])
	}
	for _, fn := range []string{"job-created", "build-status-changed", "pod-completed"} {
		spans := tr.named("process " + fn)
		if len(spans) == 0 {
			t.Errorf("no span of %s in the job's trace", fn)
			continue
		}
		for _, s := range spans {
			if s.Service != fn || s.ParentID != root.ID || s.Attrs["cloudevents.event_type"] == "" {
				t.Errorf("span %q of service %q: parent %q (root %q), cloudevents.event_type %q; want a child of the root with the event's type",
					s.Name, s.Service, s.ParentID, root.ID, s.Attrs["cloudevents.event_type"])
			}
		}
	}
	reconcile := tr.named("PipelineRun:ReconcileKind")
	if len(reconcile) == 0 {
		t.Errorf("no span of Tekton's PipelineRun reconciler in the job's trace")
	}
	clone, execute := tr.named("clone"), tr.named("execute")
	if len(clone) != 1 || len(execute) != 1 || len(tr.named("kernel start")) != 1 {
		t.Fatalf("runner spans: %d clone, %d execute, %d kernel start; want one each", len(clone), len(execute), len(tr.named("kernel start")))
	}
	cells := tr.named("cell")
	for i, c := range cells {
		if c.Service != "nbv-runner" || c.ParentID != execute[0].ID || c.Attrs["nbv.cell.status"] != "success" {
			t.Errorf("cell span %d: service %q, parent %q (execute %q), status %q", i, c.Service, c.ParentID, execute[0].ID, c.Attrs["nbv.cell.status"])
		}
		if i > 0 && (c.Start.Before(cells[i-1].End) || cellIndex(c) <= cellIndex(cells[i-1])) {
			t.Errorf("cell %s starts at %s, before cell %s ends (%s)", c.Attrs["nbv.cell.index"], c.Start, cells[i-1].Attrs["nbv.cell.index"], cells[i-1].End)
		}
	}
	// The order of one job: started, built (Tekton), the pod created, its clone and cells,
	// the pod's end seen, the root closed. A child is created under the span of what decided
	// it, so the root's child above Tekton's first reconcile started the job and the one above
	// the clone created the pod (once build-status-changed wrote BuildComplete): job-created's,
	// or the sweep's step when its minutely ping came first (it lists a job created, or a
	// build finished, a moment before, while job-created's cold start is under way).
	madeBy := func(child span) span {
		top, ok := tr.childOfRootAbove(child, root.ID)
		switch {
		case !ok:
			t.Errorf("span %q (%s) is not under a span of the job's root: its parent %q is not in the trace", child.Name, child.Service, child.ParentID)
			return child
		case !(top.Name == "process job-created" && top.Service == "job-created") && !(top.Name == "step" && top.Service == "sweep"):
			t.Errorf("span %q (%s) is under %q of %s; want job-created's or the sweep's", child.Name, child.Service, top.Name, top.Service)
		}
		return top
	}
	var order []span
	if len(reconcile) > 0 {
		order = append(order, madeBy(reconcile[0]), reconcile[0])
	}
	order = append(order, madeBy(clone[0]), clone[0], execute[0], cells[0], cells[len(cells)-1], tr.last("process pod-completed"))
	for i := 1; i < len(order); i++ {
		if order[i].Start.Before(order[i-1].Start) {
			t.Errorf("span %q (%s) starts at %s, before %q (%s) at %s", order[i].Name, order[i].Service, order[i].Start.Format(time.StampMilli),
				order[i-1].Name, order[i-1].Service, order[i-1].Start.Format(time.StampMilli))
		}
	}
	if last := order[len(order)-1]; root.Start.After(order[0].Start) || root.End.Before(last.Start) {
		t.Errorf("root span %s..%s does not cover the job's spans (%s..%s)", root.Start, root.End, order[0].Start, last.Start)
	}
	if n := letters.count() - deadBefore; n > 0 {
		t.Errorf("%d events dead-lettered during one build job (printed above)", n)
	}
	intervals, hidden := waterfall(tr, root)
	writePicture(t, "trace.png", timechart.Waterfall{
		Title: fmt.Sprintf("trace %s: job %s/%s (Tekton build, 3 cells) from Jaeger; %d spans, %d inner Tekton spans not drawn",
			traceID, ns, name, len(tr), hidden),
		Intervals: intervals,
	}.PNG)
}

// ourServices are the service.name of this project's processes; any other span in a job's
// trace is Tekton's.
var ourServices = append([]string{"nbv-runner"}, functions...)

// waterfall lays tr out as a trace viewer does: depth-first from root, children by start
// time, each bar from the root's start. Tekton's spans are drawn at their top level only (its
// reconciler makes a dozen inner spans per reconcile), and how many were left out is returned.
func waterfall(tr trace, root span) ([]timechart.Interval, int) {
	children := map[string][]span{}
	for _, s := range tr {
		children[s.ParentID] = append(children[s.ParentID], s)
	}
	tekton := func(s span) bool { return !slices.Contains(ourServices, s.Service) }
	var out []timechart.Interval
	hidden := 0
	var walk func(s span, depth int, underTekton bool)
	walk = func(s span, depth int, underTekton bool) {
		if underTekton {
			hidden++
		} else {
			group := s.Service
			if tekton(s) {
				group = "tekton"
			}
			out = append(out, timechart.Interval{Name: s.Name, Group: group, Depth: depth, Start: s.Start.Sub(root.Start), End: s.End.Sub(root.Start)})
		}
		for _, c := range children[s.ID] {
			walk(c, depth+1, underTekton || tekton(s))
		}
	}
	walk(root, 0, false)
	return out, hidden
}

// cellIndex is a cell span's nbv.cell.index (-1 without one).
func cellIndex(s span) int {
	i, err := strconv.Atoi(s.Attrs["nbv.cell.index"])
	if err != nil {
		return -1
	}
	return i
}

// TestDeadLetterFiresItsAlert: an event the broker cannot deliver (job-created refuses its
// data, a 400, which Knative does not retry) goes to the dead-letter Broker, the sweep counts
// it, and the real Prometheus fires NbvEventsDeadLettered for it.
func TestDeadLetterFiresItsAlert(t *testing.T) {
	const pod = "e2e-bad-event"
	post := `import urllib.request
req = urllib.request.Request("http://broker-ingress.knative-eventing.svc.cluster.local/nbv-system/default", data=b"{not json",
    headers={"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "e2e-bad-event-1",
             "Ce-Type": "dev.knative.apiserver.resource.add", "Ce-Source": "e2e", "Ce-Kind": "NotebookValidationJob"})
print(urllib.request.urlopen(req).status)`
	// nbv-system enforces the restricted Pod Security Standard.
	overrides, _ := json.Marshal(map[string]any{"apiVersion": "v1", "spec": map[string]any{
		"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
		"containers": []any{map[string]any{
			"name": pod, "image": realcluster.NotebookImage, "command": []string{"python3", "-c", post},
			"securityContext": map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []string{"ALL"}}},
		}},
	}})
	if _, err := kubectl(t, "", "run", pod, "-n", realcluster.FunctionsNamespace, "--restart=Never",
		"--image="+realcluster.NotebookImage, "--overrides="+string(overrides)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "", "delete", "pod", pod, "-n", realcluster.FunctionsNamespace, "--wait=false")
	})
	if out, err := kubectl(t, "", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=2m", "-n", realcluster.FunctionsNamespace, "pod/"+pod); err != nil {
		logs, _ := kubectl(t, "", "logs", "-n", realcluster.FunctionsNamespace, pod)
		t.Fatalf("posting the event: %v %s\n%s", err, out, logs)
	}
	start := time.Now()
	const firing = `ALERTS{alertname="NbvEventsDeadLettered",alertstate="firing",destination="job-created"}`
	for {
		res := promQuery(t, firing)
		if len(res) > 0 {
			fmt.Printf("e2e: NbvEventsDeadLettered firing %s after the event was accepted: %v\n", time.Since(start).Round(time.Second), res[0].Metric)
			return
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("%s: nothing after %s; nbv_dead_letters_total: %v", firing, time.Since(start).Round(time.Second), promQuery(t, "nbv_dead_letters_total"))
		}
		time.Sleep(2 * time.Second)
	}
}

// TestModelTimeoutAndRefusalAreCounted: a job waiting for a model that never becomes ready
// is moved on by the sweep at its models timeout (a model check timed out, a sweep recovery
// for a deadline), and a job is refused by job-created
// (NotPermitted: the Secret a job names that its author may not read); each reaches
// Prometheus under its labels.
func TestModelTimeoutAndRefusalAreCounted(t *testing.T) {
	const ns = "e2e-counted"
	optedInNamespace(t, ns)
	repo := gitServer(t, map[string]string{"pass.ipynb": "pass.ipynb"})
	// A vllm model is ready when its Deployment has an available replica; this one has none.
	if _, err := kubectl(t, "", "create", "deployment", "never-ready", "-n", ns, "--replicas=0", "--image="+realcluster.NotebookImage); err != nil {
		t.Fatal(err)
	}
	waiting := jobYAML(ns, "waits-for-model", repo, "notebooks/pass.ipynb", realcluster.NotebookImage, `  modelValidation:
    enabled: true
    platform: vllm
    targetModels: [never-ready]
    timeout: 10s
`)
	if _, err := kubectl(t, waiting, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	// A user who may create jobs here and nothing else names a Secret in one: job-created
	// checks what the author may read before it creates the pod, and refuses.
	for _, args := range [][]string{
		{"create", "role", "job-author", "-n", ns, "--verb=create,get", "--resource=notebookvalidationjobs.mlops.mlops.dev"},
		{"create", "rolebinding", "job-author", "-n", ns, "--role=job-author", "--user=e2e-author"},
	} {
		if _, err := kubectl(t, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	refused := jobYAML(ns, "reads-a-secret", repo, "notebooks/pass.ipynb", realcluster.NotebookImage, "    credentials: [db-password]\n")
	if _, err := kubectl(t, refused, "--as=e2e-author", "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, ns, "reads-a-secret", 2*time.Minute, v1alpha1.PhaseFailed, v1alpha1.PhaseSucceeded)
	if job.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(job.Status.Message, "db-password") || !strings.Contains(job.Status.Message, "e2e-author") {
		t.Errorf("job naming a Secret its author may not read: phase %s, message %q; want Failed naming the user and the Secret", job.Status.Phase, job.Status.Message)
	}
	// The sweep runs once a minute: the models' timeout is enforced at its next run.
	job = waitPhase(t, ns, "waits-for-model", 4*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if c := meta.FindStatusCondition(job.Status.Conditions, "ModelsReady"); c == nil || c.Reason != "ModelsTimedOut" {
		t.Errorf("job waiting for a model: ModelsReady %+v, want reason ModelsTimedOut", c)
	}
	for _, series := range []string{
		`nbv_refusals_total{job="job-created",reason="NotPermitted"}`,
		`nbv_model_checks_total{result="timed_out"}`,
		`nbv_sweep_recoveries_total{job="sweep",cause="deadline"}`,
	} {
		waitSeries(t, series, 2*time.Minute)
	}
}

// waitSeries waits until Prometheus holds the series selected: a function exports every 30 s
// while it runs and once more when it drains.
func waitSeries(t *testing.T, selector string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for len(promQuery(t, "last_over_time("+selector+"[2h])")) == 0 {
		if time.Since(start) > timeout {
			t.Errorf("Prometheus has no %s after %s", selector, timeout)
			return
		}
		time.Sleep(2 * time.Second)
	}
	fmt.Printf("e2e: %s in Prometheus after %s\n", selector, time.Since(start).Round(time.Second))
}

// TestMonitoringQueriesHaveData: every alert of config/monitoring is loaded by the real
// Prometheus and evaluates without error, and the metric and every label each alert and dashboard
// query selects holds data from this run. Each dashboard query is run over the run and drawn;
// selected values and panels without samples are printed, since they depend on what the run
// provoked.
func TestMonitoringQueriesHaveData(t *testing.T) {
	exprs := monitoringExprs(t)
	rules := promRules(t)
	for _, e := range exprs {
		if !strings.HasSuffix(e.File, ".yaml") {
			continue
		}
		alert := e.Where[strings.LastIndex(e.Where, "/")+1:]
		r, ok := rules[alert]
		switch {
		case !ok:
			t.Errorf("alert %s: not loaded by Prometheus", alert)
		case r.Health != "ok" || r.LastError != "":
			t.Errorf("alert %s: health %q, last error %q", alert, r.Health, r.LastError)
		}
	}
	// Functions export every 30 s while they run and once more when they drain: what the
	// last tests recorded may take that long to arrive.
	start := time.Now()
	missing := missingData(t, exprs)
	for len(missing) > 0 && time.Since(start) < 2*time.Minute {
		time.Sleep(10 * time.Second)
		missing = missingData(t, exprs)
	}
	end := time.Now()
	begin := end.Add(-time.Hour)
	var unexercised []string
	var panels dashboardPanels
	for _, e := range exprs {
		for _, sel := range e.Selectors {
			if len(promQuery(t, "count(last_over_time("+sel+"[2h]))")) == 0 {
				unexercised = append(unexercised, sel)
			}
		}
		if !strings.HasSuffix(e.File, ".json") {
			continue
		}
		series := promRange(t, e.Expr, begin, end)
		if len(series) == 0 {
			unexercised = append(unexercised, "dashboard "+e.Where)
		}
		panels.add(e, series)
	}
	panels.write(t)
	for _, s := range sortedUnique(missing) {
		t.Errorf("no data for %s", s)
	}
	for _, s := range sortedUnique(unexercised) {
		fmt.Printf("e2e: not exercised by this run: %s\n", s)
	}
	fmt.Printf("e2e: %d monitoring expressions evaluated on Prometheus (%d alerts loaded)\n", len(exprs), len(rules))
}

// missingData lists the metrics, and the labels of them, that the expressions select and
// Prometheus holds no data for. Whether the selected values occurred (a clone failure, a
// dead letter) depends on what the run did, and is only reported by the caller.
func missingData(t *testing.T, exprs []monitoringExpr) []string {
	t.Helper()
	var missing []string
	for _, e := range exprs {
		for _, sel := range e.Selectors {
			metric, labels := selectorParts(sel)
			for _, l := range append([]string{""}, labels...) {
				q := "count(last_over_time(" + metric + "[2h]))"
				if l != "" {
					q = "count(last_over_time(" + metric + "{" + l + `!=""}[2h]))`
				}
				if len(promQuery(t, q)) == 0 {
					missing = append(missing, fmt.Sprintf("%s (label %q, in %s)", metric, l, e.Where))
				}
			}
		}
	}
	return missing
}

// selectorLabel finds the label names a series selector matches on.
var selectorLabel = regexp.MustCompile(`[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)

// selectorParts splits a series selector into its metric name and the label names it matches.
func selectorParts(sel string) (string, []string) {
	metric, _, _ := strings.Cut(sel, "{")
	var labels []string
	for _, m := range selectorLabel.FindAllStringSubmatch(sel, -1) {
		labels = append(labels, m[1])
	}
	return metric, labels
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// dashboardPanels collects what each dashboard panel's queries returned, to draw the
// dashboard as the run left it.
type dashboardPanels struct {
	titles []string
	series map[string][]timechart.Series
}

// add records a dashboard target's series under its panel, named by its legend.
func (d *dashboardPanels) add(e monitoringExpr, series []promSeries) {
	if e.Panel == "" {
		return // a variable, not a panel
	}
	if d.series == nil {
		d.series = map[string][]timechart.Series{}
	}
	if _, seen := d.series[e.Panel]; !seen {
		d.titles = append(d.titles, e.Panel)
		d.series[e.Panel] = nil
	}
	for _, s := range series {
		d.series[e.Panel] = append(d.series[e.Panel], timechart.Series{Name: legend(e.Legend, s.Metric), Points: s.Points})
	}
}

// write draws every panel that has data, its largest series when it has more than a chart
// can tell apart, into dashboard.png of $NBV_E2E_PICTURES (when set), from the run's first
// sample.
func (d *dashboardPanels) write(t *testing.T) {
	t.Helper()
	first := time.Duration(math.MaxInt64)
	for _, series := range d.series {
		for _, s := range series {
			first = min(first, s.Points[0].At)
		}
	}
	var charts []timechart.Chart
	for _, title := range d.titles {
		series := d.series[title]
		if len(series) == 0 {
			continue
		}
		peak := func(s timechart.Series) float64 {
			m := 0.0
			for _, p := range s.Points {
				m = max(m, p.Value)
			}
			return m
		}
		slices.SortStableFunc(series, func(a, b timechart.Series) int { return cmp.Compare(peak(b), peak(a)) })
		if len(series) > timechart.MaxSeries {
			title = fmt.Sprintf("%s (top %d of %d)", title, timechart.MaxSeries, len(series))
			series = series[:timechart.MaxSeries]
		}
		for i := range series {
			series[i].Points = slices.Clone(series[i].Points)
			for j := range series[i].Points {
				series[i].Points[j].At -= first
			}
		}
		charts = append(charts, timechart.Chart{Title: title, Series: series, Width: 640, Height: 300, XLabel: "time since the run's first sample"})
	}
	if len(charts) == 0 {
		t.Error("no dashboard panel has data")
		return
	}
	writePicture(t, "dashboard.png", func(w io.Writer) error {
		return timechart.Grid(w, fmt.Sprintf("nbv dashboard (config/monitoring/grafana-dashboard.json), queried on the e2e run's Prometheus at %s", time.Now().UTC().Format(time.DateTime)), 3, charts...)
	})
}

// legendLabel is a {{label}} of a Grafana legendFormat.
var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// legend is a series' name as Grafana shows it: format with each {{label}} replaced by the
// series' value of it; without a format, the series' labels other than the instance.
func legend(format string, metric map[string]string) string {
	if format != "" {
		return legendLabel.ReplaceAllStringFunc(format, func(m string) string { return metric[legendLabel.FindStringSubmatch(m)[1]] })
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(metric)) {
		if k != "instance" && k != "__name__" {
			parts = append(parts, metric[k])
		}
	}
	if len(parts) == 0 {
		return "value"
	}
	return strings.Join(parts, " ")
}

// writePicture draws a picture of the run into $NBV_E2E_PICTURES/name when that is set (make
// e2e leaves it unset; docs/ holds the pictures of one run), and always draws it, so that a
// picture that cannot be drawn fails the test.
func writePicture(t *testing.T, name string, draw func(io.Writer) error) {
	t.Helper()
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		t.Errorf("drawing %s: %v", name, err)
		return
	}
	dir := os.Getenv("NBV_E2E_PICTURES")
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Error(err)
		return
	}
	fmt.Printf("e2e: wrote %s\n", path)
}

// monitoringExpr is one expression of config/monitoring as nbv-promql reads it.
type monitoringExpr struct {
	File      string   `json:"file"`
	Where     string   `json:"where"`
	Panel     string   `json:"panel"`
	Legend    string   `json:"legend"`
	Expr      string   `json:"expr"`
	Selectors []string `json:"selectors"`
}

// monitoringExprs lists the expressions of the PrometheusRule and the dashboard with
// nbv-promql (make promtool).
func monitoringExprs(t *testing.T) []monitoringExpr {
	t.Helper()
	bin := filepath.Join(os.Getenv("NBV_CACHE"), "bin", "nbv-promql")
	if os.Getenv("NBV_CACHE") == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "nbv", "bin", "nbv-promql")
	}
	cmd := exec.Command(bin, "exprs", "config/monitoring/prometheusrule.yaml", "config/monitoring/grafana-dashboard.json")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nbv-promql (make promtool builds it): %v", err)
	}
	var exprs []monitoringExpr
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var e monitoringExpr
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		exprs = append(exprs, e)
	}
	return exprs
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
}

// promGet GETs path with query from Prometheus' HTTP API and decodes its data into v.
func promGet(t *testing.T, path string, query url.Values, v any) {
	t.Helper()
	resp, err := http.Get(prometheusURL + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("Prometheus %s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("Prometheus %s %v: %s", path, query, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("Prometheus %s: %v", path, err)
	}
}

// promQuery is an instant query's series; an expression Prometheus refuses fails the test.
func promQuery(t *testing.T, expr string) []promSample {
	t.Helper()
	var data struct {
		Result []promSample `json:"result"`
	}
	promGet(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	return data.Result
}

// promSeries is one series of a range query's answer, as chart points from begin.
type promSeries struct {
	Metric map[string]string
	Points []timechart.Point
}

// promRange is a range query over [begin, end] at a 15 s step.
func promRange(t *testing.T, expr string, begin, end time.Time) []promSeries {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	promGet(t, "/api/v1/query_range", url.Values{
		"query": {expr}, "start": {strconv.FormatInt(begin.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"},
	}, &data)
	var out []promSeries
	for _, r := range data.Result {
		s := promSeries{Metric: r.Metric}
		for _, v := range r.Values {
			at, _ := v[0].(float64)
			text, _ := v[1].(string)
			value, err := strconv.ParseFloat(text, 64)
			if err != nil || math.IsNaN(value) || math.IsInf(value, 0) {
				continue
			}
			s.Points = append(s.Points, timechart.Point{At: time.Unix(int64(at), 0).Sub(begin), Value: value})
		}
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// promRule is an alerting rule as Prometheus reports it.
type promRule struct {
	Name      string `json:"name"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

// promRules are the alerting rules Prometheus loaded, by name.
func promRules(t *testing.T) map[string]promRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	promGet(t, "/api/v1/rules", url.Values{"type": {"alert"}}, &data)
	out := map[string]promRule{}
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = r
		}
	}
	return out
}

// span is one span of a trace as Jaeger returns it.
type span struct {
	ID, ParentID, Name, Service string
	Start, End                  time.Time
	Attrs                       map[string]string
}

// trace is the spans of one trace, by start time.
type trace []span

func (tr trace) named(name string) []span {
	var out []span
	for _, s := range tr {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// childOfRootAbove is the ancestor of s whose parent is root (s itself if its parent is),
// and false when s's chain of parents leaves the trace before reaching root.
func (tr trace) childOfRootAbove(s span, root string) (span, bool) {
	byID := make(map[string]span, len(tr))
	for _, x := range tr {
		byID[x.ID] = x
	}
	for range tr {
		if s.ParentID == root {
			return s, true
		}
		parent, ok := byID[s.ParentID]
		if !ok {
			return span{}, false
		}
		s = parent
	}
	return span{}, false // a cycle: no span is its own ancestor in a well-formed trace
}

// last is the latest-starting span called name (the zero span if none).
func (tr trace) last(name string) span {
	spans := tr.named(name)
	if len(spans) == 0 {
		return span{Name: name}
	}
	return spans[len(spans)-1]
}

func (tr trace) print(t *testing.T) {
	t.Helper()
	if len(tr) == 0 {
		return
	}
	t0 := tr[0].Start
	for _, s := range tr {
		fmt.Printf("e2e: span +%7s %7s %-22s %s\n", s.Start.Sub(t0).Round(time.Millisecond), s.End.Sub(s.Start).Round(time.Millisecond), s.Service, s.Name)
	}
}

// waitTrace polls Jaeger's API v3 for the trace until complete says it is.
func waitTrace(t *testing.T, traceID string, timeout time.Duration, complete func(trace) bool) trace {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tr, err := getTrace(traceID)
		if err == nil && complete(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			tr.print(t)
			t.Fatalf("trace %s incomplete after %s (%d spans; last error: %v)", traceID, timeout, len(tr), err)
		}
		time.Sleep(2 * time.Second)
	}
}

// getTrace reads a trace from Jaeger's API v3 (OTLP JSON in a "result" envelope).
func getTrace(traceID string) (trace, error) {
	resp, err := http.Get(jaegerURL + "/api/v3/traces/" + traceID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET trace %s: %s", traceID, resp.Status)
	}
	var body struct {
		Result struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []otlpAttr `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []struct {
						SpanID            string     `json:"spanId"`
						ParentSpanID      string     `json:"parentSpanId"`
						Name              string     `json:"name"`
						StartTimeUnixNano string     `json:"startTimeUnixNano"`
						EndTimeUnixNano   string     `json:"endTimeUnixNano"`
						Attributes        []otlpAttr `json:"attributes"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode trace %s: %w", traceID, err)
	}
	var tr trace
	for _, rs := range body.Result.ResourceSpans {
		service := attrMap(rs.Resource.Attributes)["service.name"]
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				tr = append(tr, span{
					ID: spanID(s.SpanID), ParentID: spanID(s.ParentSpanID), Name: s.Name, Service: service,
					Start: unixNano(s.StartTimeUnixNano), End: unixNano(s.EndTimeUnixNano), Attrs: attrMap(s.Attributes),
				})
			}
		}
	}
	slices.SortStableFunc(tr, func(a, b span) int { return a.Start.Compare(b.Start) })
	return tr, nil
}

// otlpAttr is an OTLP JSON attribute; its value is kept as text.
type otlpAttr struct {
	Key   string                     `json:"key"`
	Value map[string]json.RawMessage `json:"value"`
}

func attrMap(attrs []otlpAttr) map[string]string {
	out := map[string]string{}
	for _, a := range attrs {
		for _, v := range a.Value {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			out[a.Key] = s
		}
	}
	return out
}

// spanID is an ID in hex, whether Jaeger wrote it in hex (OTLP JSON) or base64 (protobuf's
// JSON mapping).
func spanID(s string) string {
	if _, err := hex.DecodeString(s); err == nil {
		return strings.ToLower(s)
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
		return hex.EncodeToString(raw)
	}
	return s
}

func unixNano(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, n)
}
