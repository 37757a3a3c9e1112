package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlops-dev/nbv/internal/local/localstack"
)

// countProcesses is how many function instances are starting or running.
func countProcesses(stack *localstack.Stack) int {
	n := 0
	for _, pids := range stack.FunctionProcesses() {
		n += len(pids)
	}
	return n
}

// watchPeak samples the function processes until the returned function is called, which
// returns the most seen at once.
func watchPeak(stack *localstack.Stack) func() int {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			peak.Store(max(peak.Load(), int64(countProcesses(stack))))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() int {
		close(stop)
		<-done
		return int(peak.Load())
	}
}

// reportIdle prints which function processes remain once the idle window (and a second for
// the drain) has passed.
func reportIdle(ctx context.Context, w io.Writer, stack *localstack.Stack, idle time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(idle + time.Second):
	}
	fmt.Fprintf(w, "function processes %s after the job ended: %d%s\n", idle+time.Second, countProcesses(stack), describeProcesses(stack.FunctionProcesses()))
}

// describeProcesses lists the running function processes by function, in name order:
// " (job-created: pid 12, 13; sweep: pid 14)", or "" when none runs.
func describeProcesses(byFunction map[string][]int) string {
	names := make([]string, 0, len(byFunction))
	for name := range byFunction {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		pids := make([]string, len(byFunction[name]))
		for i, pid := range byFunction[name] {
			pids[i] = strconv.Itoa(pid)
		}
		parts = append(parts, name+": pid "+strings.Join(pids, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
