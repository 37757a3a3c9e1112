package function

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mlops-dev/nbv/internal/events"
)

// Errors a Handler wraps to choose the answer; see the package documentation.
var (
	// ErrBadInput: the event can never be processed. Answered 400, never retried.
	ErrBadInput = errors.New("bad input")
	// ErrNotFound: the object the event is about no longer exists. Answered 200, nothing done.
	ErrNotFound = errors.New("object no longer exists")
	// ErrConflict: the job kept changing under us (409 after bounded re-reads). Answered 500 so
	// the broker redelivers and the handler decides again from fresh state.
	ErrConflict = errors.New("conflict not resolved")
	// ErrUnavailable: a dependency (the API server) is unavailable. Answered 503.
	ErrUnavailable = errors.New("dependency unavailable")
	// ErrRateLimited: we were throttled. Answered 429 (with Retry-After when known).
	ErrRateLimited = errors.New("rate limited")
)

type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() []error {
	return []error{ErrRateLimited, e.err}
}

// RetryAfter wraps err as ErrRateLimited, asking the sender to wait d before redelivering.
func RetryAfter(d time.Duration, err error) error {
	return &retryAfterError{after: d, err: err}
}

// Outcome labels used in logs and metrics.
const (
	outcomeReply        = "reply"
	outcomeDone         = "done"
	outcomeGone         = "gone"
	outcomeBadInput     = "bad_input"
	outcomeTooLarge     = "too_large"
	outcomeWrongPath    = "wrong_path"
	outcomeRateLimited  = "rate_limited"
	outcomeUnavailable  = "unavailable"
	outcomeConflict     = "conflict"
	outcomeRetry        = "retry"
	outcomePanic        = "panic"
	outcomeReplyInvalid = "reply_invalid"
)

// answer is the HTTP answer to a handler error.
type answer struct {
	status     int
	outcome    string
	retryAfter time.Duration
	// body is sent to the caller. For 4xx it names the problem; for 5xx it says only that the
	// event will be redelivered: internal errors belong in our logs, not in a CI system's.
	body string
}

// classify maps a handler error to an answer. Kubernetes API errors are recognised directly so
// that handlers can return them wrapped without translating.
func classify(err error) answer {
	var ra *retryAfterError
	switch {
	case errors.Is(err, ErrBadInput), errors.Is(err, events.ErrMalformed):
		return answer{status: http.StatusBadRequest, outcome: outcomeBadInput, body: err.Error()}
	case errors.Is(err, ErrNotFound):
		return answer{status: http.StatusOK, outcome: outcomeGone}
	case errors.As(err, &ra):
		return answer{status: http.StatusTooManyRequests, outcome: outcomeRateLimited, retryAfter: ra.after, body: "rate limited, retry later"}
	case errors.Is(err, ErrRateLimited):
		return answer{status: http.StatusTooManyRequests, outcome: outcomeRateLimited, body: "rate limited, retry later"}
	case apierrors.IsTooManyRequests(err):
		a := answer{status: http.StatusTooManyRequests, outcome: outcomeRateLimited, body: "rate limited, retry later"}
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			a.retryAfter = time.Duration(s) * time.Second
		}
		return a
	case errors.Is(err, ErrUnavailable), apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return answer{status: http.StatusServiceUnavailable, outcome: outcomeUnavailable, body: "temporarily unavailable, will be redelivered"}
	case errors.Is(err, ErrConflict), apierrors.IsConflict(err):
		return answer{status: http.StatusInternalServerError, outcome: outcomeConflict, body: "conflicting update, will be redelivered"}
	default:
		return answer{status: http.StatusInternalServerError, outcome: outcomeRetry, body: "internal error, will be redelivered"}
	}
}

// badInput builds the 400 answer for a problem found by the runtime itself.
func badInput(format string, args ...any) answer {
	return answer{status: http.StatusBadRequest, outcome: outcomeBadInput, body: fmt.Sprintf(format, args...)}
}
