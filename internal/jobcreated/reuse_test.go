package jobcreated

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/reuse"
)

// pagedJobs serves pages of one job each, recording the selectors it was asked for.
type pagedJobs struct {
	pages     [][]v1alpha1.NotebookValidationJob
	selectors []string
	err       error
}

func (p *pagedJobs) List(_ context.Context, namespace, fieldSelector string, _ int64, cont string) ([]v1alpha1.NotebookValidationJob, string, error) {
	p.selectors = append(p.selectors, namespace+" "+fieldSelector)
	if p.err != nil {
		return nil, "", p.err
	}
	i := len(p.selectors) - 1
	next := ""
	if i+1 < len(p.pages) {
		next = "page-" + string(rune('1'+i))
	}
	return p.pages[i], next, nil
}

const testRunner = "registry.example.com/nbv-runner@sha256:1111111111111111111111111111111111111111111111111111111111111111"

func askingJob(phase string) *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns", Annotations: map[string]string{v1alpha1.AnnotationReuse: "true"}},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/nb.git", Ref: strings.Repeat("a", 40)}, Path: "nb.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook@sha256:" + strings.Repeat("b", 64)},
		},
		Status: v1alpha1.NotebookValidationJobStatus{Phase: phase},
	}
}

// The finder lists the namespace's jobs by the key's digest, every page; a job that does not
// ask, asks in a malformed way, leaves an input open or is past starting costs no request.
func TestRunFinder(t *testing.T) {
	run := func(name string) v1alpha1.NotebookValidationJob {
		return v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	jobs := &pagedJobs{pages: [][]v1alpha1.NotebookValidationJob{{run("a")}, {run("b")}}}
	job := askingJob(v1alpha1.PhaseInitializing)
	check, err := RunFinder{Jobs: jobs, RunnerImage: testRunner}.Check(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := reuse.Key(job, testRunner)
	if check == nil || check.Key == nil || *check.Key != *key || len(check.Runs) != 2 || check.Runs[1].Name != "b" {
		t.Fatalf("check %+v, want the key and both pages' runs", check)
	}
	if want := "ns " + reuse.FieldSelector(key); len(jobs.selectors) != 2 || jobs.selectors[0] != want {
		t.Errorf("listed %q, want two pages of %q", jobs.selectors, want)
	}

	for name, job := range map[string]*v1alpha1.NotebookValidationJob{
		"no annotation": func() *v1alpha1.NotebookValidationJob {
			j := askingJob(v1alpha1.PhaseInitializing)
			j.Annotations = nil
			return j
		}(),
		"malformed": func() *v1alpha1.NotebookValidationJob {
			j := askingJob(v1alpha1.PhaseInitializing)
			j.Annotations[v1alpha1.AnnotationReuse] = "1"
			return j
		}(),
		"branch ref": func() *v1alpha1.NotebookValidationJob {
			j := askingJob(v1alpha1.PhaseInitializing)
			j.Spec.Notebook.Git.Ref = "main"
			return j
		}(),
		"validation phase":    askingJob(v1alpha1.PhaseValidationRunning),
		"finished job":        askingJob(v1alpha1.PhaseSucceeded),
		"not yet initialized": askingJob(v1alpha1.PhaseNone),
	} {
		none := &pagedJobs{err: errors.New("must not list")}
		if check, err := (RunFinder{Jobs: none, RunnerImage: testRunner}).Check(context.Background(), job); check != nil || err != nil || len(none.selectors) > 0 {
			t.Errorf("%s: check %+v error %v after %d lists, want nothing read", name, check, err, len(none.selectors))
		}
	}

	// No runner image: not reusable, said, nothing read.
	none := &pagedJobs{err: errors.New("must not list")}
	if check, err := (RunFinder{Jobs: none}).Check(context.Background(), askingJob(v1alpha1.PhasePending)); err != nil || check == nil || check.Key != nil ||
		!strings.Contains(check.NotReusable, "NBV_RUNNER_IMAGE") || len(none.selectors) > 0 {
		t.Errorf("no runner image: check %+v error %v", check, err)
	}

	// A failed list is an error naming the job and the key (the event is redelivered).
	failing := &pagedJobs{err: errors.New("connection refused")}
	if _, err := (RunFinder{Jobs: failing, RunnerImage: testRunner}).Check(context.Background(), askingJob(v1alpha1.PhaseInitializing)); err == nil ||
		!strings.Contains(err.Error(), "ns/nb") || !strings.Contains(err.Error(), key.Digest) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("failed list: error %v", err)
	}
}
