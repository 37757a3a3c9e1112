package dyntyped_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/dyntyped"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// coldEnv names the conversion a re-executed test binary makes once (TestColdConversion).
const coldEnv = "NBV_DYNTYPED_COLD"

// BenchmarkColdPodDecode is what a fresh process pays to decode its first Pod from an
// object's content, the way a function decodes an event's pod: with apimachinery's
// unstructured converter and through JSON (FromUnstructured). Each op re-executes the test
// binary, which converts once; cpu-ms/op is the CPU time of that conversion alone.
//
//	go test -run '^$' -bench ColdPodDecode -benchtime 20x ./internal/dyntyped
func BenchmarkColdPodDecode(b *testing.B) {
	pod, err := validationpod.Build(buildJob(v1alpha1.BuildStrategyTekton), "nb-validation", "python:3.12", validationpod.Options{RunnerImage: "runner:1"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	path := b.TempDir() + "/pod.json"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, way := range []string{"apimachinery", "json"} {
		b.Run(way, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run", "^TestColdConversion$")
				cmd.Env = append(os.Environ(), coldEnv+"="+way+":"+path)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				cpu, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), 10, 64)
				if err != nil {
					b.Fatalf("child said %q: %v", out, err)
				}
				total += time.Duration(cpu)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// TestColdConversion is BenchmarkColdPodDecode's child: run with coldEnv set it decodes the
// file once and prints the CPU time the decode took; otherwise it does nothing.
func TestColdConversion(t *testing.T) {
	way, path, ok := strings.Cut(os.Getenv(coldEnv), ":")
	if !ok {
		t.Skip("only run by BenchmarkColdPodDecode")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	before := processCPU()
	switch way {
	case "apimachinery":
		err = runtime.DefaultUnstructuredConverter.FromUnstructured(u, &pod)
	default:
		err = dyntyped.FromUnstructured(u, &pod)
	}
	cpu := processCPU() - before
	if err != nil || len(pod.Spec.Containers) == 0 {
		t.Fatalf("decoded %d containers: %v", len(pod.Spec.Containers), err)
	}
	fmt.Println(cpu.Nanoseconds())
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
