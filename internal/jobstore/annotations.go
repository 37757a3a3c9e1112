package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// PatchAnnotations sets (non-nil value) or removes (nil) annotations of job, conditional on
// job's resourceVersion like PatchStatus: 409 when the job moved since it was read. It returns
// the job as stored after the write.
func (s *Store) PatchAnnotations(ctx context.Context, job *v1alpha1.NotebookValidationJob, annotations map[string]*string) (*v1alpha1.NotebookValidationJob, error) {
	key := job.Namespace + "/" + job.Name
	if job.ResourceVersion == "" {
		return nil, fmt.Errorf("patch annotations of job %s: %w", key, errors.New("job has no resourceVersion (it was not read from the API server)"))
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": job.ResourceVersion, "annotations": annotations}})
	if err != nil {
		return nil, fmt.Errorf("patch annotations of job %s: %w", key, err)
	}
	out := &v1alpha1.NotebookValidationJob{}
	err = s.jobs.Patch(types.MergePatchType).Namespace(job.Namespace).Resource(v1alpha1.Resource).Name(job.Name).
		Body(body).Do(ctx).Into(out)
	if err != nil {
		return nil, fmt.Errorf("patch annotations of job %s at resourceVersion %s: %w", key, job.ResourceVersion, err)
	}
	return out, nil
}
