package cisignature

import (
	"fmt"
	"math"
	"time"
)

// inWindow checks a signed timestamp, in unix seconds, against the window
// [now-maxAge, now+maxSkew]. The timestamp comes from the request and may be any positive
// int64: it is only compared with the window's bounds, never converted to a time.Time or
// subtracted unchecked (time.Unix(9223372036854775807, 0) wraps into the distant past).
func inWindow(sec int64, now time.Time, maxAge, maxSkew time.Duration) error {
	nowSec := now.Unix()
	oldest := nowSec - int64(maxAge/time.Second)
	newest := nowSec + int64(maxSkew/time.Second)
	switch {
	case sec < oldest:
		return fmt.Errorf("%w: signed %s ago (t=%d), limit %s", ErrExpired, spanOf(nowSec, sec), sec, maxAge)
	case sec > newest:
		return fmt.Errorf("%w: signed %s in the future (t=%d), allowed clock skew %s", ErrExpired, spanOf(sec, nowSec), sec, maxSkew)
	}
	return nil
}

// spanOf describes the seconds from earlier to later (later >= earlier), saturating where a
// time.Duration cannot hold them.
func spanOf(later, earlier int64) string {
	if earlier < 0 && later > math.MaxInt64+earlier {
		return "more than 292 years"
	}
	d := later - earlier
	if d > int64(math.MaxInt64/time.Second) {
		return "more than 292 years"
	}
	return (time.Duration(d) * time.Second).String()
}
