package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// createJob creates job and returns it as the API server stored it (GenerateName resolved).
func createJob(ctx context.Context, cfg *rest.Config, job *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	created, err := client.Resource(v1alpha1.GroupVersionResource).Namespace(job.GetNamespace()).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	return created, nil
}

// follower prints each phase a job enters, from a watch (no polling), until it is Succeeded
// or Failed.
type follower struct {
	cfg     *rest.Config
	kube    kubernetes.Interface
	out     io.Writer
	timeout time.Duration
	// hintAfter: when the job still has no phase this long after the follow started, the
	// opt-in of its namespace is checked and a hint printed (nothing acts in a namespace that
	// is not opted in).
	hintAfter time.Duration
}

// newFollower follows jobs through cfg, printing on out.
func newFollower(cfg *rest.Config, out io.Writer, timeout time.Duration) (*follower, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &follower{cfg: cfg, kube: kube, out: out, timeout: timeout, hintAfter: defaultHintAfter}, nil
}

// defaultHintAfter: the functions give a new job its first phase within a second or two; ten
// seconds without one means nothing is acting on it.
const defaultHintAfter = 10 * time.Second

// follow watches namespace/name until it is terminal and returns it.
func (f *follower) follow(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	client, err := dynamic.NewForConfig(f.cfg)
	if err != nil {
		return nil, err
	}
	lw := jobListWatch(client.Resource(v1alpha1.GroupVersionResource).Namespace(namespace), name)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	var mu sync.Mutex
	start, last, seen := time.Now(), "", false
	hintDone := make(chan struct{})
	go func() {
		defer close(hintDone)
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.hintAfter):
		}
		mu.Lock()
		stuck := last == v1alpha1.PhaseNone
		mu.Unlock()
		if stuck {
			fmt.Fprintf(f.out, "%8s  no phase yet: nothing has acted on the job; checking namespace %s\n",
				time.Since(start).Round(100*time.Millisecond), namespace)
			f.printOptInHint(ctx, namespace)
		}
	}()
	defer func() { cancel(); <-hintDone }()

	ev, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("job %s/%s was deleted before it finished", namespace, name)
		}
		job, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		phase, _, _ := unstructured.NestedString(job.Object, "status", "phase")
		message, _, _ := unstructured.NestedString(job.Object, "status", "message")
		mu.Lock()
		changed := phase != last || !seen
		last, seen = phase, true
		mu.Unlock()
		if changed && phase != v1alpha1.PhaseNone {
			fmt.Fprintf(f.out, "%8s  %-17s %s\n", time.Since(start).Round(100*time.Millisecond), phase, message)
		}
		return statemachine.Terminal(phase), nil
	})
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case parent.Err() != nil:
			return nil, fmt.Errorf("stopped following job %s/%s in phase %q: %w", namespace, name, last, parent.Err())
		case ctx.Err() != nil:
			return nil, fmt.Errorf("job %s/%s did not finish within %s (phase %q)", namespace, name, f.timeout, last)
		}
		return nil, err
	}
	return ev.Object.(*unstructured.Unstructured), nil
}

// jobListWatch lists and watches the one job name.
func jobListWatch(jobs dynamic.ResourceInterface, name string) *cache.ListWatch {
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return jobs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return jobs.Watch(ctx, o)
		},
	}
}

// maxShownDiffs bounds the golden differences printed; the job's status holds them all.
const maxShownDiffs = 5

// printResult prints the job's outcome: the message, each cell, the failing cell's traceback
// end and the golden differences.
func printResult(w io.Writer, obj *unstructured.Unstructured) error {
	job := &v1alpha1.NotebookValidationJob{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, job); err != nil {
		return fmt.Errorf("read the job's status: %w", err)
	}
	fmt.Fprintf(w, "\n%s: %s\n", job.Status.Phase, job.Status.Message)
	for _, r := range job.Status.Results {
		d := ""
		if r.ExecutionTime != nil {
			d = r.ExecutionTime.Duration.Round(time.Millisecond).String()
		}
		line := fmt.Sprintf("  cell %-3d %-8s %8s", r.CellIndex, r.Status, d)
		if r.ErrorMessage != "" {
			line += "  " + r.ErrorMessage
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	for _, r := range job.Status.Results {
		// pod-completed writes the end of the failing cell's traceback as its output.
		if r.Status == v1alpha1.CellStatusFailure && r.Output != "" {
			fmt.Fprintf(w, "\ncell %d traceback (end):\n%s\n", r.CellIndex, indentLines(r.Output, "  "))
		}
	}
	c := job.Status.ComparisonResult
	if c == nil {
		return nil
	}
	fmt.Fprintf(w, "\ngolden comparison (%s): %s, %d of %d cells matched\n", c.Strategy, c.Result, c.MatchedCells, c.TotalCells)
	for i, d := range c.Diffs {
		if i == maxShownDiffs {
			fmt.Fprintf(w, "  … %d more differences (kubectl get nvj %s -o yaml shows them all)\n", len(c.Diffs)-i, job.Name)
			break
		}
		fmt.Fprintf(w, "  cell %d: %s (%s)\n", d.CellIndex, d.DiffType, d.Severity)
		if d.Diff != "" {
			fmt.Fprintln(w, indentLines(d.Diff, "    "))
			continue
		}
		if d.Expected != "" || d.Actual != "" {
			fmt.Fprintf(w, "    - expected: %s\n    + actual:   %s\n", d.Expected, d.Actual)
		}
	}
	return nil
}

func indentLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
