package localstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/mlops-dev/nbv/internal/events"
)

// SystemNamespace is where a cluster install keeps the event sources (eventsources/ is applied
// there); the sweep's Trigger matches the PingSource by a source attribute naming it.
const SystemNamespace = "nbv-system"

// DefaultPingInterval stands in for the PingSources' cron schedules, which the local stack
// does not evaluate: every manifest in eventsources/ pings once a minute.
const DefaultPingInterval = time.Minute

// pingEvent is the event Knative's PingSource adapter sends for src: its type, a source naming
// the PingSource, and the manifest's data with its content type.
func pingEvent(src *sourcesv1.PingSource, now time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(uuid.NewString())
	e.SetType(events.TypePing)
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/pingsources/%s", SystemNamespace, src.Name))
	e.SetTime(now)
	data := []byte(src.Spec.Data)
	if src.Spec.DataBase64 != "" {
		decoded, err := base64.StdEncoding.DecodeString(src.Spec.DataBase64)
		if err != nil {
			return e, fmt.Errorf("PingSource %s: dataBase64: %w", src.Name, err)
		}
		data = decoded
	}
	if len(data) > 0 {
		e.SetDataContentType(src.Spec.ContentType)
		e.DataEncoded = data
	}
	return e, nil
}

// runPings posts each PingSource's event to sink every interval until ctx ends.
func (s *Stack) runPings(ctx context.Context, sources []*sourcesv1.PingSource, sink string, interval time.Duration, log *slog.Logger) error {
	client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(sink))
	if err != nil {
		return fmt.Errorf("ping client: %w", err)
	}
	for _, src := range sources {
		if _, err := pingEvent(src, time.Now()); err != nil {
			return err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				for _, src := range sources {
					e, _ := pingEvent(src, now) // validated above
					if res := client.Send(ctx, e); !cloudevents.IsACK(res) && ctx.Err() == nil {
						log.Warn("ping not accepted", "pingsource", src.Name, "error", res)
					}
				}
			}
		}
	}()
	return nil
}
