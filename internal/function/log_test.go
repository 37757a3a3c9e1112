package function

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// A handler working on several jobs logs each with its own job, and the event's summary names
// none of them.
func TestWithJobSeveralJobs(t *testing.T) {
	var buf bytes.Buffer
	st := &reqState{base: slog.New(slog.NewJSONHandler(&buf, nil))}
	ctx := context.WithValue(context.Background(), stateKey{}, st)

	a := WithJob(ctx, "team-a", "one")
	b := WithJob(ctx, "team-b", "two")
	Logger(a).Info("a")
	Logger(b).Info("b")
	Logger(ctx).Info("summary")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"one", "two", ""}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got, _ := m["job.name"].(string)
		if got != want[i] {
			t.Errorf("line %d (%s) names job %q, want %q", i, m["msg"], got, want[i])
		}
	}
}

// One job: the summary line carries it, whichever context logs.
func TestWithJobSingleJobReachesSummary(t *testing.T) {
	var buf bytes.Buffer
	st := &reqState{base: slog.New(slog.NewJSONHandler(&buf, nil))}
	ctx := context.WithValue(context.Background(), stateKey{}, st)
	WithJob(ctx, "team-a", "one")
	WithJob(ctx, "team-a", "one") // the executor announces it again
	Logger(ctx).Info("summary")
	if !strings.Contains(buf.String(), `"job.name":"one"`) {
		t.Errorf("summary %s does not name the job", buf.String())
	}
}
