package function

import (
	"context"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/internal/events"
)

// The sender has the whole answer while the work left for after it is still running, and that
// work runs, once, after the answer.
func TestAnswerIsSentBeforeTheWorkLeftForAfterIt(t *testing.T) {
	release, done := make(chan struct{}), make(chan struct{})
	r := start(t, Config{}, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		AfterAnswer(ctx, func(ctx context.Context) {
			<-release
			if ctx.Err() != nil {
				t.Errorf("the work after the answer got a context already done: %v", ctx.Err())
			}
			close(done)
		})
		return nil, nil
	})
	h, b := wireEvent{id: "after", typ: events.TypePing, subject: "noop", data: []byte(`{}`)}.binary()
	answered := make(chan reply, 1)
	go func() { answered <- post(t, r.url, h, b) }()
	select {
	case rep := <-answered:
		if rep.status != http.StatusAccepted {
			t.Errorf("answer %d %s, want 202", rep.status, rep.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer while the work left for after it was still running")
	}
	select {
	case <-done:
		t.Fatal("the work after the answer ran before it was released")
	default:
	}
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the work left for after the answer never ran")
	}
}

// Outside an event's request (a handler called directly, a route), the work runs at once.
func TestAfterAnswerOutsideARequestRunsAtOnce(t *testing.T) {
	ran := false
	AfterAnswer(context.Background(), func(context.Context) { ran = true })
	if !ran {
		t.Error("AfterAnswer outside a request did not run the work at once")
	}
}
