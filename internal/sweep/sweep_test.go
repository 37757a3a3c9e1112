package sweep

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/jobstore"
)

func TestOptionsFromEnv(t *testing.T) {
	t.Setenv(EnvMaxJobs, "")
	t.Setenv(EnvNamespace, "")
	t.Setenv(EnvNamespaceSelector, "")
	o, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, nil, o)
	if s.opts.MaxJobs != DefaultMaxJobs || s.opts.NamespaceSelector != DefaultNamespaceSelector || s.opts.Namespace != "" {
		t.Errorf("defaults = %+v", s.opts)
	}

	t.Setenv(EnvMaxJobs, "25")
	t.Setenv(EnvNamespace, "team-a")
	t.Setenv(EnvNamespaceSelector, "tier=ml")
	o, err = OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxJobs != 25 || o.Namespace != "team-a" || o.NamespaceSelector != "tier=ml" {
		t.Errorf("options = %+v", o)
	}

	for _, bad := range []string{"0", "-3", "many"} {
		t.Setenv(EnvMaxJobs, bad)
		if _, err := OptionsFromEnv(); err == nil {
			t.Errorf("%s=%q accepted", EnvMaxJobs, bad)
		}
	}
	t.Setenv(EnvMaxJobs, "")
	t.Setenv(EnvNamespaceSelector, "not a selector!")
	if _, err := OptionsFromEnv(); err == nil {
		t.Errorf("%s that is no label selector accepted: every sweep would fail", EnvNamespaceSelector)
	}
}

// TestHandlerRefusesOtherEvents: only a ping starts a sweep, and anything else is a 400 that
// touches nothing (the store is nil: any API access would panic).
func TestHandlerRefusesOtherEvents(t *testing.T) {
	h := Handler(nil, nil, Options{})
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetSource("/x")
	ev.SetType(events.TypeResourceUpdate)
	if _, err := h(context.Background(), ev); !errors.Is(err, function.ErrBadInput) {
		t.Errorf("err = %v, want bad input", err)
	}
}

// TestSweepFailsOnlyWhenListingFails: a sweep that cannot list answers an error the runtime
// turns into a 5xx (not a 400), so the broker redelivers the ping.
func TestSweepFailsOnlyWhenListingFails(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	store, err := jobstore.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{Namespace: "team-a"}, {}} {
		_, err := Handler(nil, store, opts)(context.Background(), ping())
		if err == nil || errors.Is(err, function.ErrBadInput) {
			t.Errorf("options %+v: err = %v, want a retryable error", opts, err)
		}
	}
}

func ping() cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
	ev.SetType(events.TypePing)
	return ev
}
