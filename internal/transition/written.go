package transition

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// maxWritten bounds the jobs an Executor remembers.
const maxWritten = 1024

// written remembers, per job, the job as the API server answered this process's last status
// write of it. The job's own update event for that write names the same resourceVersion: the
// step it wakes then starts from this copy instead of reading the job again; a step woken by
// another event (a child's) starts from it too, as a copy that may be behind. Its zero value
// is ready to use.
type written struct {
	mu   sync.Mutex
	jobs map[types.NamespacedName]*v1alpha1.NotebookValidationJob
}

// put remembers job, the API server's answer to a write.
func (w *written) put(job *v1alpha1.NotebookValidationJob) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.jobs == nil {
		w.jobs = map[types.NamespacedName]*v1alpha1.NotebookValidationJob{}
	}
	key := types.NamespacedName{Namespace: job.Namespace, Name: job.Name}
	if _, ok := w.jobs[key]; !ok && len(w.jobs) >= maxWritten {
		for k := range w.jobs {
			delete(w.jobs, k)
			break
		}
	}
	w.jobs[key] = job.DeepCopy()
}

// latest returns a copy of the remembered job namespace/name, whatever its version, or nil.
func (w *written) latest(namespace, name string) *v1alpha1.NotebookValidationJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	if job := w.jobs[types.NamespacedName{Namespace: namespace, Name: name}]; job != nil {
		return job.DeepCopy()
	}
	return nil
}

// at returns a copy of the remembered job namespace/name if it is at resourceVersion, else nil.
func (w *written) at(namespace, name, resourceVersion string) *v1alpha1.NotebookValidationJob {
	if resourceVersion == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	job := w.jobs[types.NamespacedName{Namespace: namespace, Name: name}]
	if job == nil || job.ResourceVersion != resourceVersion {
		return nil
	}
	return job.DeepCopy()
}
