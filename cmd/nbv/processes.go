package main

import (
	"context"
	"fmt"
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
func reportIdle(ctx context.Context, stack *localstack.Stack, idle time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(idle + time.Second):
	}
	procs := stack.FunctionProcesses()
	fmt.Printf("function processes %s after the job ended: %d %v\n", idle+time.Second, countProcesses(stack), procs)
}
