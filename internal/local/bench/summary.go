package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// NamedResult is one run's Result under the name the summary gives it.
type NamedResult struct {
	Name   string
	Result *Result
}

// ReadResults reads a file `nbv bench -out` wrote (one Result, named after the file) or one
// Combine wrote (Results keyed by run name, in name order).
func ReadResults(path string) ([]NamedResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	if _, single := fields["config"]; single {
		var r Result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", path, err)
		}
		return []NamedResult{{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Result: &r}}, nil
	}
	var out []NamedResult
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		var r Result
		if err := json.Unmarshal(fields[name], &r); err != nil {
			return nil, fmt.Errorf("bench: %s: run %s: %w", path, name, err)
		}
		out = append(out, NamedResult{Name: name, Result: &r})
	}
	return out, nil
}

// Combine is the document of several runs: each Result keyed by its run's name. A name given
// twice is refused: one run would hide the other.
func Combine(runs []NamedResult) (map[string]*Result, error) {
	out := make(map[string]*Result, len(runs))
	for _, r := range runs {
		if _, dup := out[r.Name]; dup {
			return nil, fmt.Errorf("bench: two runs named %s", r.Name)
		}
		out[r.Name] = r.Result
	}
	return out, nil
}

// WriteSummary prints the runs side by side, one column each: what each run was, its hop
// latencies (p50 / p90), API requests per job by kind, conflicts, and per function the
// processes started with their ready and first-answer p50s.
func WriteSummary(w io.Writer, runs []NamedResult) error {
	var b strings.Builder
	for _, nr := range runs {
		r, c := nr.Result, nr.Result.Config
		fmt.Fprintf(&b, "%s: %d jobs, %s; idle %s; %s; wall %.1fs; load average %s before, %s after; invariants %s\n",
			nr.Name, c.Jobs, c.Pacing, c.Idle, c.start(), r.WallSeconds, loads(r.Machine.LoadBefore), loads(r.Machine.LoadAfter), invariantsWord(r))
	}
	b.WriteString("\n")
	t := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The labels are padded here, so that they read left-aligned and the figures right-aligned.
	const labelWidth = 48
	row := func(label string, cell func(*Result) string) {
		fmt.Fprintf(t, "%-*s\t", labelWidth, label)
		for _, nr := range runs {
			fmt.Fprintf(t, "%s\t", cell(nr.Result))
		}
		fmt.Fprintln(t)
	}
	fmt.Fprintf(t, "%-*s\t", labelWidth, "")
	for _, nr := range runs {
		fmt.Fprintf(t, "%s\t", nr.Name)
	}
	fmt.Fprintln(t)

	row("hop p50 / p90 ms", blank)
	for _, hop := range hopOrder {
		row("  "+hop, func(r *Result) string {
			for _, h := range r.Hops {
				if h.Hop == hop && h.N > 0 {
					return fmt.Sprintf("%.1f / %.1f", h.P50, h.P90)
				}
			}
			return "-"
		})
	}
	row("API requests per job", blank)
	for _, k := range Kinds {
		row("  "+string(k), func(r *Result) string {
			if ka, ok := r.API.PerKind[k]; ok {
				return fmt.Sprintf("%.2f", ka.PerJob)
			}
			return "-"
		})
	}
	row("  shared (about no one job)", func(r *Result) string { return fmt.Sprintf("%.2f", r.API.SharedPerJob) })
	row("conflicts per job", func(r *Result) string { return fmt.Sprintf("%.2f", r.StatusWrites.ConflictsPerJob) })
	row("API server's own time per request, p50 ms", blank)
	for _, fn := range functionNames(runs) {
		row("  "+fn, func(r *Result) string {
			if f, ok := r.Functions[fn]; ok && f.Requests > 0 {
				return msOrDash(f.APIServerP50Ms)
			}
			return "-"
		})
	}
	row("processes started: ready / first answer (handling) p50 ms", blank)
	for _, fn := range functionNames(runs) {
		row("  "+fn, func(r *Result) string {
			f, ok := r.Functions[fn]
			switch {
			case !ok:
				return "-"
			case f.Instances == 0:
				return "0"
			}
			return fmt.Sprintf("%d: %s / %s (%s)", f.Instances, msOrDash(f.ColdStartP50Ms), msOrDash(f.FirstAnswerP50Ms), msOrDash(f.FirstHandledP50Ms))
		})
	}
	if err := t.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func blank(*Result) string { return "" }

// msOrDash prints a cold start's p50, or "-" when there was no sample: the activator times a
// process only through a request held for it, and a request held while a process starts may
// be served by one that freed a slot first.
func msOrDash(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", ms)
}

func invariantsWord(r *Result) string {
	if r.Failed() {
		return "BROKEN"
	}
	return "ok"
}

// functionNames are the functions of every run, sorted.
func functionNames(runs []NamedResult) []string {
	names := map[string]bool{}
	for _, nr := range runs {
		for name := range nr.Result.Functions {
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}
