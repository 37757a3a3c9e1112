// Package deadletter is the receiving end of the dead-letter Broker (config/broker): every
// Trigger of the default Broker sends what it could not deliver after its retries to the
// Broker nbv-dead-letter, whose Trigger "dead-letter" delivers it here, at Path of the sweep
// function. Each event is logged (id, type, subject, the function it could not reach, that
// function's last answer) and counted as metrics.NameDeadLetters, then answered 202: the
// sweep recovers the job the lost event was about within a minute, so nothing is redelivered.
//
// Knative records why it gave up as CloudEvents extensions on the dead-lettered event
// (knative.dev/eventing pkg/kncloudevents/attributes): knativeerrordest (the subscriber's
// URL), knativeerrorcode (its last HTTP status) and knativeerrordata (its answer, at most
// 1 KiB).
package deadletter

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/metrics"
)

// Path is where the sweep function serves dead letters (the Trigger's subscriber uri).
const Path = "/dead-letter"

// Knative's extensions on a dead-lettered event.
const (
	ExtDest = "knativeerrordest"
	ExtCode = "knativeerrorcode"
	ExtData = "knativeerrordata"
)

// Functions are the Knative Services the default Broker's Triggers deliver to
// (config/functions/services.yaml): the only destination values recorded.
var Functions = []string{"job-created", "build-status-changed", "pod-completed", "sweep"}

// maxBody bounds a dead-lettered event (the largest event a function accepts, plus Knative's
// extensions).
const maxBody = 2 << 20

// Route counts and logs dead letters.
type Route struct{}

// Routes is the function.Config.Routes value mounting the Route at Path.
func Routes() map[string]http.Handler { return map[string]http.Handler{Path: Route{}} }

// ServeHTTP answers 202 to a dead-lettered CloudEvent and 400 to anything else.
func (Route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ev, err := cloudevents.NewEventFromHTTPRequest(r)
	if err != nil {
		function.Logger(r.Context()).Warn("dead letter: not a CloudEvent", "error", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("not a CloudEvent: %v", err), http.StatusBadRequest)
		return
	}
	l := Describe(*ev)
	metrics.RecordDeadLetter(r.Context(), l.EventType, l.Destination, l.Status)
	function.Logger(r.Context()).Warn("dead letter: the broker gave up delivering an event; the sweep recovers its job",
		"event.id", ev.ID(), "event.type", ev.Type(), "event.source", ev.Source(), "event.subject", ev.Subject(),
		"destination", l.Destination, "destination.url", extension(*ev, ExtDest), "status", l.Status, "answer", extension(*ev, ExtData))
	w.WriteHeader(http.StatusAccepted)
}

// Letter is what the metric records of a dead letter, each value from a bounded set.
type Letter struct {
	EventType   string // an event type with a schema (events.HasSchema), else "other"
	Destination string // one of Functions, else "other"
	Status      int    // the destination's last HTTP status, 0 when it gave none
}

// Describe reads the bounded attributes of a dead-lettered event.
func Describe(ev cloudevents.Event) Letter {
	l := Letter{EventType: "other", Destination: "other"}
	if events.HasSchema(ev.Type()) {
		l.EventType = ev.Type()
	}
	if u, err := url.Parse(extension(ev, ExtDest)); err == nil {
		host, _, _ := strings.Cut(u.Hostname(), ".")
		for _, f := range Functions {
			if host == f {
				l.Destination = f
			}
		}
	}
	if code, err := strconv.Atoi(extension(ev, ExtCode)); err == nil && code >= 100 && code <= 599 {
		l.Status = code
	}
	return l
}

// extension is an extension's value as text ("" when absent).
func extension(ev cloudevents.Event, name string) string {
	v, ok := ev.Extensions()[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}
