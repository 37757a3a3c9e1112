package activator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/function"
)

// fakeInstance stands in for a function process: an HTTP server whose handler blocks until
// the test releases it, so the test controls how long each request occupies its instance.
type fakeInstance struct {
	srv     *httptest.Server
	pid     int
	started time.Time
	ready   chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (f *fakeInstance) Pid() int              { return f.pid }
func (f *fakeInstance) Started() time.Time    { return f.started }
func (f *fakeInstance) URL() *url.URL         { u, _ := url.Parse(f.srv.URL); return u }
func (f *fakeInstance) Done() <-chan struct{} { return f.done }
func (f *fakeInstance) Exited() (bool, error) {
	select {
	case <-f.done:
		return true, errors.New("exited")
	default:
		return false, nil
	}
}

func (f *fakeInstance) WaitReady(ctx context.Context) error {
	select {
	case <-f.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeInstance) Stop(time.Duration) error {
	f.once.Do(func() { f.srv.Close(); close(f.done) })
	return nil
}

// pool launches fake instances; each answers 202 with its pid once release is closed.
type pool struct {
	mu        sync.Mutex
	instances []*fakeInstance
	release   chan struct{}
	readyNow  bool
	fail      error
	pids      atomic.Int64
}

func (p *pool) launch(context.Context) (Instance, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	pid := int(p.pids.Add(1))
	inst := &fakeInstance{pid: pid, started: time.Now(), ready: make(chan struct{}), done: make(chan struct{})}
	inst.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-p.release
		w.Header().Set(function.ServerTimingHeader, function.ServerTiming(time.Duration(pid)*time.Millisecond))
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, strings.Repeat("x", pid))
	}))
	if p.readyNow {
		close(inst.ready)
	}
	p.mu.Lock()
	p.instances = append(p.instances, inst)
	p.mu.Unlock()
	return inst, nil
}

func (p *pool) launched() []*fakeInstance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*fakeInstance(nil), p.instances...)
}

func newActivator(t *testing.T, p *pool, concurrency, maxScale int, idle time.Duration) (*Activator, string) {
	t.Helper()
	a, err := New(Options{Name: "fn", Concurrency: concurrency, MaxScale: maxScale, Timeout: 5 * time.Second,
		Idle: idle, StopGrace: time.Second, Launch: p.launch})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(a)
	t.Cleanup(func() {
		front.Close()
		_ = a.Close(context.Background())
	})
	return a, front.URL
}

func post(url string) (int, error) {
	resp, err := http.Post(url, "text/plain", strings.NewReader("event"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// TestRequestIsHeldUntilAnInstanceIsReady: with no instance, a request starts one, waits
// while it is not ready, and is then delivered; the instance stops after the idle window.
func TestRequestIsHeldUntilAnInstanceIsReady(t *testing.T) {
	p := &pool{release: make(chan struct{})}
	close(p.release)
	a, url := newActivator(t, p, 1, 3, 100*time.Millisecond)
	if n := len(a.Processes()); n != 0 {
		t.Fatalf("%d instances before any request, want 0", n)
	}
	status := make(chan int, 1)
	go func() {
		s, err := post(url)
		if err != nil {
			t.Error(err)
		}
		status <- s
	}()
	eventually(t, "an instance launched", func() bool { return len(p.launched()) == 1 })
	select {
	case s := <-status:
		t.Fatalf("answered %d before the instance was ready", s)
	case <-time.After(50 * time.Millisecond):
	}
	close(p.launched()[0].ready)
	if s := <-status; s != http.StatusAccepted {
		t.Fatalf("status %d, want the instance's 202", s)
	}
	if cs := a.ColdStarts(); len(cs) != 1 || cs[0].AcceptedToAnswered < cs[0].AcceptedToReady || cs[0].Handled != time.Millisecond {
		t.Errorf("cold starts = %+v, want one, answered after ready, handled in the 1ms its answer says", cs)
	}
	eventually(t, "the idle instance left the pool", func() bool { return len(a.Processes()) == 0 })
	// It leaves the pool first (no request may reach a draining instance), then is stopped.
	eventually(t, "the idle instance stopped", func() bool {
		select {
		case <-p.launched()[0].done:
			return true
		default:
			return false
		}
	})
	if len(p.launched()) != 1 {
		t.Errorf("%d instances launched for one request, want 1", len(p.launched()))
	}
}

// TestLoadBeyondConcurrencyScalesOut: with containerConcurrency 1, two concurrent requests
// run on two instances; with max-scale 1, the second waits for the first to finish.
func TestLoadBeyondConcurrencyScalesOut(t *testing.T) {
	for _, c := range []struct {
		maxScale, want int
	}{{2, 2}, {1, 1}} {
		p := &pool{release: make(chan struct{}), readyNow: true}
		a, url := newActivator(t, p, 1, c.maxScale, time.Minute)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range statuses {
			wg.Go(func() { statuses[i], _ = post(url) })
		}
		eventually(t, "both requests accepted", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			inflight := 0
			for _, inst := range a.instances {
				inflight += inst.inflight
			}
			return inflight+a.waiting == 2
		})
		if got := len(p.launched()); got != c.want {
			t.Errorf("max-scale %d: %d instances for 2 concurrent requests at concurrency 1, want %d", c.maxScale, got, c.want)
		}
		close(p.release)
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusAccepted {
				t.Errorf("max-scale %d: request %d answered %d, want 202", c.maxScale, i, s)
			}
		}
		if peak := a.Peak(); peak != c.want {
			t.Errorf("max-scale %d: peak %d instances, want %d", c.maxScale, peak, c.want)
		}
	}
}

// TestFailedLaunchAnswers503: an instance that cannot start fails the waiting request with a
// retryable status naming why, instead of holding it until the timeout.
func TestFailedLaunchAnswers503(t *testing.T) {
	p := &pool{release: make(chan struct{}), fail: errors.New("no binary")}
	var failures atomic.Int64
	a, err := New(Options{Name: "fn", Concurrency: 1, MaxScale: 1, Timeout: 5 * time.Second, Idle: time.Minute,
		StopGrace: time.Second, Launch: p.launch, Failed: func(error) { failures.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(a)
	defer front.Close()
	start := time.Now()
	resp, err := http.Post(front.URL, "text/plain", strings.NewReader("event"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no binary") {
		t.Errorf("answer %d %q, want 503 naming the launch failure", resp.StatusCode, body)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("the failure took %s: it waited for the timeout", time.Since(start))
	}
	if failures.Load() != 1 {
		t.Errorf("Failed heard %d failures, want 1", failures.Load())
	}
}
