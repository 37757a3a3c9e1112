package bench

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/internal/local/activator"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/knservice"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// Result is what a run measured and checked, the JSON `nbv bench -out` writes; `make bench`'s
// bench/results.json holds four of them keyed by run name (Combine).
type Result struct {
	Config      Config   `json:"config"`
	Machine     Machine  `json:"machine"`
	WallSeconds float64  `json:"wallSeconds"`
	Outcomes    Outcomes `json:"outcomes"`
	// Hops are the latencies measured from outside, in table order.
	Hops []Latency `json:"hops"`
	// HopSamples are the same measurements one by one, each at its job's creation: what
	// HopChart draws.
	HopSamples map[string][]HopSample `json:"-"`
	// API are the functions' API requests, from the audit log.
	API          API                 `json:"apiRequests"`
	StatusWrites StatusWrites        `json:"statusWrites"`
	Functions    map[string]Function `json:"functions"`
	Chaos        *Chaos              `json:"chaos,omitempty"`
	// DeadLetters counts the deliveries the broker gave up on (the sweep's to recover).
	DeadLetters int         `json:"deadLetters"`
	Invariants  []Invariant `json:"invariants"`
	// HarnessErrors are writes of the played systems that failed within their retries.
	HarnessErrors []string `json:"harnessErrors,omitempty"`
	// StopErrors are what stopping the stack reported beyond process failures: deliveries
	// still queued when every job had ended (a backlog) that outlasted the stop's deadline.
	StopErrors []string `json:"stopErrors,omitempty"`
	// StopSeconds is how long the stack took to stop (drain the broker, stop the functions).
	StopSeconds float64 `json:"stopSeconds"`

	sizes   map[string]int64
	restart *Restart
}

// Config is the run's settings.
type Config struct {
	Jobs         int    `json:"jobs"`
	Mix          string `json:"mix"`
	Pacing       string `json:"pacing"`
	BuildTimeMs  int64  `json:"buildTimeMs"`
	RunTimeMs    int64  `json:"runTimeMs"`
	PingInterval string `json:"pingInterval"`
	Idle         string `json:"idle"`
	// Warm says the run started with one instance of every event function ready
	// (Options.Warm); otherwise from zero.
	Warm   bool     `json:"warm"`
	Faults []string `json:"faults,omitempty"`
	// Binaries says which function binaries ran (and were measured).
	Binaries string `json:"binaries"`
}

// Machine is where the run ran; the load averages say how shared the machine was.
type Machine struct {
	CPUs       int       `json:"cpus"`
	GoVersion  string    `json:"goVersion"`
	LoadBefore []float64 `json:"loadAverageBefore"`
	LoadAfter  []float64 `json:"loadAverageAfter"`
}

// Outcomes counts the final phases, and the jobs that ended as planned.
type Outcomes struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Other     int `json:"other"`
	AsPlanned int `json:"asPlanned"`
}

// API are the API requests of the functions' ServiceAccounts.
type API struct {
	// PerKind: per job of each kind, the requests about that job (the job, its status, its
	// children, its Events), by call.
	PerKind map[Kind]KindAPI `json:"perKind"`
	// ByFunction counts all requests of each function.
	ByFunction map[string]int `json:"byFunction"`
	// Shared are the requests about no one job (the sweep's lists, the CI key, replay
	// Leases), by call; SharedPerJob spreads them over the jobs.
	Shared       map[string]int `json:"shared"`
	SharedPerJob float64        `json:"sharedPerJob"`
	// SourceRequests counts the event sources' requests (lists and watches).
	SourceRequests int `json:"sourceRequests"`
}

// KindAPI is the mean of the requests about one job of a kind.
type KindAPI struct {
	Jobs   int                `json:"jobs"`
	PerJob float64            `json:"perJob"`
	ByCall map[string]float64 `json:"byCall"`
}

// StatusWrites are the writes of job status, per job.
type StatusWrites struct {
	PerJob            float64 `json:"perJob"`
	TransitionsPerJob float64 `json:"transitionsPerJob"`
	ConflictsPerJob   float64 `json:"conflictsPerJob"`
	// NoOp writes succeeded and changed nothing; Unavailable were answered 429 or 5xx (nothing
	// stored); Other were refused with another status.
	NoOp        int `json:"noOp"`
	Unavailable int `json:"unavailable"`
	Other       int `json:"other"`
	// PhaseChangesPerJob are the phase changes the watch showed (transitions also include
	// writes within a phase, such as a build's progress).
	PhaseChangesPerJob float64 `json:"phaseChangesPerJob"`
}

// Function is what one function cost.
type Function struct {
	BinaryBytes int64 `json:"binaryBytes"`
	// Instances is how many processes were started: each is a cold start.
	Instances int `json:"instances"`
	// ColdStartP50Ms and ColdStartMaxMs are from a process start to its first ready answer.
	ColdStartP50Ms float64 `json:"coldStartP50Ms"`
	ColdStartMaxMs float64 `json:"coldStartMaxMs"`
	// FirstAnswerP50Ms and FirstAnswerMaxMs are from a process start to its answer to the
	// first event it was started for (held by the activator meanwhile).
	FirstAnswerP50Ms float64 `json:"firstAnswerP50Ms"`
	FirstAnswerMaxMs float64 `json:"firstAnswerMaxMs"`
	// FirstHandledP50Ms is the function's own time for that first event (its answer's
	// Server-Timing): first answer - ready - handled is the hand-off from ready to the event's
	// arrival in the process.
	FirstHandledP50Ms float64 `json:"firstHandledP50Ms"`
	// APIServerP50Ms is the API server's own time (audit log: received to completed) for
	// the median request of this function: handling beyond the requests' count times this
	// is the function's (and the network's).
	APIServerP50Ms float64 `json:"apiServerP50Ms"`
	CPUMs          float64 `json:"cpuMs"`
	Requests       int     `json:"requests"`
	Transitions    int     `json:"transitions"`
	// Conflicts are this function's status writes refused as a conflict (see jobCalls).
	Conflicts        int     `json:"conflicts"`
	CPUPerTransition float64 `json:"cpuPerTransitionMs"`
	Killed           int     `json:"killed,omitempty"`
}

// Chaos is what the faults did.
type Chaos struct {
	Killed          int      `json:"killed"`
	EventsReceived  int64    `json:"eventsReceived"`
	EventsForwarded int64    `json:"eventsForwarded"`
	EventsDropped   int64    `json:"eventsDropped"`
	ForwardsRefused int64    `json:"forwardsRefused"`
	Restart         *Restart `json:"apiServerRestart,omitempty"`
}

// Restart is the kube-apiserver restart of a run.
type Restart struct {
	AfterSeconds float64 `json:"afterSeconds"`
	TookMs       float64 `json:"tookMs"`
	Error        string  `json:"error,omitempty"`
}

// Failed reports whether an invariant broke.
func (r *Result) Failed() bool {
	return slices.ContainsFunc(r.Invariants, func(i Invariant) bool { return !i.OK })
}

func configOf(o Options) Config {
	c := Config{Jobs: o.Jobs, Mix: o.Mix.String(), Pacing: pacing(o), BuildTimeMs: o.BuildTime.Milliseconds(),
		RunTimeMs: o.RunTime.Milliseconds(), Idle: o.Idle.String(), Warm: o.Warm, PingInterval: "1m0s (the PingSource's schedule)"}
	if o.PingInterval > 0 {
		c.PingInterval = o.PingInterval.String()
	}
	c.Binaries = "built as released: CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' ./functions/..."
	if o.FunctionsDir != "" {
		c.Binaries = "as given in " + o.FunctionsDir
	}
	f := o.Faults
	if f.Kill {
		c.Faults = append(c.Faults, "SIGKILL a function process every ~"+f.KillEvery.String())
	}
	if f.Duplicate {
		c.Faults = append(c.Faults, "every delivery twice, reordered within "+f.Reorder.String())
	}
	if f.Drop > 0 {
		c.Faults = append(c.Faults, fmt.Sprintf("%g%% of source events dropped", f.Drop*100))
	}
	if f.RestartAPIServer {
		c.Faults = append(c.Faults, "kube-apiserver restarted halfway through the creations")
	}
	return c
}

func machineNow() Machine {
	return Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadAverage()}
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures (nil where unreadable).
func loadAverage() []float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Fields(string(data))[:3] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// functionUsers maps each function's ServiceAccount user name to the function, from
// config/functions.
func functionUsers(repoRoot string) (map[string]string, error) {
	services, err := knservice.LoadDir(filepath.Join(repoRoot, "config", "functions"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	out := map[string]string{}
	for name, fn := range services {
		out["system:serviceaccount:"+fn.Namespace+":"+fn.ServiceAccountName] = name
	}
	return out, nil
}

// The hops, in table order.
const (
	hopInitializing = "created -> Initializing"
	hopCreatedPod   = "created -> pod (no build)"
	hopBuildPod     = "build succeeded -> pod"
	hopPodTerminal  = "pod succeeded -> terminal"
)

// HopSample is one job's latency on one hop.
type HopSample struct {
	// Created is when the job was created, from the run's first creation.
	Created time.Duration
	Latency time.Duration
}

// hops measures each hop of every job that made it: the distribution per hop, in table
// order, and the samples one by one.
func hops(records map[string]jobRecord) ([]Latency, map[string][]HopSample) {
	var start time.Time
	for _, rec := range records {
		if start.IsZero() || rec.created.Before(start) {
			start = rec.created
		}
	}
	samples := map[string][]time.Duration{}
	series := map[string][]HopSample{}
	for _, rec := range records {
		add := func(hop string, from, to time.Time, ok bool) {
			if ok && !from.IsZero() && !to.IsZero() {
				samples[hop] = append(samples[hop], to.Sub(from))
				series[hop] = append(series[hop], HopSample{Created: rec.created.Sub(start), Latency: to.Sub(from)})
			}
		}
		at, ok := rec.firstSeen("Initializing")
		add(hopInitializing, rec.created, at, ok)
		pod, havePod := rec.firstPod()
		if rec.plan.Kind == NoBuild {
			add(hopCreatedPod, rec.created, pod, havePod)
		} else if !rec.plan.BuildFails {
			add(hopBuildPod, rec.buildDone, pod, havePod)
		}
		var end time.Time
		for _, p := range rec.phases {
			if statemachine.Terminal(p.Phase) {
				end = p.At
				break
			}
		}
		add(hopPodTerminal, rec.podDone, end, !end.IsZero())
	}
	var out []Latency
	for _, hop := range hopOrder {
		out = append(out, latency(hop, samples[hop]))
		slices.SortFunc(series[hop], func(a, b HopSample) int { return cmp.Compare(a.Created, b.Created) })
	}
	return out, series
}

// hopOrder is the order of the hops in the table and the chart.
var hopOrder = []string{hopInitializing, hopCreatedPod, hopBuildPod, hopPodTerminal}

// analyse fills the result from the run's records, end state and audit log.
func (r *run) analyse(evs []controlplane.AuditEvent, functions map[string]string) {
	res, s := r.res, &r.final
	uids := map[string]types.UID{}
	for name, j := range s.jobs {
		uids[name] = j.UID
	}
	calls := attribute(evs, functions, uids, r.inRestartWindow)
	s.calls = calls
	res.Hops, res.HopSamples = hops(s.records)

	res.API = API{PerKind: map[Kind]KindAPI{}, ByFunction: calls.ByFunction, Shared: calls.Shared}
	var writes, changed, conflicts, phaseChanges int
	for _, k := range Kinds {
		ka := KindAPI{ByCall: map[string]float64{}}
		total := 0
		sums := map[string]int{}
		for _, p := range s.plan {
			if p.Kind != k {
				continue
			}
			ka.Jobs++
			c := calls.job(p.Name)
			total += c.Total
			for call, n := range c.ByCall {
				sums[call] += n
			}
		}
		if ka.Jobs == 0 {
			continue
		}
		ka.PerJob = perJob(total, ka.Jobs)
		for call, n := range sums {
			ka.ByCall[call] = perJob(n, ka.Jobs)
		}
		res.API.PerKind[k] = ka
	}
	shared := 0
	for _, n := range calls.Shared {
		shared += n
	}
	res.API.SharedPerJob = perJob(shared, len(s.plan))
	for _, n := range calls.Sources {
		res.API.SourceRequests += n
	}
	for _, p := range s.plan {
		c := calls.job(p.Name)
		writes += c.StatusWrites
		changed += c.Changed
		conflicts += c.Conflicts
		res.StatusWrites.NoOp += c.NoOp
		res.StatusWrites.Unavailable += c.Unavailable
		res.StatusWrites.Other += c.Other
		if rec, ok := s.records[p.Name]; ok {
			phaseChanges += len(rec.phases)
		}
		switch j := s.jobs[p.Name]; {
		case j == nil:
			res.Outcomes.Other++
		case j.Status.Phase == "Succeeded":
			res.Outcomes.Succeeded++
		case j.Status.Phase == "Failed":
			res.Outcomes.Failed++
		default:
			res.Outcomes.Other++
		}
		if j := s.jobs[p.Name]; j != nil && j.Status.Phase == p.WantPhase() {
			res.Outcomes.AsPlanned++
		}
	}
	n := len(s.plan)
	res.StatusWrites.PerJob = perJob(writes, n)
	res.StatusWrites.TransitionsPerJob = perJob(changed, n)
	res.StatusWrites.ConflictsPerJob = perJob(conflicts, n)
	res.StatusWrites.PhaseChangesPerJob = perJob(phaseChanges, n)

	r.functionFigures(calls)
	res.Invariants = append(checkInvariants(*s), r.processInvariant())
	if r.opts.Faults.RestartAPIServer {
		inv := Invariant{Name: "kube-apiserver restarted", OK: true}
		switch rs := res.restart; {
		case rs == nil:
			inv.add("the run ended before half the jobs were created")
		case rs.Error != "":
			inv.add("%s", rs.Error)
		}
		res.Invariants = append(res.Invariants, inv)
	}
	r.chaosFigures()
}

func (r *run) functionFigures(calls *apiCalls) {
	res := r.res
	res.Functions = map[string]Function{}
	stats, err := r.stack.FunctionStats()
	if err != nil {
		res.HarnessErrors = append(res.HarnessErrors, err.Error())
	}
	var killedPer map[string]int
	if r.killer != nil {
		_, killedPer = r.killer.victims()
	}
	for _, name := range slices.Sorted(maps.Keys(r.stack.Activators)) {
		starts := r.stack.Activators[name].ColdStarts()
		st := stats[name]
		// What the warm-up started is not the run's.
		if w := r.warm; w != nil {
			starts = starts[min(w.coldStarts[name], len(starts)):]
			st.Instances -= w.stats[name].Instances
			st.CPU -= w.stats[name].CPU
		}
		ready, answered, handled := coldStartTimes(starts)
		cold, first, own, server := latency("", ready), latency("", answered), latency("", handled), latency("", calls.ServerTimeByFunction[name])
		f := Function{BinaryBytes: res.sizes[name], Instances: st.Instances, ColdStartP50Ms: cold.P50, ColdStartMaxMs: cold.Max,
			FirstAnswerP50Ms: first.P50, FirstAnswerMaxMs: first.Max, FirstHandledP50Ms: own.P50, APIServerP50Ms: server.P50,
			CPUMs: float64(st.CPU.Microseconds()) / 1000, Requests: calls.ByFunction[name], Transitions: calls.TransitionsByFunction[name],
			Conflicts: calls.ConflictsByFunction[name], Killed: killedPer[name]}
		if f.Transitions > 0 {
			f.CPUPerTransition = float64(int(f.CPUMs/float64(f.Transitions)*100)) / 100
		}
		res.Functions[name] = f
	}
}

// coldStartTimes are, per process started, the time from its start to ready, to its first
// answer, and the function's own handling of that first request (the activator records
// every request a starting process held; the first answered is the process's).
func coldStartTimes(cold []activator.ColdStart) (ready, answered, handled []time.Duration) {
	first := map[int]activator.ColdStart{}
	for _, c := range cold {
		if f, ok := first[c.Pid]; !ok || c.ProcessToAnswered < f.ProcessToAnswered {
			first[c.Pid] = c
		}
	}
	for _, pid := range slices.Sorted(maps.Keys(first)) {
		ready = append(ready, first[pid].ProcessToReady)
		answered = append(answered, first[pid].ProcessToAnswered)
		if first[pid].Handled > 0 {
			handled = append(handled, first[pid].Handled)
		}
	}
	return ready, answered, handled
}

// pidPattern finds the process a stack error is about.
var pidPattern = regexp.MustCompile(`pid (\d+)`)

// processInvariant: no function process failed unless the harness killed it. Stack errors
// about no process (a drain that outlasted the stop's deadline) are reported apart.
func (r *run) processInvariant() Invariant {
	inv := Invariant{Name: "function processes failed only when killed", OK: true}
	var killed map[int]string
	if r.killer != nil {
		killed, _ = r.killer.victims()
	}
	for _, err := range r.stackErrs {
		m := pidPattern.FindStringSubmatch(err.Error())
		if m == nil {
			r.res.StopErrors = append(r.res.StopErrors, err.Error())
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); killed[pid] != "" {
			continue
		}
		inv.add("%v", err)
	}
	return inv
}

func (r *run) chaosFigures() {
	if !r.opts.Faults.Any() {
		return
	}
	c := &Chaos{Restart: r.res.restart}
	if r.killer != nil {
		killed, _ := r.killer.victims()
		c.Killed = len(killed)
	}
	if p := r.proxy; p != nil {
		c.EventsReceived, c.EventsForwarded, c.EventsDropped, c.ForwardsRefused = p.received.Load(), p.forwarded.Load(), p.dropped.Load(), p.refused.Load()
	}
	r.res.Chaos = c
}
