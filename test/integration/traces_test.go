package integration

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/otlpjson/otlpjsontest"
	"github.com/mlops-dev/nbv/internal/tracing"
)

// otlpSpan is one span an OTLP/HTTP receiver got, with the service that sent it.
type otlpSpan struct {
	service string
	*tracepb.Span
}

func (s otlpSpan) attr(k string) string {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			if _, isInt := kv.Value.Value.(*commonpb.AnyValue_IntValue); isInt {
				return strconv.FormatInt(kv.Value.GetIntValue(), 10)
			}
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

func (s otlpSpan) id() string     { return hex.EncodeToString(s.SpanId) }
func (s otlpSpan) parent() string { return hex.EncodeToString(s.ParentSpanId) }

// otlpReceiver is a tiny OTLP/HTTP endpoint: it decodes every ExportTraceServiceRequest
// (protobuf) posted to /v1/traces and accepts anything posted to /v1/metrics.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []otlpSpan
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// The functions and the runner both export in the JSON encoding (internal/otlpjson).
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("OTLP export to %s in %q, want application/json", req.URL.Path, ct)
			http.Error(w, "want application/json", http.StatusUnsupportedMediaType)
			return
		}
		if req.URL.Path == "/v1/metrics" {
			if _, err := otlpjsontest.DecodeMetrics(body); err != nil {
				t.Errorf("OTLP metric export is not an ExportMetricsServiceRequest: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if req.URL.Path == "/v1/traces" {
			ex, err := otlpjsontest.Decode(body)
			if err != nil {
				t.Errorf("OTLP trace export (%s) is not an ExportTraceServiceRequest: %v", req.Header.Get("Content-Type"), err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.mu.Lock()
			for _, rs := range ex.ResourceSpans {
				service := ""
				for _, kv := range rs.GetResource().GetAttributes() {
					if kv.Key == "service.name" {
						service = kv.Value.GetStringValue()
					}
				}
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						r.spans = append(r.spans, otlpSpan{service: service, Span: s})
					}
				}
			}
			r.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// trace returns the spans of traceID received so far.
func (r *otlpReceiver) trace(traceID []byte) []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []otlpSpan
	for _, s := range r.spans {
		if string(s.TraceId) == string(traceID) {
			out = append(out, s)
		}
	}
	return out
}

func named(spans []otlpSpan, name string) []otlpSpan {
	var out []otlpSpan
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestOneTracePerJob runs a job through the whole local stack (job-created, the host kubelet
// with the real nbv-runner and Python, pod-completed) with every function and the pod's runner
// exporting to an in-process OTLP/HTTP receiver, and checks the job's trace: one trace ID (the
// job's UID) holding the functions' event spans with their CloudEvents and messaging
// attributes and read/decide/write children, the runner's clone, kernel start and one span per
// cell under the span of the function that created the pod, and the job's root span, in
// causal order.
func TestOneTracePerJob(t *testing.T) {
	recv := newOTLPReceiver(t)
	f := newFixtureWith(t, 1, func(o *localstack.Options) { o.OTLPEndpoint = recv.url })
	repoURL := f.startHostKubelet(map[string][]string{"two.ipynb": {"x = 20", "print(x + 22)"}})
	const ciRun = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" // the CI run that applied the job
	created := f.createJob("traced", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.Notebook = v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: "master"}, Path: "two.ipynb"}
		j.Annotations = map[string]string{tracing.AnnotationTraceparent: ciRun}
	})
	f.waitJob("traced", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	jc, ok := tracing.JobContext(string(created.UID))
	if !ok {
		t.Fatalf("job UID %q gives no trace context", created.UID)
	}
	tid := jc.TraceID()
	root := jc.SpanID().String()

	// The functions export in batches (every 5 s) and the root span is the last one made.
	var spans []otlpSpan
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = recv.trace(tid[:])
		if len(named(spans, tracing.SpanJob)) > 0 && len(named(spans, "cell")) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	byID := map[string]otlpSpan{}
	count := map[string]int{}
	for _, s := range spans {
		byID[s.id()] = s
		count[s.service+" "+s.Name]++
	}
	t.Logf("trace %s: %d spans: %v", tid, len(spans), count)
	// job-created reads nothing on this job's path: it decides from the event's copy and from
	// its own answers; pod-completed reads the job (and the pod).
	for _, want := range []string{"job-created process job-created", "pod-completed process pod-completed",
		"job-created decide", "job-created write", "pod-completed read", "pod-completed decide", "pod-completed write",
		"pod-completed " + tracing.SpanJob, "nbv-runner clone", "nbv-runner execute", "nbv-runner kernel start"} {
		if count[want] == 0 {
			t.Errorf("no span %q in the job's trace", want)
		}
	}
	if count["nbv-runner cell"] != 2 {
		t.Errorf("%d cell spans, want 2", count["nbv-runner cell"])
	}

	// The root span has the derived ID, covers the job, and every event span hangs from it.
	jobSpans := named(spans, tracing.SpanJob)
	if len(jobSpans) != 1 || jobSpans[0].id() != root || len(jobSpans[0].ParentSpanId) != 0 {
		t.Fatalf("root spans %v, want one with ID %s and no parent", jobSpans, root)
	}
	rootSpan := jobSpans[0]
	if rootSpan.attr(tracing.AttrTo) != v1alpha1.PhaseSucceeded || rootSpan.attr(tracing.AttrJobName) != "traced" {
		t.Errorf("root span attributes %v", rootSpan.Attributes)
	}
	linked := false
	for _, l := range rootSpan.Links {
		linked = linked || hex.EncodeToString(l.SpanId) == "b7ad6b7169203331"
	}
	if !linked {
		t.Errorf("root span links %v, want the creator's span from the job's %s annotation", rootSpan.Links, tracing.AnnotationTraceparent)
	}
	ancestor := func(s otlpSpan, name string) (otlpSpan, bool) {
		for range 10 {
			p, ok := byID[s.parent()]
			if !ok {
				return otlpSpan{}, false
			}
			if p.Name == name || strings.HasPrefix(p.Name, name) {
				return p, true
			}
			s = p
		}
		return otlpSpan{}, false
	}
	for _, s := range spans {
		if !strings.HasPrefix(s.Name, "process ") {
			continue
		}
		if s.parent() != root {
			t.Errorf("%s (event %s) parent %s, want the job's root %s", s.Name, s.attr(tracing.AttrCEID), s.parent(), root)
		}
		if s.Kind != tracepb.Span_SPAN_KIND_CONSUMER {
			t.Errorf("%s kind %v, want consumer", s.Name, s.Kind)
		}
		for _, k := range []string{tracing.AttrCEID, tracing.AttrCEType, tracing.AttrCESource, tracing.AttrCESpecVersion, tracing.AttrMsgID} {
			if s.attr(k) == "" {
				t.Errorf("%s lacks %s: %v", s.Name, k, s.Attributes)
			}
		}
		if s.attr(tracing.AttrMsgSystem) != "knative" || s.attr(tracing.AttrMsgOperation) != "process" || s.attr(tracing.AttrMsgDest) != s.service {
			t.Errorf("%s messaging attributes %v", s.Name, s.Attributes)
		}
		if !slices.Contains([]string{"dev.knative.apiserver.resource.add", "dev.knative.apiserver.resource.update"}, s.attr(tracing.AttrCEType)) {
			t.Errorf("%s event type %q", s.Name, s.attr(tracing.AttrCEType))
		}
	}

	// Causal order: job-created's write of ValidationRunning created the pod, whose clone
	// then cells ran, and pod-completed wrote Succeeded after the last cell ended.
	clone := named(spans, "clone")[0]
	creator, ok := ancestor(clone, "process ")
	if !ok || creator.Name != "process job-created" {
		t.Fatalf("the clone span descends from %q (ok %v), want the job-created event that created the pod", creator.Name, ok)
	}
	cells := named(spans, "cell")
	slices.SortFunc(cells, func(a, b otlpSpan) int { return int(a.StartTimeUnixNano - b.StartTimeUnixNano) })
	execute := named(spans, "execute")[0]
	if _, ok := ancestor(execute, "process job-created"); !ok {
		t.Error("the execute span does not descend from job-created's event span")
	}
	var ended otlpSpan
	for _, s := range named(spans, "decide") {
		if s.attr(tracing.AttrTo) == v1alpha1.PhaseSucceeded {
			ended = s
		}
	}
	if ended.Span == nil {
		t.Fatal("no decide span with nbv.phase.to=Succeeded")
	}
	ender, ok := ancestor(ended, "process ")
	if !ok || ender.Name != "process pod-completed" {
		t.Fatalf("Succeeded was decided under %q, want pod-completed", ender.Name)
	}
	order := []struct {
		what   string
		before uint64
		after  uint64
	}{
		{"job created before the pod's creator", rootSpan.StartTimeUnixNano, creator.StartTimeUnixNano},
		{"pod creator before the clone", creator.StartTimeUnixNano, clone.StartTimeUnixNano},
		{"clone before the first cell", clone.EndTimeUnixNano, cells[0].StartTimeUnixNano},
		{"first cell before the second", cells[0].EndTimeUnixNano, cells[1].StartTimeUnixNano},
		{"last cell before pod-completed's decision", cells[1].EndTimeUnixNano, ender.StartTimeUnixNano},
		{"decision before the root's end", ender.StartTimeUnixNano, rootSpan.EndTimeUnixNano},
	}
	for _, o := range order {
		if o.before > o.after {
			t.Errorf("%s: %d > %d", o.what, o.before, o.after)
		}
	}
	for i, c := range cells {
		if c.attr("nbv.cell.status") != "success" {
			t.Errorf("cell %d status %q", i, c.attr("nbv.cell.status"))
		}
	}
}
