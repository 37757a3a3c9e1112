package events

import (
	"encoding/json"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Transition is the data of a TypeTransitioned event: a job moved from PreviousPhase to Phase.
type Transition struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// PreviousPhase is "" for a new job.
	PreviousPhase string `json:"previousPhase"`
	Phase         string `json:"phase"`
	// Reason is a CamelCase machine-readable reason, as in a Kubernetes condition.
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	ObservedGeneration int64  `json:"observedGeneration"`
	// ResourceVersion is the job's resourceVersion after the write, when the sender knows it.
	ResourceVersion string    `json:"resourceVersion,omitempty"`
	Time            time.Time `json:"time"`
}

// JobSubject is the CloudEvents subject naming a job, in the selfLink form an ApiServerSource uses.
func JobSubject(namespace, name string) string {
	return "/apis/mlops.mlops.dev/v1alpha1/namespaces/" + namespace + "/notebookvalidationjobs/" + name
}

// NewTransitionEvent builds the reply event for a transition; source names the sender (the
// function's service). The id names the write: the job's uid and the resourceVersion it wrote,
// so every transition has its own id (two infrastructure retries move ValidationRunning to
// ValidationRunning with the same generation) and a subscriber can drop a duplicate delivery
// by (source, id). Without a resourceVersion the id falls back to uid, generation and phases. nvjpreviousphase is omitted for a
// new job: an empty extension value cannot be matched by a Trigger filter and reads as absent in
// binary mode anyway. A zero Time is replaced by now.
func NewTransitionEvent(source string, t Transition) cloudevents.Event {
	if t.Time.IsZero() {
		t.Time = time.Now()
	}
	// RFC 3339 in UTC with sub-second precision is what the schema's date-time format accepts
	// and sorts lexically.
	t.Time = t.Time.UTC()
	e := cloudevents.NewEvent()
	if t.ResourceVersion != "" {
		e.SetID(t.UID + "." + t.ResourceVersion)
	} else {
		e.SetID(t.UID + "." + strconv.FormatInt(t.ObservedGeneration, 10) + "." + phaseOrNone(t.PreviousPhase) + "." + t.Phase)
	}
	e.SetType(TypeTransitioned)
	e.SetSource(source)
	e.SetSubject(JobSubject(t.Namespace, t.Name))
	e.SetTime(t.Time)
	e.SetExtension(ExtJobNamespace, t.Namespace)
	e.SetExtension(ExtJobName, t.Name)
	e.SetExtension(ExtPhase, t.Phase)
	if t.PreviousPhase != "" {
		e.SetExtension(ExtPreviousPhase, t.PreviousPhase)
	}
	// Marshalling a struct of strings, an int64 and a UTC time cannot fail for years 0-9999,
	// and a status time outside that range is not something a clock produces.
	data, _ := json.Marshal(t)
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = data
	return e
}

func phaseOrNone(p string) string {
	if p == "" {
		return "None"
	}
	return p
}

// DecodeTransition decodes and schema-validates a TypeTransitioned event, for subscribers.
func DecodeTransition(ce cloudevents.Event) (Transition, error) {
	return decodeData[Transition](ce, TypeTransitioned)
}
