// Package activator puts a function behind one URL that scales it like Knative Serving's
// activator and autoscaler do: a request that finds no instance with free capacity is held
// while an instance starts and becomes ready, then proxied; an instance idle for the idle
// window is stopped (it drains on SIGTERM); requests beyond containerConcurrency per instance
// start more instances, up to max-scale, and wait for capacity no longer than the request
// timeout. How an instance is started is the caller's (a Launcher).
package activator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/mlops-dev/nbv/internal/function"
)

// Instance is one started instance of a function.
type Instance interface {
	// Pid identifies the instance's process.
	Pid() int
	// Started is when its process started.
	Started() time.Time
	// URL is where it serves.
	URL() *url.URL
	// WaitReady returns once the instance reports ready, or why it never will.
	WaitReady(ctx context.Context) error
	// Done is closed when the instance has exited.
	Done() <-chan struct{}
	// Exited reports whether the instance has exited, and if so how (with its last output).
	Exited() (bool, error)
	// Stop asks the instance to drain and exit, and forces it after grace.
	Stop(grace time.Duration) error
}

// Launcher starts one instance; it returns as soon as the process runs (readiness is waited
// for with Instance.WaitReady).
type Launcher func(ctx context.Context) (Instance, error)

// Options configure an Activator.
type Options struct {
	// Name is the function's name, in logs and errors.
	Name string
	// Concurrency is how many requests one instance serves at once (containerConcurrency);
	// 0 is unbounded.
	Concurrency int
	// MaxScale bounds the instances (autoscaling.knative.dev/max-scale); at least 1.
	MaxScale int
	// Timeout bounds a request from its arrival to its answer, waiting for capacity included
	// (timeoutSeconds).
	Timeout time.Duration
	// Idle is how long an instance may serve nothing before it is stopped.
	Idle time.Duration
	// StopGrace is how long a stopping instance may drain before it is killed.
	StopGrace time.Duration
	// Launch starts an instance.
	Launch Launcher
	// Log receives instance starts and stops; nil discards.
	Log *slog.Logger
	// Failed, when set, hears of every instance that failed to start, exited on its own, or
	// could not be stopped.
	Failed func(error)
}

// ColdStart is one request that had to wait for a new instance.
type ColdStart struct {
	Pid int
	// ProcessToReady is from the process start to its first ready answer.
	ProcessToReady time.Duration
	// AcceptedToReady is from the request's arrival to the instance being ready.
	AcceptedToReady time.Duration
	// AcceptedToAnswered is from the request's arrival to its answer.
	AcceptedToAnswered time.Duration
	// ProcessToAnswered is from the process start to this request's answer: for the first
	// request a new process answers, the whole cold path a held event pays.
	ProcessToAnswered time.Duration
	// Handled is the function's own time for the request, from its arrival at the process to
	// the answer, as the answer's Server-Timing says (function.HandlingTime); zero when it
	// says nothing. ProcessToAnswered - ProcessToReady - Handled is the hand-off.
	Handled time.Duration
}

// maxColdStarts bounds the cold starts remembered for ColdStarts.
const maxColdStarts = 1000

// Activator is the HTTP front of one function. Stop it with Close.
type Activator struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	instances []*instance
	waiting   int           // requests waiting for capacity
	changed   chan struct{} // closed and replaced whenever capacity may have changed
	failures  int           // launches that failed so far
	lastFail  error
	closed    bool
	cold      []ColdStart
	peak      int
	work      sync.WaitGroup // launches and stops in progress
}

type instance struct {
	Instance
	proxy    *httputil.ReverseProxy
	ready    bool
	readyAt  time.Time
	draining bool
	inflight int
	served   int
	lastUsed time.Time
}

// New returns an Activator with no instance running.
func New(opts Options) (*Activator, error) {
	switch {
	case opts.Launch == nil:
		return nil, fmt.Errorf("activator %s: no Launcher", opts.Name)
	case opts.MaxScale < 1:
		return nil, fmt.Errorf("activator %s: max-scale %d, want at least 1", opts.Name, opts.MaxScale)
	case opts.Concurrency < 0 || opts.Timeout <= 0 || opts.Idle <= 0:
		return nil, fmt.Errorf("activator %s: concurrency %d, timeout %s, idle %s: want concurrency >= 0 and positive durations",
			opts.Name, opts.Concurrency, opts.Timeout, opts.Idle)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Activator{opts: opts, log: log.With("function", opts.Name), changed: make(chan struct{})}, nil
}

// ServeHTTP holds the request until an instance has capacity for it, then proxies it.
func (a *Activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	accepted := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.Timeout)
	defer cancel()
	inst, waited, err := a.acquire(ctx, accepted)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	inst.proxy.ServeHTTP(w, r.WithContext(ctx))
	a.release(inst)
	if waited && !inst.readyAt.Before(accepted) {
		c := ColdStart{Pid: inst.Pid(), ProcessToReady: inst.readyAt.Sub(inst.Started()),
			AcceptedToReady: inst.readyAt.Sub(accepted), AcceptedToAnswered: time.Since(accepted), ProcessToAnswered: time.Since(inst.Started())}
		// The proxy copied the answer's headers into w's.
		c.Handled, _ = function.HandlingTime(w.Header().Get(function.ServerTimingHeader))
		a.mu.Lock()
		if len(a.cold) < maxColdStarts {
			a.cold = append(a.cold, c)
		}
		a.mu.Unlock()
		a.log.Info("cold request answered", "pid", c.Pid, "accepted_to_ready", c.AcceptedToReady.Round(time.Millisecond),
			"accepted_to_answered", c.AcceptedToAnswered.Round(time.Millisecond))
	}
}

// acquire reserves a slot on a ready instance, starting instances while the waiting requests
// exceed the capacity already starting. waited reports that the request could not be served
// at once.
func (a *Activator) acquire(ctx context.Context, accepted time.Time) (_ *instance, waited bool, _ error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	failures := a.failures
	for {
		if a.closed {
			return nil, waited, fmt.Errorf("%s is shutting down", a.opts.Name)
		}
		if inst := a.freeInstance(); inst != nil {
			inst.inflight++
			return inst, waited, nil
		}
		if a.failures > failures {
			return nil, waited, fmt.Errorf("%s: no instance could start: %w", a.opts.Name, a.lastFail)
		}
		if !waited {
			waited = true
			a.waiting++
			defer func() { a.waiting-- }()
		}
		if a.waiting > a.startingCapacity() && len(a.instances) < a.opts.MaxScale {
			a.startLocked(accepted)
			continue // the launch may have failed already
		}
		changed := a.changed
		a.mu.Unlock()
		select {
		case <-changed:
			a.mu.Lock()
		case <-ctx.Done():
			a.mu.Lock()
			return nil, waited, fmt.Errorf("%s: no instance had capacity within the request timeout %s (%d running, max-scale %d, containerConcurrency %d)",
				a.opts.Name, a.opts.Timeout, len(a.instances), a.opts.MaxScale, a.opts.Concurrency)
		}
	}
}

// freeInstance is the ready instance with the most free capacity, or nil.
func (a *Activator) freeInstance() *instance {
	var best *instance
	for _, inst := range a.instances {
		if !inst.ready || inst.draining || (a.opts.Concurrency > 0 && inst.inflight >= a.opts.Concurrency) {
			continue
		}
		if best == nil || inst.inflight < best.inflight {
			best = inst
		}
	}
	return best
}

// startingCapacity is how many waiting requests the instances still starting will take.
func (a *Activator) startingCapacity() int {
	n := 0
	for _, inst := range a.instances {
		if inst.ready || inst.draining {
			continue
		}
		if a.opts.Concurrency == 0 {
			return int(^uint(0) >> 1)
		}
		n += a.opts.Concurrency
	}
	return n
}

// broadcastLocked wakes every waiting request.
func (a *Activator) broadcastLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// startLocked launches an instance. The process is started with a.mu held, so that the next
// waiting request already counts it as starting capacity; readiness is awaited without it.
func (a *Activator) startLocked(accepted time.Time) {
	launched, err := a.opts.Launch(context.Background())
	if err != nil {
		a.failLocked(fmt.Errorf("starting an instance: %w", err))
		return
	}
	inst := &instance{Instance: launched, proxy: a.newProxy(launched)}
	a.instances = append(a.instances, inst)
	a.peak = max(a.peak, len(a.instances))
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
		defer cancel()
		err := inst.WaitReady(ctx)
		a.mu.Lock()
		defer a.mu.Unlock()
		if inst.draining {
			return // stopped while starting (Close)
		}
		if err != nil {
			a.removeLocked(inst)
			a.failLocked(fmt.Errorf("instance pid %d never became ready: %w", inst.Pid(), err))
			a.stopAsync(inst, "not ready")
			return
		}
		inst.ready, inst.readyAt, inst.lastUsed = true, time.Now(), time.Now()
		a.log.Info("instance started", "pid", inst.Pid(), "process_start_to_ready", inst.readyAt.Sub(inst.Started()).Round(time.Millisecond),
			"accepted_to_ready", inst.readyAt.Sub(accepted).Round(time.Millisecond), "instances", len(a.instances))
		a.armIdleLocked(inst)
		a.watchExit(inst)
		a.broadcastLocked()
	}()
}

func (a *Activator) failLocked(err error) {
	a.failures++
	a.lastFail = err
	a.log.Error("instance failed to start", "error", err)
	a.reportFailure(err)
	a.broadcastLocked()
}

func (a *Activator) newProxy(inst Instance) *httputil.ReverseProxy {
	target := inst.URL()
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("%s instance pid %d: %v", a.opts.Name, inst.Pid(), err), http.StatusBadGateway)
		},
	}
}

func (a *Activator) reportFailure(err error) {
	if a.opts.Failed != nil {
		a.opts.Failed(fmt.Errorf("%s: %w", a.opts.Name, err))
	}
}

// release frees the request's slot and, when the instance goes idle, arms its idle timer.
func (a *Activator) release(inst *instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inst.inflight--
	inst.served++
	inst.lastUsed = time.Now()
	a.armIdleLocked(inst)
	a.broadcastLocked()
}

func (a *Activator) armIdleLocked(inst *instance) {
	if inst.inflight > 0 {
		return
	}
	time.AfterFunc(a.opts.Idle, func() { a.stopIfIdle(inst) })
}

// stopIfIdle stops inst when it has served nothing for the idle window.
func (a *Activator) stopIfIdle(inst *instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if inst.draining || inst.inflight > 0 || time.Since(inst.lastUsed) < a.opts.Idle {
		return
	}
	a.removeLocked(inst)
	a.stopAsync(inst, "idle")
}

// removeLocked takes inst out of the pool: no new request reaches it.
func (a *Activator) removeLocked(inst *instance) {
	inst.draining = true
	for i, x := range a.instances {
		if x == inst {
			a.instances = append(a.instances[:i], a.instances[i+1:]...)
			break
		}
	}
}

func (a *Activator) stopAsync(inst *instance, reason string) {
	served := inst.served
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		err := inst.Stop(a.opts.StopGrace)
		a.mu.Lock()
		left := len(a.instances)
		a.mu.Unlock()
		if err != nil {
			a.log.Error("instance stop failed", "pid", inst.Pid(), "reason", reason, "error", err)
			a.reportFailure(fmt.Errorf("stopping instance pid %d: %w", inst.Pid(), err))
			return
		}
		a.log.Info("instance stopped", "pid", inst.Pid(), "reason", reason, "served", served,
			"lifetime", time.Since(inst.Started()).Round(time.Millisecond), "instances", left)
	}()
}

// watchExit takes an instance that exits on its own out of the pool.
func (a *Activator) watchExit(inst *instance) {
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		<-inst.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		if !inst.draining {
			a.removeLocked(inst)
			_, err := inst.Exited()
			a.log.Error("instance exited unexpectedly", "pid", inst.Pid(), "served", inst.served, "error", err)
			a.reportFailure(fmt.Errorf("instance pid %d: %w", inst.Pid(), err))
			a.broadcastLocked()
		}
	}()
}

// Processes are the process IDs of the instances starting or running.
func (a *Activator) Processes() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	pids := make([]int, 0, len(a.instances))
	for _, inst := range a.instances {
		pids = append(pids, inst.Pid())
	}
	return pids
}

// Peak is the most instances that ran at once.
func (a *Activator) Peak() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peak
}

// ColdStarts are the requests so far that waited for a new instance.
func (a *Activator) ColdStarts() []ColdStart {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ColdStart(nil), a.cold...)
}

// Close refuses new requests and stops every instance (each drains its in-flight requests up
// to StopGrace), waiting for them or for ctx.
func (a *Activator) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	for _, inst := range append([]*instance(nil), a.instances...) {
		a.removeLocked(inst)
		a.stopAsync(inst, "shutdown")
	}
	a.broadcastLocked()
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("activator %s: close: %w", a.opts.Name, ctx.Err())
	}
}
