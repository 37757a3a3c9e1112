package function

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// afterAnswerTimeout bounds the work run after an event's answer (AfterAnswer): it no longer
// has the sender's deadline, and a stuck call must not hold the request, and with it the
// drain, for long.
const afterAnswerTimeout = 10 * time.Second

// AfterAnswer runs fn once the answer to the event being handled has been sent, still within
// the request, so the drain at shutdown waits for it. It is for best-effort work the sender
// need not wait for: recording a Kubernetes Event about a status already written costs the
// answer one API round trip less. Outside an event's request (a route, a test calling a
// handler directly) fn runs at once.
func AfterAnswer(ctx context.Context, fn func(context.Context)) {
	st := stateFrom(ctx)
	if st == nil || !st.answerFirst {
		fn(ctx)
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.afterAnswer = append(st.afterAnswer, fn)
}

// runAfterAnswer runs what AfterAnswer queued, each on a context that outlives the sender's
// connection (which may close once the answer is read), and logs a panic instead of dying.
func (st *reqState) runAfterAnswer(ctx context.Context) {
	st.mu.Lock()
	fns := st.afterAnswer
	st.afterAnswer = nil
	st.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterAnswerTimeout)
	defer cancel()
	for _, fn := range fns {
		func() {
			defer func() {
				if v := recover(); v != nil {
					Logger(ctx).Error("work after the answer panicked", slog.String("error", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				}
			}()
			fn(ctx)
		}()
	}
}

// bufferedAnswer holds an answer until it is complete, so that it can be sent whole, with its
// Content-Length, and flushed: the sender then has all of it while the handler goes on with
// the work queued by AfterAnswer.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedAnswer() *bufferedAnswer { return &bufferedAnswer{header: http.Header{}} }

func (b *bufferedAnswer) Header() http.Header { return b.header }

func (b *bufferedAnswer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// sendTo writes the answer to w and flushes it.
func (b *bufferedAnswer) sendTo(w http.ResponseWriter) error {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if _, err := w.Write(b.body.Bytes()); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}
