package bench

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/local/localstack"
)

// Faults are the chaos a run injects.
type Faults struct {
	// Kill sends SIGKILL to a random function process about every KillEvery.
	Kill      bool
	KillEvery time.Duration
	// Duplicate delivers every event from the sources twice, each copy delayed at random by up
	// to Reorder, so that copies and events overtake each other.
	Duplicate bool
	Reorder   time.Duration
	// Drop loses this fraction of the ApiServerSource events (never the pings: the sweep they
	// wake must recover what was lost).
	Drop float64
	// RestartAPIServer restarts kube-apiserver once, when half the jobs have been created.
	RestartAPIServer bool
}

// Any reports whether any fault is on.
func (f Faults) Any() bool {
	return f.Kill || f.Duplicate || f.Drop > 0 || f.RestartAPIServer
}

// AllFaults is every fault of the chaos run.
var AllFaults = Faults{Kill: true, KillEvery: 2 * time.Second, Duplicate: true, Reorder: 50 * time.Millisecond,
	Drop: 0.1, RestartAPIServer: true}

// faultProxy stands between the event sources and the broker: it accepts each event at once
// (so the source never resends what is dropped) and forwards it, dropped, once, or twice with
// random delays. A forward the broker refuses is retried a few times.
type faultProxy struct {
	faults Faults
	target atomic.Pointer[string]
	client *http.Client

	wg                                    sync.WaitGroup
	received, forwarded, dropped, refused atomic.Int64
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := p.target.Load()
	if target == nil {
		http.Error(w, "broker not ready", http.StatusServiceUnavailable) // the source retries
		return
	}
	p.received.Add(1)
	header := r.Header.Clone()
	w.WriteHeader(http.StatusAccepted)
	if p.faults.Drop > 0 && isSourceEvent(header, body) && rand.Float64() < p.faults.Drop {
		p.dropped.Add(1)
		return
	}
	copies := 1
	if p.faults.Duplicate {
		copies = 2
	}
	for range copies {
		var delay time.Duration
		if p.faults.Reorder > 0 {
			delay = rand.N(p.faults.Reorder)
		}
		p.wg.Go(func() {
			time.Sleep(delay)
			p.forward(*target, header, body)
		})
	}
}

// isSourceEvent reports whether the event (binary or structured mode) comes from an
// ApiServerSource: its type is dev.knative.apiserver.resource.*.
func isSourceEvent(header http.Header, body []byte) bool {
	prefix := strings.TrimSuffix(events.TypeResourceAdd, "add")
	if t := header.Get("Ce-Type"); t != "" {
		return strings.HasPrefix(t, prefix)
	}
	return bytes.Contains(body, []byte(`"type":"`+prefix))
}

func (p *faultProxy) forward(target string, header http.Header, body []byte) {
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			break
		}
		req.Header = header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 300 {
			p.forwarded.Add(1)
			return
		}
	}
	p.refused.Add(1)
}

// close waits for the forwards in flight.
func (p *faultProxy) close() { p.wg.Wait() }

// killer sends SIGKILL to a random function process about every interval until ctx ends, and
// remembers whom it killed (their exits are expected).
type killer struct {
	mu     sync.Mutex
	killed map[int]string // pid -> function
}

func (k *killer) run(ctx context.Context, stack *localstack.Stack, every time.Duration) {
	for {
		// Jitter of +-50% so the kills do not line up with anything periodic.
		wait := every/2 + rand.N(every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var names []string
		var pids []int
		for name, ps := range stack.FunctionProcesses() {
			for _, pid := range ps {
				names, pids = append(names, name), append(pids, pid)
			}
		}
		if len(pids) == 0 {
			continue
		}
		i := rand.N(len(pids))
		if syscall.Kill(pids[i], syscall.SIGKILL) == nil {
			k.mu.Lock()
			k.killed[pids[i]] = names[i]
			k.mu.Unlock()
		}
	}
}

// victims are the processes killed, by function.
func (k *killer) victims() (map[int]string, map[string]int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pids := make(map[int]string, len(k.killed))
	per := map[string]int{}
	for pid, fn := range k.killed {
		pids[pid] = fn
		per[fn]++
	}
	return pids, per
}

// newFaultProxy is a proxy for faults; set its target (the broker) once the stack has one.
func newFaultProxy(f Faults) *faultProxy {
	return &faultProxy{faults: f, client: &http.Client{Timeout: 10 * time.Second}}
}
