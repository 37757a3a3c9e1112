package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/internal/events"
)

// syncBuffer collects log output written concurrently by request goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the decoded JSON log lines.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// lineFor returns the runtime's summary log line of an event.
func (s *syncBuffer) lineFor(t *testing.T, id string) map[string]any {
	t.Helper()
	for _, l := range s.lines(t) {
		if l["msg"] == "event handled" && l["event.id"] == id {
			return l
		}
	}
	t.Fatalf("no log line for event %s", id)
	return nil
}

type running struct {
	url  string
	logs *syncBuffer
	srv  *server
	stop context.CancelFunc
	done chan error
}

// start runs Serve on 127.0.0.1 and waits until it is ready.
func start(t *testing.T, cfg Config, h Handler) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg.Listener = ln
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	if cfg.Types == nil {
		cfg.Types = []string{events.TypeResourceAdd, events.TypeResourceUpdate, events.TypePing}
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "job-created"
	}
	s, err := newServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), logs: logs, srv: s, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, url string, header http.Header, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// wireEvent is an event as a sender puts it on the wire, in either content mode.
type wireEvent struct {
	id, typ, subject string
	ext              map[string]string
	data             []byte // raw bytes of the data (JSON or not)
}

func (w wireEvent) binary() (http.Header, []byte) {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	if w.id != "" {
		h.Set("ce-id", w.id)
	}
	h.Set("ce-type", w.typ)
	h.Set("ce-source", "https://10.96.0.1:443")
	if w.subject != "" {
		h.Set("ce-subject", w.subject)
	}
	for k, v := range w.ext {
		h.Set("ce-"+k, v)
	}
	h.Set("Content-Type", "application/json")
	return h, w.data
}

// structured builds a structured-mode body. Data that is not JSON is spliced in verbatim, which
// makes the whole envelope invalid JSON, as a broken sender would produce.
func (w wireEvent) structured() (http.Header, []byte) {
	var b strings.Builder
	fmt.Fprintf(&b, `{"specversion":"1.0","type":%q,"source":"https://10.96.0.1:443","datacontenttype":"application/json"`, w.typ)
	if w.id != "" {
		fmt.Fprintf(&b, `,"id":%q`, w.id)
	}
	if w.subject != "" {
		fmt.Fprintf(&b, `,"subject":%q`, w.subject)
	}
	for k, v := range w.ext {
		fmt.Fprintf(&b, `,%q:%q`, k, v)
	}
	if w.data != nil {
		b.WriteString(`,"data":`)
		b.Write(w.data)
	}
	b.WriteString("}")
	h := http.Header{}
	h.Set("Content-Type", "application/cloudevents+json")
	return h, []byte(b.String())
}

func example(t *testing.T, typ string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "examples", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func jobExt() map[string]string {
	return map[string]string{"kind": "NotebookValidationJob", "apiversion": "mlops.mlops.dev/v1alpha1", "name": "basic", "namespace": "team-a"}
}

// testHandler decodes resource events and replies with a transition; ping events choose their
// behaviour by subject, so every error path of the runtime can be driven over HTTP.
func testHandler(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	if events.IsResourceType(e.Type()) {
		re, err := events.DecodeResourceEvent(e)
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		WithJob(ctx, re.Namespace, re.Name)
		Logger(ctx).Info("deciding")
		r := events.NewTransitionEvent(Source(ctx), events.Transition{Namespace: re.Namespace, Name: re.Name,
			UID: string(re.Object.GetUID()), Phase: "Initializing", Reason: "Accepted", Message: "job accepted", ObservedGeneration: re.Object.GetGeneration()})
		return &r, nil
	}
	switch e.Subject() {
	case "noop":
		return nil, nil
	case "gone":
		return nil, fmt.Errorf("get job team-a/basic: %w", ErrNotFound)
	case "badinput":
		return nil, fmt.Errorf("job spec: %w: notebook path is absolute", ErrBadInput)
	case "conflict":
		return nil, fmt.Errorf("patch status after 3 re-reads: %w", ErrConflict)
	case "k8sconflict":
		return nil, apierrors.NewConflict(schema.GroupResource{Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"}, "basic", errors.New("changed"))
	case "unavailable":
		return nil, fmt.Errorf("get job: %w", ErrUnavailable)
	case "k8sunavailable":
		return nil, apierrors.NewServiceUnavailable("etcd down")
	case "ratelimited":
		return nil, RetryAfter(2500*time.Millisecond, errors.New("client-side throttle"))
	case "k8sratelimited":
		return nil, fmt.Errorf("get job: %w", apierrors.NewTooManyRequests("slow down", 7))
	case "panic":
		panic("boom")
	case "invalidreply":
		r := events.NewTransitionEvent("", events.Transition{Namespace: "team-a", Name: "basic", Phase: "Succeeded", Reason: "Passed"})
		return &r, nil
	case "unknownreply":
		r := cloudevents.NewEvent()
		r.SetType("dev.example.undocumented")
		return &r, nil
	default:
		return nil, errors.New("something unexpected")
	}
}

type mode struct {
	name  string
	build func(wireEvent) (http.Header, []byte)
}

var modes = []mode{{"binary", wireEvent.binary}, {"structured", wireEvent.structured}}

func TestReplyEventInBinaryMode(t *testing.T) {
	r := start(t, Config{}, testHandler)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			id := "add-" + m.name
			h, b := m.build(wireEvent{id: id, typ: events.TypeResourceAdd, ext: jobExt(), data: example(t, events.TypeResourceAdd)})
			resp := post(t, r.url, h, b)
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			// The reply is in binary mode: attributes in headers, data in the body.
			if got := resp.header.Get("Ce-Type"); got != events.TypeTransitioned {
				t.Errorf("reply ce-type = %q", got)
			}
			if got := resp.header.Get("Ce-Nvjphase"); got != "Initializing" {
				t.Errorf("reply ce-nvjphase = %q", got)
			}
			if got := resp.header.Get("Ce-Source"); got != "/nbv/job-created" {
				t.Errorf("reply ce-source = %q", got)
			}
			if err := events.ValidateData(events.TypeTransitioned, []byte(resp.body)); err != nil {
				t.Errorf("reply body: %v (%s)", err, resp.body)
			}
			line := r.logs.lineFor(t, id)
			for k, want := range map[string]any{"outcome": "reply", "event.type": events.TypeResourceAdd,
				"event.source": "https://10.96.0.1:443", "job.namespace": "team-a", "job.name": "basic", "service": "job-created"} {
				if line[k] != want {
					t.Errorf("log %s = %v, want %v (line %v)", k, line[k], want, line)
				}
			}
			if _, ok := line["latency_ms"]; !ok {
				t.Error("log line has no latency")
			}
		})
	}
	// The handler's own log line carries the job it announced with WithJob.
	var handlerLines int
	for _, l := range r.logs.lines(t) {
		if l["msg"] == "deciding" && l["job.name"] == "basic" && l["event.id"] != nil {
			handlerLines++
		}
	}
	if handlerLines != len(modes) {
		t.Errorf("handler log lines with job and event: %d", handlerLines)
	}
}

func TestResponseCodes(t *testing.T) {
	r := start(t, Config{}, testHandler)
	ping := func(subject string) wireEvent {
		return wireEvent{id: "p-" + subject, typ: events.TypePing, subject: subject, data: []byte(`{}`)}
	}
	noKind := jobExt()
	delete(noKind, "kind")
	cases := []struct {
		name       string
		ev         wireEvent
		status     int
		bodyHas    string
		retryAfter string
	}{
		{"no reply", ping("noop"), http.StatusAccepted, "", ""},
		{"job gone", ping("gone"), http.StatusOK, "", ""},
		{"handler bad input", ping("badinput"), http.StatusBadRequest, "notebook path is absolute", ""},
		{"missing extension", wireEvent{id: "nk", typ: events.TypeResourceUpdate, ext: noKind, data: example(t, events.TypeResourceAdd)},
			http.StatusBadRequest, `missing required extension attribute "kind"`, ""},
		{"data violates schema", wireEvent{id: "sv", typ: events.TypeResourceUpdate, ext: jobExt(), data: []byte(`{"kind":"NotebookValidationJob"}`)},
			http.StatusBadRequest, "missing properties 'apiVersion', 'metadata'", ""},
		{"unknown type", wireEvent{id: "ut", typ: "dev.example.other", data: []byte(`{}`)}, http.StatusBadRequest, `event type "dev.example.other" is not handled by job-created`, ""},
		{"known but unaccepted type", wireEvent{id: "bt", typ: events.TypeBuildReport, data: example(t, events.TypeBuildReport)}, http.StatusBadRequest, "not handled", ""},
		{"missing id", wireEvent{typ: events.TypePing, subject: "noop", data: []byte(`{}`)}, http.StatusBadRequest, "id", ""},
		{"conflict", ping("conflict"), http.StatusInternalServerError, "redelivered", ""},
		{"kubernetes conflict", ping("k8sconflict"), http.StatusInternalServerError, "redelivered", ""},
		{"unavailable", ping("unavailable"), http.StatusServiceUnavailable, "", ""},
		{"kubernetes unavailable", ping("k8sunavailable"), http.StatusServiceUnavailable, "", ""},
		{"rate limited", ping("ratelimited"), http.StatusTooManyRequests, "", "3"},
		{"kubernetes rate limited", ping("k8sratelimited"), http.StatusTooManyRequests, "", "7"},
		{"panic", ping("panic"), http.StatusInternalServerError, "redelivered", ""},
		{"other error", ping("other"), http.StatusInternalServerError, "redelivered", ""},
		{"reply violates its schema", ping("invalidreply"), http.StatusAccepted, "", ""},
		{"reply of an unknown type", ping("unknownreply"), http.StatusAccepted, "", ""},
	}
	for _, m := range modes {
		for _, c := range cases {
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				h, b := m.build(c.ev)
				resp := post(t, r.url, h, b)
				if resp.status != c.status {
					t.Fatalf("status %d, want %d: %s", resp.status, c.status, resp.body)
				}
				if !strings.Contains(resp.body, c.bodyHas) {
					t.Errorf("body %q does not contain %q", resp.body, c.bodyHas)
				}
				if got := resp.header.Get("Retry-After"); got != c.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
				}
				if resp.status < 300 && resp.header.Get("Ce-Id") != "" {
					t.Errorf("unexpected reply event %s", resp.header.Get("Ce-Id"))
				}
				if resp.status >= 500 && strings.Contains(resp.body, "something unexpected") {
					t.Errorf("internal error leaked to the sender: %q", resp.body)
				}
			})
		}
	}
	// Internal details and panics are in the log, not in the answer.
	line := r.logs.lineFor(t, "p-panic")
	if line["outcome"] != "panic" || !strings.Contains(fmt.Sprint(line["stack"]), "testHandler") || line["level"] != "ERROR" {
		t.Errorf("panic log line: %v", line)
	}
	if line := r.logs.lineFor(t, "p-other"); line["error"] != "something unexpected" {
		t.Errorf("error log line: %v", line)
	}
	if line := r.logs.lineFor(t, "p-invalidreply"); line["outcome"] != "reply_invalid" || !strings.Contains(fmt.Sprint(line["error"]), "uid") {
		t.Errorf("invalid reply log line: %v", line)
	}
}

func TestMalformedRequests(t *testing.T) {
	r := start(t, Config{MaxBodyBytes: 64 << 10}, testHandler)
	binHeader := func() http.Header {
		h, _ := wireEvent{id: "m", typ: events.TypeResourceAdd, ext: jobExt()}.binary()
		return h
	}
	cases := []struct {
		name    string
		header  http.Header
		body    []byte
		status  int
		bodyHas string
	}{
		{"binary data not JSON", binHeader(), []byte(`{"apiVersion": oops`), http.StatusBadRequest, "not JSON"},
		{"structured envelope not JSON", http.Header{"Content-Type": {"application/cloudevents+json"}}, []byte(`{"specversion":"1.0","id":`), http.StatusBadRequest, "cannot decode CloudEvent"},
		{"structured data not JSON", func() http.Header {
			h, _ := wireEvent{}.structured()
			return h
		}(), func() []byte {
			_, b := (wireEvent{id: "s", typ: events.TypeResourceAdd, ext: jobExt(), data: []byte(`{bad`)}).structured()
			return b
		}(), http.StatusBadRequest, "cannot decode"},
		{"not a CloudEvent", http.Header{"Content-Type": {"application/json"}}, []byte(`{"hello":"world"}`), http.StatusBadRequest, "not a CloudEvent"},
		{"unsupported specversion", http.Header{"Ce-Specversion": {"9.9"}, "Ce-Id": {"x"}, "Content-Type": {"application/json"}}, []byte(`{}`), http.StatusBadRequest, "not a CloudEvent"},
		{"batch", http.Header{"Content-Type": {"application/cloudevents-batch+json"}}, []byte(`[]`), http.StatusBadRequest, "batched"},
		{"too large", binHeader(), append([]byte(`{"a":"`), append(bytes.Repeat([]byte("x"), 70<<10), '"', '}')...), http.StatusRequestEntityTooLarge, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, r.url, c.header, c.body)
			if resp.status != c.status || !strings.Contains(resp.body, c.bodyHas) {
				t.Errorf("got %d %q, want %d containing %q", resp.status, resp.body, c.status, c.bodyHas)
			}
		})
	}
}

func TestHealthReadinessAndMethods(t *testing.T) {
	r := start(t, Config{AllowedOrigins: []string{"ci.example.com"}}, testHandler)
	get := func(path string) int {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/healthz"); s != http.StatusOK {
		t.Errorf("/healthz %d", s)
	}
	if s := get("/readyz"); s != http.StatusOK {
		t.Errorf("/readyz %d", s)
	}
	if s := get("/"); s != http.StatusMethodNotAllowed {
		t.Errorf("GET / %d", s)
	}
	options := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, r.url, nil)
		req.Header.Set("WebHook-Request-Origin", origin)
		req.Header.Set("WebHook-Request-Rate", "120")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := options("ci.example.com"); resp.StatusCode != http.StatusOK || resp.Header.Get("WebHook-Allowed-Origin") != "ci.example.com" || resp.Header.Get("WebHook-Allowed-Rate") == "" {
		t.Errorf("handshake from an allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := options("evil.example.com"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("WebHook-Allowed-Origin") != "" {
		t.Errorf("handshake from another origin: %d %v", resp.StatusCode, resp.Header)
	}

	// While draining, readiness is false (checked on the handler: the listener is closed by then).
	r.srv.draining.Store(true)
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/readyz", nil)
	r.srv.ServeHTTP(rec, req)
	if rec.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d", rec.status)
	}
	r.srv.draining.Store(false)
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// blockingHandler signals when an event is in the handler and waits for release (or for its
// context to end, which the runtime does only when the drain timeout expires).
type blockingHandler struct {
	entered  chan struct{}
	release  chan struct{}
	ctxEnded chan error
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{entered: make(chan struct{}, 1), release: make(chan struct{}), ctxEnded: make(chan error, 1)}
}

func (b *blockingHandler) handle(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	if e.ID() == "late" {
		// Probes sent while shutdown is beginning may still get in; they finish at once.
		return nil, nil
	}
	b.entered <- struct{}{}
	select {
	case <-b.release:
		r := events.NewTransitionEvent("", events.Transition{Namespace: "team-a", Name: "basic", UID: "u", PreviousPhase: "ValidationRunning",
			Phase: "Succeeded", Reason: "NotebookPassed"})
		return &r, nil
	case <-ctx.Done():
		b.ctxEnded <- ctx.Err()
		return nil, fmt.Errorf("patch status: %w", ctx.Err())
	}
}

func sendPing(t *testing.T, url, id string) (reply, error) {
	h, b := wireEvent{id: id, typ: events.TypePing, data: []byte(`{}`)}.binary()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header = h
	// A fresh connection each time: a refused connection is what a new sender sees.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}, nil
}

// drainTest starts a blocking event, triggers shutdown with trigger, and checks that new
// connections are refused while the in-flight event still completes with its reply.
func drainTest(t *testing.T, trigger func(r *running)) {
	bh := newBlockingHandler()
	r := start(t, Config{DrainTimeout: 10 * time.Second}, bh.handle)
	inflight := make(chan reply, 1)
	go func() {
		resp, err := sendPing(t, r.url, "in-flight")
		if err != nil {
			t.Errorf("in-flight event failed: %v", err)
		}
		inflight <- resp
	}()
	<-bh.entered
	trigger(r)

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := sendPing(t, r.url, "late")
		if err != nil {
			break // refused: the listener is closed
		}
		if time.Now().After(deadline) {
			t.Fatal("new events still accepted after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !r.srv.draining.Load() {
		t.Error("not marked draining")
	}
	select {
	case err := <-r.done:
		t.Fatalf("Serve returned (%v) while an event was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(bh.release)
	resp := <-inflight
	if resp.status != http.StatusOK || resp.header.Get("Ce-Type") != events.TypeTransitioned {
		t.Errorf("in-flight event answered %d %v %q", resp.status, resp.header, resp.body)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve after a clean drain: %v", err)
		}
		r.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the in-flight event finished")
	}
	select {
	case err := <-bh.ctxEnded:
		t.Errorf("in-flight handler's context ended during a clean drain: %v", err)
	default:
	}
}

func TestGracefulShutdownOnCancel(t *testing.T) {
	drainTest(t, func(r *running) { r.stop() })
}

func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	drainTest(t, func(r *running) {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDrainTimeoutCancelsHandlers(t *testing.T) {
	bh := newBlockingHandler()
	r := start(t, Config{DrainTimeout: 200 * time.Millisecond}, bh.handle)
	inflight := make(chan reply, 1)
	go func() {
		resp, _ := sendPing(t, r.url, "stuck")
		inflight <- resp
	}()
	<-bh.entered
	r.stop()
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "still in flight") {
			t.Errorf("Serve after drain timeout: %v", err)
		}
		r.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain timeout")
	}
	select {
	case err := <-bh.ctxEnded:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled at drain timeout")
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	if _, err := newServer(Config{}, testHandler); err == nil {
		t.Error("no types accepted")
	}
	if _, err := newServer(Config{Types: []string{"dev.example.undocumented"}}, testHandler); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Errorf("type without schema: %v", err)
	}
	if _, err := newServer(Config{Types: []string{events.TypePing}}, nil); err == nil {
		t.Error("nil handler")
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("PORT", "9090")
	t.Setenv("NBV_DRAIN_TIMEOUT", "45s")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
	t.Setenv("K_SERVICE", "sweep")
	t.Setenv("NBV_WEBHOOK_ALLOWED_ORIGINS", "ci.example.com, gitlab.example.com")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "9090" || c.DrainTimeout != 45*time.Second || c.OTLPEndpoint != "http://otel:4318" || c.ServiceName != "sweep" ||
		len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "gitlab.example.com" {
		t.Errorf("config %+v", c)
	}
	t.Setenv("NBV_DRAIN_TIMEOUT", "soon")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "NBV_DRAIN_TIMEOUT") {
		t.Errorf("bad drain timeout: %v", err)
	}
	t.Setenv("NBV_DRAIN_TIMEOUT", "")
	t.Setenv("PORT", "http")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Errorf("bad port: %v", err)
	}
	d := Config{}.withDefaults()
	if d.Port != "8080" || d.DrainTimeout != 30*time.Second || d.ServiceName != DefaultServiceName {
		t.Errorf("defaults %+v", d)
	}
}
