package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// createJob creates job and returns the name the API server gave it (GenerateName allowed).
func createJob(ctx context.Context, cfg *rest.Config, job *v1alpha1.NotebookValidationJob) (string, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		return "", err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	created, err := client.Resource(v1alpha1.GroupVersionResource).Namespace(job.Namespace).
		Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create job: %w", err)
	}
	return created.GetName(), nil
}

// followJob prints each phase the job enters until it is Succeeded or Failed.
func followJob(ctx context.Context, cfg *rest.Config, namespace, name string, timeout time.Duration) (*v1alpha1.NotebookValidationJob, error) {
	store, err := jobstore.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start, last := time.Now(), ""
	for {
		job, err := store.Get(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		if p := job.Status.Phase; p != last {
			fmt.Printf("%8s  %-17s %s\n", time.Since(start).Round(100*time.Millisecond), p, job.Status.Message)
			last = p
		}
		if statemachine.Terminal(job.Status.Phase) {
			return job, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %s/%s still %q after %s", namespace, name, last, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printResult(job *v1alpha1.NotebookValidationJob) {
	fmt.Printf("\n%s: %s\n", job.Status.Phase, job.Status.Message)
	for _, r := range job.Status.Results {
		d := ""
		if r.ExecutionTime != nil {
			d = r.ExecutionTime.Duration.Round(time.Millisecond).String()
		}
		line := fmt.Sprintf("  cell %-3d %-8s %8s", r.CellIndex, r.Status, d)
		if r.ErrorMessage != "" {
			line += "  " + r.ErrorMessage
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
	if c := job.Status.ComparisonResult; c != nil {
		fmt.Printf("  golden comparison (%s): %s, %d of %d cells matched\n", c.Strategy, c.Result, c.MatchedCells, c.TotalCells)
	}
}
