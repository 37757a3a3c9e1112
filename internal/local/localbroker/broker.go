// Package localbroker is the Broker of the local embedded stack: it accepts CloudEvents on an
// HTTP ingress, matches them against the Triggers in config/broker with Knative's own filter
// library (knative.dev/eventing/pkg/eventfilter/subscriptionsapi, see filter.go), and delivers each match to
// the Trigger's subscriber with the Trigger's retry and backoff, like the in-cluster broker:
// 2xx is delivered (a reply event re-enters the broker), 404/409/429/5xx and transport errors
// are retried, any other status is final. What cannot be delivered goes to the dead letters.
package localbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// Resolver maps a Trigger's subscriber to the URL the event is POSTed to.
type Resolver func(t *eventingv1.Trigger) (string, error)

// DeadLetter is an event that exhausted its Trigger's delivery attempts.
type DeadLetter struct {
	Trigger string
	Event   cloudevents.Event
	Reason  string
}

// Broker routes events to Triggers. Create it with New; stop it with Close.
type Broker struct {
	routes []route
	client cloudevents.Client
	log    *slog.Logger

	mu          sync.Mutex
	deadLetters []DeadLetter
	delivered   map[string]int // trigger name -> successful deliveries
	closed      bool
	inflight    sync.WaitGroup
}

type route struct {
	name     string
	url      string
	matches  predicate
	attempts int
	backoff  func(attempt int) time.Duration
}

// New builds a Broker for the Triggers whose spec.broker is brokerName.
func New(brokerName string, triggers []eventingv1.Trigger, resolve Resolver, log *slog.Logger) (*Broker, error) {
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		return nil, fmt.Errorf("create delivery client: %w", err)
	}
	b := &Broker{client: client, log: log, delivered: map[string]int{}}
	for i := range triggers {
		t := &triggers[i]
		if t.Spec.Broker != brokerName {
			continue
		}
		r, err := newRoute(t, resolve)
		if err != nil {
			return nil, err
		}
		b.routes = append(b.routes, r)
	}
	if len(b.routes) == 0 {
		return nil, fmt.Errorf("no Trigger names broker %q", brokerName)
	}
	return b, nil
}

func newRoute(t *eventingv1.Trigger, resolve Resolver) (route, error) {
	matches, err := compileFilters(t.Spec.Filters)
	if err != nil {
		return route{}, fmt.Errorf("trigger %s: spec.filters: %w", t.Name, err)
	}
	if t.Spec.Filter != nil && len(t.Spec.Filter.Attributes) > 0 {
		return route{}, fmt.Errorf("trigger %s: spec.filter (legacy attributes) is not used by this project; use spec.filters", t.Name)
	}
	url, err := resolve(t)
	if err != nil {
		return route{}, fmt.Errorf("trigger %s: resolve subscriber: %w", t.Name, err)
	}
	attempts, backoff, err := deliveryPolicy(t)
	if err != nil {
		return route{}, fmt.Errorf("trigger %s: %w", t.Name, err)
	}
	return route{
		name:     t.Name,
		url:      url,
		matches:  matches,
		attempts: attempts,
		backoff:  backoff,
	}, nil
}

// ServeHTTP is the broker ingress: it accepts a CloudEvent (structured or binary), answers
// 202 once the event is queued for every matching Trigger, 400 when it is not a valid event.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "broker ingress accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	event, err := cloudevents.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, fmt.Sprintf("not a CloudEvent: %v", err), http.StatusBadRequest)
		return
	}
	if err := event.Validate(); err != nil {
		http.Error(w, fmt.Sprintf("invalid CloudEvent: %v", err), http.StatusBadRequest)
		return
	}
	if err := b.Publish(*event); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// Publish queues an event for every Trigger whose filters pass it.
func (b *Broker) Publish(event cloudevents.Event) error {
	return b.publish(event, false)
}

// publish queues event; a reply of an in-flight delivery is still routed while the broker
// drains, since the delivery it answers was accepted before Close.
func (b *Broker) publish(event cloudevents.Event, reply bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed && !reply {
		return errors.New("broker is shutting down")
	}
	for _, r := range b.routes {
		if !r.matches(context.Background(), event) {
			continue
		}
		b.inflight.Add(1)
		go func() {
			defer b.inflight.Done()
			b.deliver(r, event.Clone())
		}()
	}
	return nil
}

func (b *Broker) deliver(r route, event cloudevents.Event) {
	log := b.log.With("trigger", r.name, "id", event.ID(), "type", event.Type(), "subject", event.Subject())
	var lastReason string
	for attempt := 0; attempt < r.attempts; attempt++ {
		if attempt > 0 {
			time.Sleep(r.backoff(attempt))
		}
		ctx, cancel := context.WithTimeout(cloudevents.ContextWithTarget(context.Background(), r.url), 2*time.Minute)
		reply, result := b.client.Request(ctx, event)
		cancel()
		status, ok, retry := classify(result)
		if ok {
			log.Debug("delivered", "attempt", attempt+1, "status", status)
			b.mu.Lock()
			b.delivered[r.name]++
			b.mu.Unlock()
			if reply != nil {
				if err := b.publish(*reply, true); err != nil {
					log.Warn("reply dropped", "error", err)
				}
			}
			return
		}
		lastReason = fmt.Sprintf("attempt %d: %v", attempt+1, result)
		if !retry {
			break
		}
		log.Info("delivery failed, will retry", "attempt", attempt+1, "status", status, "error", result)
	}
	log.Warn("dead-lettered", "reason", lastReason)
	b.mu.Lock()
	b.deadLetters = append(b.deadLetters, DeadLetter{Trigger: r.name, Event: event, Reason: lastReason})
	b.mu.Unlock()
}

// classify returns the HTTP status of a delivery (0 for a transport error), whether it was
// delivered, and whether to retry, following Knative's dispatcher: 404, 409, 429, 5xx and
// transport errors retry; other statuses are final.
func classify(result error) (status int, ok, retry bool) {
	var httpResult *cehttp.Result
	if !cloudevents.ResultAs(result, &httpResult) {
		ok = cloudevents.IsACK(result)
		return 0, ok, !ok
	}
	status = httpResult.StatusCode
	switch {
	case status >= 200 && status < 300:
		return status, true, false
	case status == http.StatusNotFound, status == http.StatusConflict, status == http.StatusTooManyRequests, status >= 500:
		return status, false, true
	default:
		return status, false, false
	}
}

// DeadLetters returns what could not be delivered so far.
func (b *Broker) DeadLetters() []DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.deadLetters...)
}

// Delivered returns how many events each Trigger's subscriber acknowledged.
func (b *Broker) Delivered() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.delivered))
	for k, v := range b.delivered {
		out[k] = v
	}
	return out
}

// Close refuses new events and waits for in-flight deliveries, or for ctx.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker close: %w", ctx.Err())
	}
}
