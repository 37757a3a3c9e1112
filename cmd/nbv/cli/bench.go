package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/mlops-dev/nbv/internal/local/bench"
)

func newBenchCommand() *cobra.Command {
	var o bench.Options
	var mix, chaos, out, chart, functionLog string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "run N jobs through the local stack playing the kubelet, Tekton, OpenShift and CI; print latencies, API requests and costs (--chaos: with faults, checking invariants)",
		Long: `Run N jobs through the local stack playing the kubelet, Tekton, OpenShift and CI; print
latencies, API requests and costs. With --chaos, faults are injected and invariants checked.

Exit code 0 when the run held every invariant, 1 when one broke, 2 when the run could not be made.`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.IntVarP(&o.Jobs, "jobs", "n", 200, "how many jobs")
	fs.StringVar(&mix, "mix", bench.DefaultMix.String(), "relative weights of the kinds of job: nobuild, tekton, s2i, external")
	fs.DurationVar(&o.Interval, "interval", 0, "create one job every interval (0: all at once, a burst)")
	fs.IntVar(&o.Creators, "creators", 8, "creations at once in a burst")
	fs.DurationVar(&o.BuildTime, "build-time", time.Second, "how long a played build runs")
	fs.DurationVar(&o.RunTime, "run-time", 2*time.Second, "how long a played notebook runs")
	fs.StringVar(&chaos, "chaos", "", "faults: all, or a comma list of kill, duplicate, drop, restart")
	fs.DurationVar(&o.Faults.KillEvery, "kill-every", bench.AllFaults.KillEvery, "with kill: mean time between two SIGKILLs of a function process")
	fs.Float64Var(&o.Faults.Drop, "drop", bench.AllFaults.Drop, "with drop: fraction of the source events lost")
	fs.DurationVar(&o.PingInterval, "ping-interval", 0, "the sweep's schedule (0: a minute; 2s with drop)")
	fs.DurationVar(&o.Idle, "idle", 0, "scale a function to zero after this long without a request (0: 30s)")
	fs.BoolVar(&o.Warm, "warm", false, "start one instance of every event function before the first job, so the run starts warm (refused with an idle window a function could outwait between two jobs, such as -idle 300ms)")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up when the run has not ended by then")
	fs.StringVar(&out, "out", "bench/results.json", "where the JSON of the result goes (empty: nowhere)")
	fs.StringVar(&chart, "chart", "", "also draw each hop's latency per job over the run as a PNG at this path")
	fs.BoolVarP(&verbose, "verbose", "v", false, "let client-go's warnings (watches ending at the restart) through to stderr")
	fs.StringVar(&functionLog, "function-log", "", "append the function processes' logs to this file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if o.Mix, err = bench.ParseMix(mix); err != nil {
			return usagef("%w", err)
		}
		if o.Faults, err = parseFaults(chaos, o.Faults); err != nil {
			return usagef("%w", err)
		}
		if !verbose {
			klog.LogToStderr(false)
			klog.SetOutput(io.Discard)
		}
		o.Progress = cmd.ErrOrStderr()
		if functionLog != "" {
			f, err := os.OpenFile(functionLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			o.FunctionOutput = f
		}
		res, err := bench.Run(cmd.Context(), o)
		if err != nil {
			return err
		}
		if err := res.WriteTable(cmd.OutOrStdout()); err != nil {
			return err
		}
		if out != "" {
			if err := writeJSON(out, res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
		}
		if chart != "" {
			if err := writeHopChart(chart, res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", chart)
		}
		if res.Failed() {
			return &ExitError{Code: ExitFailed, Err: errors.New("an invariant broke (see above)")}
		}
		return nil
	}
	cmd.AddCommand(newBenchSummaryCommand())
	return cmd
}

func newBenchSummaryCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "summary FILE...",
		Short: "print runs of nbv bench side by side: hop latencies, API requests per job, conflicts, cold starts per function",
		Long: `Print runs of nbv bench side by side, one column each: hop latencies (p50 / p90), API requests
per job by kind, conflicts per job, and per function the processes started during the run with
their process start -> ready and -> first answer p50s, with the function's own handling of
that first event (its answer's Server-Timing).

Each FILE is what nbv bench -out wrote (the run is named after the file: bench/paced-warm.json
is paced-warm) or a combined document --out wrote (its runs keep their names). --out writes the
runs given as one JSON object keyed by run name.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var runs []bench.NamedResult
			for _, f := range files {
				rs, err := bench.ReadResults(f)
				if err != nil {
					return err
				}
				runs = append(runs, rs...)
			}
			combined, err := bench.Combine(runs)
			if err != nil {
				return usagef("%w", err)
			}
			if err := bench.WriteSummary(cmd.OutOrStdout(), runs); err != nil {
				return err
			}
			if out != "" {
				if err := writeJSON(out, combined); err != nil {
					return fmt.Errorf("--out %s: %w", out, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "also write the runs as one JSON object keyed by run name to this path")
	return cmd
}

// parseFaults turns --chaos into faults, keeping the rates given by their own flags.
func parseFaults(list string, rates bench.Faults) (bench.Faults, error) {
	f := bench.Faults{KillEvery: rates.KillEvery, Reorder: bench.AllFaults.Reorder}
	for name := range strings.SplitSeq(list, ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "all":
			f.Kill, f.Duplicate, f.Drop, f.RestartAPIServer = true, true, rates.Drop, true
		case "kill":
			f.Kill = true
		case "duplicate":
			f.Duplicate = true
		case "drop":
			f.Drop = rates.Drop
		case "restart":
			f.RestartAPIServer = true
		default:
			return f, fmt.Errorf("--chaos %q: %q is not one of all, kill, duplicate, drop, restart", list, name)
		}
	}
	return f, nil
}

func writeHopChart(path string, res *bench.Result) error {
	var buf bytes.Buffer
	if err := res.HopChart(&buf); err != nil {
		return fmt.Errorf("--chart %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
