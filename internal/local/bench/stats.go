package bench

import (
	"math"
	"slices"
	"time"
)

// Latency is the distribution of one hop over the jobs that made it, in milliseconds.
type Latency struct {
	Hop string  `json:"hop"`
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// latency summarizes samples (nearest-rank percentiles).
func latency(hop string, samples []time.Duration) Latency {
	l := Latency{Hop: hop, N: len(samples)}
	if len(samples) == 0 {
		return l
	}
	ms := make([]float64, len(samples))
	for i, d := range samples {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	slices.Sort(ms)
	l.P50, l.P90, l.P99, l.Max = rank(ms, 50), rank(ms, 90), rank(ms, 99), ms[len(ms)-1]
	return l
}

// rank is the nearest-rank p-th percentile of sorted.
func rank(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// perJob divides n by jobs, rounded to two decimals (0 when there are no jobs).
func perJob(n, jobs int) float64 {
	if jobs == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(jobs)*100) / 100
}
