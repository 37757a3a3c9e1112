package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the result as the tables docs/benchmarks.md quotes.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "nbv bench: %d jobs (%s), %s; build %dms, notebook %dms; sweep every %s; idle %s; %s\n",
		c.Jobs, c.Mix, c.Pacing, c.BuildTimeMs, c.RunTimeMs, c.PingInterval, c.Idle, c.start())
	if len(c.Faults) > 0 {
		fmt.Fprintf(&b, "faults: %s\n", strings.Join(c.Faults, "; "))
	}
	fmt.Fprintf(&b, "machine: %d CPUs, %s, load average %s before, %s after; wall %.1fs\n",
		r.Machine.CPUs, r.Machine.GoVersion, loads(r.Machine.LoadBefore), loads(r.Machine.LoadAfter), r.WallSeconds)
	fmt.Fprintf(&b, "outcomes: %d succeeded, %d failed, %d other; %d of %d as planned\n\n",
		r.Outcomes.Succeeded, r.Outcomes.Failed, r.Outcomes.Other, r.Outcomes.AsPlanned, c.Jobs)

	t := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "hop (ms)\tn\tp50\tp90\tp99\tmax\t")
	for _, h := range r.Hops {
		fmt.Fprintf(t, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", h.Hop, h.N, h.P50, h.P90, h.P99, h.Max)
	}
	_ = t.Flush()

	fmt.Fprintf(&b, "\nAPI requests per job, by kind (function ServiceAccounts, audit log):\n")
	for _, k := range Kinds {
		ka, ok := r.API.PerKind[k]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "  %-9s %4d jobs  %6.2f/job: %s\n", k, ka.Jobs, ka.PerJob, calls(ka.ByCall))
	}
	sharedTotal := 0
	for _, n := range r.API.Shared {
		sharedTotal += n
	}
	fmt.Fprintf(&b, "  shared (about no one job): %d, %.2f/job: %s\n", sharedTotal, r.API.SharedPerJob, counts(r.API.Shared))
	fmt.Fprintf(&b, "  by function: %s; event sources: %d\n", counts(r.API.ByFunction), r.API.SourceRequests)
	s := r.StatusWrites
	fmt.Fprintf(&b, "status writes per job: %.2f = %.2f transitions + %.2f conflicts (409, or 422 to a write from an event's copy)", s.PerJob, s.TransitionsPerJob, s.ConflictsPerJob)
	if s.NoOp > 0 || s.Unavailable > 0 || s.Other > 0 {
		fmt.Fprintf(&b, " + %d that changed nothing + %d the API server could not take (429/5xx, 403 while restarting) + %d refused otherwise",
			s.NoOp, s.Unavailable, s.Other)
	}
	fmt.Fprintf(&b, "; phase changes seen per job %.2f\n\n", s.PhaseChangesPerJob)

	t = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "function\tbinary MB\tprocesses\tready p50 ms\tready max ms\tfirst answer p50 ms\tfirst answer max ms\tits handling p50 ms\tAPI server p50 ms/request\tCPU ms\trequests\ttransitions\tconflicts\tCPU/transition ms\tkilled\t")
	for _, name := range slices.Sorted(maps.Keys(r.Functions)) {
		f := r.Functions[name]
		fmt.Fprintf(t, "%s\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%d\t%d\t%.2f\t%d\t\n", name, float64(f.BinaryBytes)/1e6, f.Instances,
			f.ColdStartP50Ms, f.ColdStartMaxMs, f.FirstAnswerP50Ms, f.FirstAnswerMaxMs, f.FirstHandledP50Ms, f.APIServerP50Ms, f.CPUMs, f.Requests, f.Transitions, f.Conflicts, f.CPUPerTransition, f.Killed)
	}
	_ = t.Flush()

	if ch := r.Chaos; ch != nil {
		fmt.Fprintf(&b, "\nchaos: %d function processes killed; source events %d received, %d dropped, %d deliveries forwarded (%d refused); %d dead letters",
			ch.Killed, ch.EventsReceived, ch.EventsDropped, ch.EventsForwarded, ch.ForwardsRefused, r.DeadLetters)
		if rs := ch.Restart; rs != nil {
			fmt.Fprintf(&b, "; kube-apiserver restarted %.1fs in, ready again in %.0fms", rs.AfterSeconds, rs.TookMs)
			if rs.Error != "" {
				fmt.Fprintf(&b, " (error: %s)", rs.Error)
			}
		}
		b.WriteString("\n")
	} else if r.DeadLetters > 0 {
		fmt.Fprintf(&b, "\n%d dead letters\n", r.DeadLetters)
	}
	b.WriteString("\ninvariants:\n")
	for _, inv := range r.Invariants {
		mark := "ok    "
		if !inv.OK {
			mark = "BROKEN"
		}
		fmt.Fprintf(&b, "  %s %s\n", mark, inv.Name)
		for _, v := range inv.Violations {
			fmt.Fprintf(&b, "           %s\n", v)
		}
		if inv.More > 0 {
			fmt.Fprintf(&b, "           ... and %d more\n", inv.More)
		}
	}
	for _, e := range r.HarnessErrors {
		fmt.Fprintf(&b, "harness error: %s\n", e)
	}
	fmt.Fprintf(&b, "the stack stopped in %.1fs (the broker drains what is queued)\n", r.StopSeconds)
	for _, e := range r.StopErrors {
		fmt.Fprintf(&b, "stop: %s\n", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// start says how the run found the functions.
func (c Config) start() string {
	if c.Warm {
		return "functions warm at the start"
	}
	return "from zero"
}

func loads(l []float64) string {
	if len(l) == 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

// calls lists per-job figures by call, largest first.
func calls(m map[string]float64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%.2f %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func counts(m map[string]int) string {
	f := make(map[string]float64, len(m))
	for k, v := range m {
		f[k] = float64(v)
	}
	return strings.ReplaceAll(calls(f), ".00 ", " ")
}
