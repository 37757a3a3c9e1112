package sweep

import (
	"context"
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
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
