package function

import (
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/events"
)

func TestHandlingTime(t *testing.T) {
	cases := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{ServerTiming(12345 * time.Microsecond), 12345 * time.Microsecond, true},
		{"db;dur=3, handle;desc=\"event\";dur=7.5", 7500 * time.Microsecond, true},
		{"handle", 0, false},
		{"handle;dur=-1", 0, false},
		{"handle;dur=x", 0, false},
		{"handle;dur=NaN", 0, false},
		{"handle;dur=+Inf", 0, false},
		{"handle;dur=1e300", 0, false},
		{"handle;dur=86400000", 24 * time.Hour, true},
		{"other;dur=5", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		if got, ok := HandlingTime(c.header); got != c.want || ok != c.ok {
			t.Errorf("HandlingTime(%q) = %v, %v; want %v, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

// TestAnswersCarryTheirHandlingTime: every event's answer, accepted or refused, says how long
// the function took.
func TestAnswersCarryTheirHandlingTime(t *testing.T) {
	r := start(t, Config{}, testHandler)
	for _, typ := range []string{events.TypePing, "dev.example.unknown"} {
		h, b := wireEvent{id: "timed-" + typ, typ: typ, subject: "noop", data: []byte(`{}`)}.binary()
		rep := post(t, r.url, h, b)
		if d, ok := HandlingTime(rep.header.Get(ServerTimingHeader)); !ok || d <= 0 {
			t.Errorf("%s answered %d with Server-Timing %q, want a positive handle duration", typ, rep.status, rep.header.Get(ServerTimingHeader))
		}
	}
}
