package function

import (
	"strconv"
	"strings"
	"time"
)

// ServerTimingHeader carries, on every event's answer, how long the function took from the
// request's arrival to its answer (W3C Server Timing, metric "handle"), so that whoever holds
// the request outside (the local stack's activator, a tracing proxy) can tell the function's
// own time from the wait for it to start.
const ServerTimingHeader = "Server-Timing"

// serverTimingMetric is the Server-Timing metric of an event's handling.
const serverTimingMetric = "handle"

// ServerTiming is the Server-Timing value of a handling that took d.
func ServerTiming(d time.Duration) string {
	return serverTimingMetric + ";dur=" + strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

// maxHandlingMs bounds a handling time read back: a day, far beyond any event's timeout,
// and far below where a float of milliseconds would overflow a time.Duration.
const maxHandlingMs = 24 * 60 * 60 * 1000

// HandlingTime reads the handling time a function's answer carries in its Server-Timing
// header value, or false when it carries none.
func HandlingTime(header string) (time.Duration, bool) {
	for metric := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(metric), ";")
		if strings.TrimSpace(name) != serverTimingMetric {
			continue
		}
		for param := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok || strings.TrimSpace(k) != "dur" {
				continue
			}
			ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || !(ms >= 0 && ms <= maxHandlingMs) { // NaN fails both
				return 0, false
			}
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	return 0, false
}
