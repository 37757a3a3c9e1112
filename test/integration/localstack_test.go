package integration

import (
	"context"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestLocalStackPingsTheSweep: the stack sends the PingSource of eventsources/ through the
// broker, whose sweep Trigger (config/broker) routes it to the sweep function.
func TestLocalStackPingsTheSweep(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	stack, err := localstack.Start(ctx, localstack.Options{Config: cp.RESTConfig(), RepoRoot: repoRoot, Namespace: ns, FunctionsDir: functionsDir,
		Pod: validationpod.Options{RunnerImage: testRunnerImage}, PingInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); stack.Broker.Delivered()["sweep"] < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := stack.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stack.Broker.Delivered()["sweep"]; got < 2 {
		t.Errorf("sweep acknowledged %d pings, want at least 2", got)
	}
	if dl := stack.Broker.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}
