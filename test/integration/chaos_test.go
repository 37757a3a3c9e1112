package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/local/bench"
)

// TestChaosHoldsInvariants is the short version of `make soak`: 40 jobs of every kind through
// the whole process-per-function stack (its own control plane, so the kube-apiserver restart
// disturbs no other test) with every fault on: function processes SIGKILLed at random, every
// delivery duplicated and reordered, 10% of source events dropped (the sweep, pinged every 2 s,
// recovers them), kube-apiserver restarted halfway through. Every invariant must hold at the
// end: each job terminal in its planned phase, one pod per attempt, no orphaned children, no
// phase going backwards, no status write that neither changed the job nor lost a race, no
// function process failing unless killed.
func TestChaosHoldsInvariants(t *testing.T) {
	requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress strings.Builder
	res, err := bench.Run(ctx, bench.Options{Jobs: 40, Faults: bench.AllFaults, RepoRoot: repoRoot, FunctionsDir: functionsDir,
		Timeout: 4 * time.Minute, Progress: &progress})
	if err != nil {
		t.Fatalf("chaos run: %v\n%s", err, progress.String())
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())
	if res.Chaos == nil || res.Chaos.Killed == 0 || res.Chaos.EventsDropped == 0 || res.Chaos.Restart == nil {
		t.Errorf("the faults did not all happen: %+v", res.Chaos)
	}
	for _, inv := range res.Invariants {
		if !inv.OK {
			t.Errorf("invariant %q broken: %s (and %d more)", inv.Name, strings.Join(inv.Violations, "; "), inv.More)
		}
	}
}
