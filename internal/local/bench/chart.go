package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/mlops-dev/nbv/internal/timechart"
)

// HopChart draws each hop's latency, job by job in the order the jobs were created, one lane
// per hop that has samples: how latency moves over a burst (a backlog building up, a cold
// start at its head) where the table gives only its distribution.
func (r *Result) HopChart(w io.Writer) error {
	c := timechart.Chart{
		Title:  fmt.Sprintf("Hop latency per job, by creation time: %d jobs, %s (local stack)", r.Config.Jobs, r.Config.Pacing),
		YLabel: "ms",
		XLabel: "the job's creation, from the first",
		Lanes:  true,
		Height: 560,
	}
	for _, hop := range hopOrder {
		samples := r.HopSamples[hop]
		if len(samples) == 0 {
			continue
		}
		s := timechart.Series{Name: hop}
		for _, h := range samples {
			s.Points = append(s.Points, timechart.Point{At: h.Created, Value: float64(h.Latency) / float64(time.Millisecond)})
		}
		c.Series = append(c.Series, s)
	}
	return c.PNG(w)
}
