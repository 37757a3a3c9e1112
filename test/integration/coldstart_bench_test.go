package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/local/activator"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// BenchmarkColdStart sends each function one event at a time while none of its instances
// runs, and reports the activator's figures for it: process start -> ready (ms-ready) and
// event accepted -> answered (ms-answered). ns/op also counts the wait for the idle window.
func BenchmarkColdStart(b *testing.B) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "bench-coldstart-" + strings.ToLower(time.Now().Format("150405"))
	if err := controlPlane.EnsureNamespace(ctx, ns); err != nil {
		b.Fatal(err)
	}
	const idle = 100 * time.Millisecond
	stack, err := localstack.Start(ctx, localstack.Options{Config: controlPlane.RESTConfig(), RepoRoot: repoRoot, Namespace: ns,
		FunctionsDir: functionsDir, Pod: validationpod.Options{RunnerImage: testRunnerImage}, Idle: idle, PingInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := stack.Stop(context.Background()); err != nil {
			b.Error(err)
		}
	}()

	ping := cloudevents.NewEvent()
	ping.SetType(events.TypePing)
	ping.SetSource("/apis/v1/namespaces/" + localstack.SystemNamespace + "/pingsources/nbv-sweep")
	_ = ping.SetData(cloudevents.ApplicationJSON, map[string]string{"reason": "sweep"})
	hints := map[string]cloudevents.Event{
		"job-created":          resourceEvent(ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "absent", ""),
		"pod-completed":        resourceEvent(ns, "v1", "Pod", "absent-validation", "absent"),
		"build-status-changed": resourceEvent(ns, "tekton.dev/v1", "PipelineRun", "absent-build", "absent"),
		"sweep":                ping,
	}
	for name, ev := range hints {
		b.Run(name, func(b *testing.B) {
			act := stack.Activators[name]
			client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(stack.FunctionURLs[name]))
			if err != nil {
				b.Fatal(err)
			}
			before := len(act.ColdStarts())
			for i := 0; i < b.N; i++ {
				waitScaledToZero(b, act)
				ev.SetID(name + "-cold-" + time.Now().Format(time.RFC3339Nano))
				if res := client.Send(ctx, ev); !cloudevents.IsACK(res) {
					b.Fatalf("%s answered %v", name, res)
				}
			}
			cold := act.ColdStarts()[before:]
			if len(cold) != b.N {
				b.Fatalf("%d cold starts recorded for %d events sent with no instance", len(cold), b.N)
			}
			var ready, answered time.Duration
			for _, c := range cold {
				ready += c.ProcessToReady
				answered += c.AcceptedToAnswered
			}
			b.ReportMetric(float64(ready.Microseconds())/1000/float64(len(cold)), "ms-ready")
			b.ReportMetric(float64(answered.Microseconds())/1000/float64(len(cold)), "ms-answered")
		})
	}
}

func waitScaledToZero(b *testing.B, act *activator.Activator) {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(act.Processes()) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("instances %v still running after 30s", act.Processes())
		}
	}
}
