package bench

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// phaseSeen is a phase as the harness's watch first saw it.
type phaseSeen struct {
	Phase string
	At    time.Time
}

// jobRecord is everything the harness saw of one job, from outside: when it asked for each
// step and when the watch first showed each result.
type jobRecord struct {
	plan    Planned
	created time.Time // before the create request
	uid     types.UID
	// phases is every phase change the watch showed, in order (a phase seen again after
	// another is a second entry: a phase going backwards).
	phases []phaseSeen
	// podSeen is when the watch first showed each of the job's pods.
	podSeen map[string]time.Time
	// buildDone is when the harness started writing the build's end (or posting the CI report).
	buildDone time.Time
	// podDone is when the harness started writing the first pod's end.
	podDone time.Time
	// ended: the watch showed the job terminal at least once.
	ended bool
}

func (r *jobRecord) firstSeen(phase string) (time.Time, bool) {
	for _, p := range r.phases {
		if p.Phase == phase {
			return p.At, true
		}
	}
	return time.Time{}, false
}

func (r *jobRecord) firstPod() (time.Time, bool) {
	var first time.Time
	for _, at := range r.podSeen {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

func (r *jobRecord) lastPhase() string {
	if len(r.phases) == 0 {
		return ""
	}
	return r.phases[len(r.phases)-1].Phase
}

// recorder holds the records of a run; informer handlers and actors write it concurrently.
type recorder struct {
	order    []Planned // immutable
	mu       sync.Mutex
	jobs     map[string]*jobRecord
	terminal int
	changed  chan struct{} // closed and replaced when a job becomes terminal
}

func newRecorder(plan []Planned) *recorder {
	r := &recorder{order: plan, jobs: map[string]*jobRecord{}, changed: make(chan struct{})}
	for _, p := range plan {
		r.jobs[p.Name] = &jobRecord{plan: p, podSeen: map[string]time.Time{}}
	}
	return r
}

func (r *recorder) with(name string, f func(*jobRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec := r.jobs[name]; rec != nil {
		f(rec)
	}
}

// created records the moment the harness asked for the job (the first attempt).
func (r *recorder) created(name string, at time.Time) {
	r.with(name, func(rec *jobRecord) {
		if rec.created.IsZero() {
			rec.created = at
		}
	})
}

// sawJob records the job's phase as a watch event showed it at at.
func (r *recorder) sawJob(name string, uid types.UID, phase string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.jobs[name]
	if rec == nil {
		return
	}
	rec.uid = uid
	if phase == rec.lastPhase() && len(rec.phases) > 0 || phase == v1alpha1.PhaseNone && len(rec.phases) == 0 {
		return
	}
	rec.phases = append(rec.phases, phaseSeen{Phase: phase, At: at})
	if statemachine.Terminal(phase) && !rec.ended {
		rec.ended = true
		r.terminal++
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

func (r *recorder) sawPod(job, pod string, at time.Time) {
	r.with(job, func(rec *jobRecord) {
		if _, ok := rec.podSeen[pod]; !ok {
			rec.podSeen[pod] = at
		}
	})
}

func (r *recorder) buildDone(job string, at time.Time) {
	r.with(job, func(rec *jobRecord) {
		if rec.buildDone.IsZero() {
			rec.buildDone = at
		}
	})
}

func (r *recorder) podDone(job string, at time.Time) {
	r.with(job, func(rec *jobRecord) {
		if rec.podDone.IsZero() {
			rec.podDone = at
		}
	})
}

// progress is how many jobs are terminal, and a channel closed when that may have changed.
func (r *recorder) progress() (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.terminal, r.changed
}

// plan returns the planned job called name.
func (r *recorder) plan(name string) (Planned, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.jobs[name]
	if rec == nil {
		return Planned{}, false
	}
	return rec.plan, true
}

// snapshot copies the records (for the analysis, once the run is over).
func (r *recorder) snapshot() map[string]jobRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]jobRecord, len(r.jobs))
	for name, rec := range r.jobs {
		c := *rec
		c.phases = append([]phaseSeen(nil), rec.phases...)
		c.podSeen = make(map[string]time.Time, len(rec.podSeen))
		for k, v := range rec.podSeen {
			c.podSeen[k] = v
		}
		out[name] = c
	}
	return out
}

// planned lists the run's jobs in plan order.
func (r *recorder) planned() []Planned {
	return slices.Clone(r.order)
}

// firstCreated is when the first job was asked for.
func (r *recorder) firstCreated() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, rec := range r.jobs {
		if !rec.created.IsZero() && (first.IsZero() || rec.created.Before(first)) {
			first = rec.created
		}
	}
	return first
}
