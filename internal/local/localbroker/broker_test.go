package localbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// subscriber records the events it receives and answers with the statuses it is given, in order
// (the last one repeats).
type subscriber struct {
	mu       sync.Mutex
	got      []cloudevents.Event
	statuses []int
	reply    func(e cloudevents.Event) *cloudevents.Event
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := cloudevents.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, *e)
	status := s.statuses[min(len(s.got)-1, len(s.statuses)-1)]
	s.mu.Unlock()
	if s.reply != nil && status == http.StatusOK {
		if re := s.reply(*e); re != nil {
			w.Header().Set("Ce-Id", re.ID())
			w.Header().Set("Ce-Specversion", "1.0")
			w.Header().Set("Ce-Type", re.Type())
			w.Header().Set("Ce-Source", re.Source())
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	w.WriteHeader(status)
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// newTestBroker loads the project's real Triggers, shortens their backoff so the test is quick,
// and points each at its own subscriber on loopback.
func newTestBroker(t *testing.T, statuses map[string][]int) (*Broker, map[string]*subscriber) {
	t.Helper()
	triggers, err := LoadTriggers("../../../config/broker/triggers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(triggers) != 6 {
		t.Fatalf("loaded %d triggers, want 6 (job-created, job-created-models, build-status-changed, pod-completed, sweep; dead-letter on the dead-letter broker)", len(triggers))
	}
	subs := map[string]*subscriber{}
	urls := map[string]string{}
	for _, tr := range triggers {
		st := statuses[tr.Name]
		if st == nil {
			st = []int{http.StatusAccepted}
		}
		s := &subscriber{statuses: st}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		subs[tr.Name], urls[tr.Name] = s, srv.URL
	}
	short := "PT0.01S"
	for i := range triggers {
		triggers[i].Spec.Delivery.BackoffDelay = &short
	}
	b, err := New("default", triggers, func(tr *eventingv1.Trigger) (string, error) {
		return urls[tr.Spec.Subscriber.Ref.Name], nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b, subs
}

func apiServerEvent(typ, kind string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("%s-%s-%d", typ, kind, time.Now().UnixNano()))
	e.SetType(typ)
	e.SetSource("https://127.0.0.1:6443")
	e.SetExtension("kind", kind)
	e.SetExtension("name", "job-a")
	e.SetExtension("namespace", "default")
	return e
}

func closeBroker(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRoutesEachEventToItsFunction(t *testing.T) {
	const (
		add    = "dev.knative.apiserver.resource.add"
		update = "dev.knative.apiserver.resource.update"
	)
	ping := cloudevents.NewEvent()
	ping.SetID("ping-1")
	ping.SetType("dev.knative.sources.ping")
	ping.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
	cases := []struct {
		name  string
		event cloudevents.Event
		want  string // trigger that must receive it; "" means none
	}{
		{"job added", apiServerEvent(add, "NotebookValidationJob"), "job-created"},
		{"job updated", apiServerEvent(update, "NotebookValidationJob"), "job-created"},
		{"pipelinerun updated", apiServerEvent(update, "PipelineRun"), "build-status-changed"},
		{"build updated", apiServerEvent(update, "Build"), "build-status-changed"},
		{"pod updated", apiServerEvent(update, "Pod"), "pod-completed"},
		{"ping", ping, "sweep"},
		{"pod added", apiServerEvent(add, "Pod"), ""},
		{"job deleted", apiServerEvent("dev.knative.apiserver.resource.delete", "NotebookValidationJob"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, subs := newTestBroker(t, nil)
			if err := b.Publish(tc.event); err != nil {
				t.Fatal(err)
			}
			closeBroker(t, b)
			for name, s := range subs {
				want := 0
				if name == tc.want {
					want = 1
				}
				if got := s.count(); got != want {
					t.Errorf("trigger %s received %d events, want %d", name, got, want)
				}
			}
		})
	}
}

func TestRetriesRetryableStatusesThenDelivers(t *testing.T) {
	b, subs := newTestBroker(t, map[string][]int{"pod-completed": {503, 409, 202}})
	if err := b.Publish(apiServerEvent("dev.knative.apiserver.resource.update", "Pod")); err != nil {
		t.Fatal(err)
	}
	closeBroker(t, b)
	if got := subs["pod-completed"].count(); got != 3 {
		t.Errorf("attempts = %d, want 3 (503, 409, then 202)", got)
	}
	if dl := b.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters = %v, want none", dl)
	}
	if got := b.Delivered()["pod-completed"]; got != 1 {
		t.Errorf("delivered = %d, want 1", got)
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	b, subs := newTestBroker(t, map[string][]int{"job-created": {400}})
	if err := b.Publish(apiServerEvent("dev.knative.apiserver.resource.add", "NotebookValidationJob")); err != nil {
		t.Fatal(err)
	}
	closeBroker(t, b)
	if got := subs["job-created"].count(); got != 1 {
		t.Errorf("attempts = %d, want 1: a 400 is final", got)
	}
	if dl := b.DeadLetters(); len(dl) != 1 || dl[0].Trigger != "job-created" {
		t.Errorf("dead letters = %v, want the event for job-created", dl)
	}
}

func TestExhaustedRetriesDeadLetter(t *testing.T) {
	b, subs := newTestBroker(t, map[string][]int{"sweep": {500}})
	ping := cloudevents.NewEvent()
	ping.SetID("p")
	ping.SetType("dev.knative.sources.ping")
	ping.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
	if err := b.Publish(ping); err != nil {
		t.Fatal(err)
	}
	closeBroker(t, b)
	if got := subs["sweep"].count(); got != 6 {
		t.Errorf("attempts = %d, want 6 (1 + retry 5 from the Trigger)", got)
	}
	if dl := b.DeadLetters(); len(dl) != 1 {
		t.Errorf("dead letters = %d, want 1", len(dl))
	}
}

func TestIngressRejectsNonEvents(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	defer closeBroker(t, b)
	srv := httptest.NewServer(b)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400 for a request that is not a CloudEvent", resp.StatusCode)
	}
}

func TestClosedBrokerRefusesEvents(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	closeBroker(t, b)
	if err := b.Publish(apiServerEvent("dev.knative.apiserver.resource.add", "NotebookValidationJob")); err == nil {
		t.Error("Publish after Close succeeded, want an error")
	}
}

func TestReplyEventReentersTheBroker(t *testing.T) {
	b, subs := newTestBroker(t, map[string][]int{"job-created": {200}})
	subs["job-created"].reply = func(cloudevents.Event) *cloudevents.Event {
		// A reply that the sweep Trigger matches proves the reply was published again.
		re := cloudevents.NewEvent()
		re.SetID("reply-1")
		re.SetType("dev.knative.sources.ping")
		re.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
		return &re
	}
	if err := b.Publish(apiServerEvent("dev.knative.apiserver.resource.add", "NotebookValidationJob")); err != nil {
		t.Fatal(err)
	}
	// The reply is published by the delivery goroutine before it finishes, so Close waits for it.
	closeBroker(t, b)
	if got := subs["sweep"].count(); got != 1 {
		t.Errorf("sweep received %d events, want the reply of job-created", got)
	}
}
