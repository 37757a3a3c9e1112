package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// ErrStaleCopy is wrapped by PatchStatusFromCopy when the API server refused the write: the
// job as stored is not the copy the status was decided from (it moved on since the copy was
// sent, or the copy was never the API server's). Nothing was written; read the job and decide
// again.
var ErrStaleCopy = errors.New("the job is not as the copy decided from showed it")

// Carried is a job as an event carried it: Job decoded from Object, the object as sent.
// Nothing in it is believed until a write checks it: PatchStatusFromCopy writes only when
// the API server holds exactly what Object shows.
type Carried struct {
	Job    *v1alpha1.NotebookValidationJob
	Object map[string]any
}

// checkedPaths are the parts of a job a decision reads (its identity, version, labels and
// annotations, spec and status), as JSON pointers.
var checkedPaths = [][]string{
	{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "deletionTimestamp"},
	{"metadata", "labels"}, {"metadata", "annotations"}, {"spec"}, {"status"},
}

// PatchStatusFromCopy makes the job's status exactly status, with a JSON patch whose test
// operations hold every checked path to its value in c.Object (absent paths to absent): the
// API server applies the patch atomically and refuses it (422, ErrStaleCopy) unless the job
// it holds is the copy, field for field. A copy the API server never sent, or one it has
// since moved past, writes nothing; one that is current writes without being read first.
func (s *Store) PatchStatusFromCopy(ctx context.Context, c Carried, status v1alpha1.NotebookValidationJobStatus) (*v1alpha1.NotebookValidationJob, error) {
	key := c.Job.Namespace + "/" + c.Job.Name
	body, err := copyPatch(c, status)
	if err != nil {
		return nil, fmt.Errorf("patch status of job %s from an event's copy: %w", key, err)
	}
	out := &v1alpha1.NotebookValidationJob{}
	err = s.jobs.Patch(types.JSONPatchType).Namespace(c.Job.Namespace).Resource(v1alpha1.Resource).Name(c.Job.Name).
		SubResource("status").Body(body).Do(ctx).Into(out)
	if refusedCopy(err) {
		return nil, fmt.Errorf("patch status of job %s from an event's copy at resourceVersion %s: %w: %w", key, c.Job.ResourceVersion, ErrStaleCopy, err)
	}
	if err != nil {
		return nil, fmt.Errorf("patch status of job %s from an event's copy at resourceVersion %s: %w", key, c.Job.ResourceVersion, err)
	}
	return out, nil
}

// copyPatch is the JSON patch of PatchStatusFromCopy.
func copyPatch(c Carried, status v1alpha1.NotebookValidationJobStatus) ([]byte, error) {
	if c.Job == nil || c.Job.ResourceVersion == "" {
		return nil, errors.New("the copy has no resourceVersion")
	}
	next, err := toMap(status)
	if err != nil {
		return nil, err
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	var ops []op
	for _, p := range checkedPaths {
		ops = append(ops, op{Op: "test", Path: "/" + strings.Join(p, "/"), Value: valueAt(c.Object, p)})
	}
	ops = append(ops, op{Op: "add", Path: "/status", Value: next})
	return json.Marshal(ops)
}

// valueAt is the value at path in obj, nil when any part of it is missing.
func valueAt(obj map[string]any, path []string) any {
	var v any = obj
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// refusedCopy reports whether err is the API server refusing a copy's write as
// unprocessable (422). A failed test operation is that, with no detail to tell it by (the API
// server reports patch application errors as a bare 422); a status the CRD refuses is too, and
// is refused again by the write decided from the job read fresh, which reports it.
func refusedCopy(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code == http.StatusUnprocessableEntity
}
