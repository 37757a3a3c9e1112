// Package jobstore owns the functions' access to the Kubernetes API: reading a
// NotebookValidationJob, writing its status under optimistic concurrency (guarded by the
// resourceVersion it was read at, or, for a copy an event carried, by the whole copy:
// PatchStatusFromCopy), one bounded read-decide-write Transition, the validation Pod, and
// Events on the job. It offers what the functions need and nothing more, and counts every
// HTTP request it makes (Calls) so API cost per transition can be reported.
//
// The job is read and written through a small REST client over a scheme holding only
// v1alpha1, rather than the dynamic client: objects decode straight into the typed structs
// (no unstructured round trip), and the binary links no generated clientset. Pods and Events
// go through a REST client over core/v1 alone (RESTClient), as SubjectAccessReviews do
// (internal/jobaccess). Nothing here imports Tekton or OpenShift, so scale-to-zero functions
// stay small.
package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/apicalls"
	"github.com/mlops-dev/nbv/internal/tracing"
)

// ErrJobNotFound is wrapped by Get (and Transition) when the job does not exist. The API
// server's NotFound error is wrapped too, so apierrors.IsNotFound also holds.
var ErrJobNotFound = errors.New("notebookvalidationjob not found")

// ErrConflict is matched (errors.Is) by the *ConflictError Transition returns when every
// attempt lost the optimistic-concurrency race.
var ErrConflict = errors.New("notebookvalidationjob kept changing")

// ConflictError says Transition gave up after Attempts 409 answers. The caller should answer
// the broker with a 5xx so the event is redelivered and decided again later.
type ConflictError struct {
	Namespace, Name string
	Attempts        int
	// Last is the API server's final 409, so apierrors.IsConflict holds as well.
	Last error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("transition job %s/%s: status changed concurrently on all %d attempts: %v", e.Namespace, e.Name, e.Attempts, e.Last)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap exposes the last 409.
func (e *ConflictError) Unwrap() error { return e.Last }

// Store is the API access of one function process. It is safe for concurrent use.
type Store struct {
	jobs  rest.Interface
	core  rest.Interface // core/v1: pods, events, namespaces
	calls *atomic.Int64
	log   *slog.Logger
}

// New builds a Store from cfg (which it does not modify).
func New(cfg *rest.Config) (*Store, error) {
	if cfg == nil {
		return nil, errors.New("jobstore: rest config is nil")
	}
	c, calls := apicalls.Counted(cfg, "nbv-jobstore")
	jobs, err := RESTClient(c, v1alpha1.SchemeGroupVersion, "/apis", v1alpha1.AddToScheme)
	if err != nil {
		return nil, fmt.Errorf("jobstore: %s client: %w", v1alpha1.Resource, err)
	}
	core, err := RESTClient(c, corev1.SchemeGroupVersion, "/api", addCoreTypes)
	if err != nil {
		return nil, fmt.Errorf("jobstore: core/v1 client: %w", err)
	}
	return &Store{jobs: jobs, core: core, calls: calls, log: slog.Default()}, nil
}

// addCoreTypes registers the core/v1 types the store reads and writes. corev1.AddToScheme
// registers all fifty of them, ~1 ms of reflection at every function process's start.
func addCoreTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.Pod{}, &corev1.Event{}, &corev1.Namespace{}, &corev1.NamespaceList{})
	return nil
}

// RESTClient is a JSON REST client for one group version whose scheme holds only that group's
// types. client-go's typed clientsets register every built-in API group (about 13 MB in each
// function binary, and 3 ms of every process start to register them); functions need pods,
// events, namespaces and SubjectAccessReviews only.
func RESTClient(cfg *rest.Config, gv schema.GroupVersion, apiPath string, addToScheme func(*runtime.Scheme) error) (rest.Interface, error) {
	scheme := runtime.NewScheme()
	if err := addToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	// metav1.Status arrives as apiVersion v1; registering it lets error bodies decode into
	// typed API errors (reason, message) instead of bare status codes.
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &gv
	c.APIPath = apiPath
	c.ContentType = runtime.ContentTypeJSON
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	return rest.RESTClientFor(c)
}

// Calls is the number of HTTP requests made so far (retries and failures included). Take the
// difference around a transition to report its API cost.
func (s *Store) Calls() int64 { return s.calls.Load() }

// Get reads a job.
func (s *Store) Get(ctx context.Context, namespace, name string) (*v1alpha1.NotebookValidationJob, error) {
	job := &v1alpha1.NotebookValidationJob{}
	err := s.jobs.Get().Namespace(namespace).Resource(v1alpha1.Resource).Name(name).Do(ctx).Into(job)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get job %s/%s: %w: %w", namespace, name, ErrJobNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s/%s: %w", namespace, name, err)
	}
	return job, nil
}

// PatchStatus replaces job's status with status, conditional on job's resourceVersion: the API
// server answers 409 (apierrors.IsConflict) when the job moved since job was read. It returns
// the job as stored after the write.
func (s *Store) PatchStatus(ctx context.Context, job *v1alpha1.NotebookValidationJob, status v1alpha1.NotebookValidationJobStatus) (*v1alpha1.NotebookValidationJob, error) {
	key := job.Namespace + "/" + job.Name
	body, err := statusPatch(job, status)
	if err != nil {
		return nil, fmt.Errorf("patch status of job %s: %w", key, err)
	}
	out := &v1alpha1.NotebookValidationJob{}
	err = s.jobs.Patch(types.MergePatchType).Namespace(job.Namespace).Resource(v1alpha1.Resource).Name(job.Name).
		SubResource("status").Body(body).Do(ctx).Into(out)
	if err != nil {
		return nil, fmt.Errorf("patch status of job %s at resourceVersion %s: %w", key, job.ResourceVersion, err)
	}
	return out, nil
}

// statusPatch builds a JSON merge patch that carries job's resourceVersion as a precondition
// and makes the status exactly status: every field of status is set, and every field of the
// current status that status lacks is nulled, at any depth of nested objects (a merge patch
// would otherwise keep them). Lists are replaced wholesale by merge patches anyway.
func statusPatch(job *v1alpha1.NotebookValidationJob, status v1alpha1.NotebookValidationJobStatus) ([]byte, error) {
	if job.ResourceVersion == "" {
		// Without it the write would be unconditional and could overwrite a newer decision.
		return nil, errors.New("job has no resourceVersion (it was not read from the API server)")
	}
	old, err := toMap(job.Status)
	if err != nil {
		return nil, err
	}
	next, err := toMap(status)
	if err != nil {
		return nil, err
	}
	nullRemoved(next, old)
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": job.ResourceVersion},
		"status":   next,
	})
}

func toMap(status v1alpha1.NotebookValidationJobStatus) (map[string]any, error) {
	b, err := json.Marshal(status)
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	return m, nil
}

// nullRemoved sets to null every key of old missing from next, recursing into objects both have.
func nullRemoved(next, old map[string]any) {
	for k, ov := range old {
		nv, ok := next[k]
		if !ok {
			next[k] = nil
			continue
		}
		om, oIsMap := ov.(map[string]any)
		nm, nIsMap := nv.(map[string]any)
		if oIsMap && nIsMap {
			nullRemoved(nm, om)
		}
	}
}

// Step decides one transition from a freshly read job and performs its side effect. It returns
// the complete new status, or nil to write nothing.
//
// Step must be idempotent: after a 409, Transition reads the job again and calls Step again,
// so its side effect may run more than once (create children with deterministic names and
// treat "already exists" as success). Step receives a copy it may modify.
type Step func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJobStatus, error)

// Transition reads the job, runs step and writes the status it returns, re-reading and
// re-deciding on 409 for at most maxAttempts rounds (at least one). It returns the job as last
// read or written, and whether a status was written. When every round loses the race it
// returns a *ConflictError (errors.Is ErrConflict). A missing job yields ErrJobNotFound.
func (s *Store) Transition(ctx context.Context, namespace, name string, maxAttempts int, step Step) (*v1alpha1.NotebookValidationJob, bool, error) {
	return s.TransitionFrom(ctx, Start{}, namespace, name, maxAttempts, step)
}

// ErrReadFresh is returned by a Step given a job it must not decide from unread (an event's
// copy, or a remembered answer that may be behind, for a decision that needs the job as it is
// now): TransitionFrom then reads the job and steps again, in the same round.
var ErrReadFresh = errors.New("read the job fresh first")

// Start is what the first round of a transition decides from instead of reading the job. Its
// zero value reads.
type Start struct {
	// Job is a job as the API server answered an earlier request of this process, at its
	// resourceVersion: the write decided from it is guarded by that version (a job that moved
	// on answers 409 and is read fresh).
	Job *v1alpha1.NotebookValidationJob
	// Carried, when Job is nil, is a job as an event carried it: the write decided from it
	// holds only if the API server has exactly that copy (PatchStatusFromCopy); otherwise
	// nothing is written and the job is read fresh, in the same round.
	Carried *Carried
}

// TransitionFrom is Transition whose first round decides from start instead of reading, when
// start is not zero. A step may refuse start's job with ErrReadFresh.
func (s *Store) TransitionFrom(ctx context.Context, start Start, namespace, name string, maxAttempts int, step Step) (*v1alpha1.NotebookValidationJob, bool, error) {
	maxAttempts = max(maxAttempts, 1)
	var last error
	endJob := func() {}
	defer func() { endJob() }()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		job, carried := start.Job, start.Carried
		if job == nil && carried != nil {
			job = carried.Job
		}
		fromStart := job != nil
		start = Start{}
		if job == nil {
			var err error
			if job, err = s.traced(ctx, tracing.SpanRead, func(ctx context.Context) (*v1alpha1.NotebookValidationJob, error) {
				return s.Get(ctx, namespace, name)
			}); err != nil {
				return nil, false, fmt.Errorf("transition: %w", err)
			}
		}
		var status *v1alpha1.NotebookValidationJobStatus
		_, err := s.traced(ctx, tracing.SpanDecide, func(ctx context.Context) (*v1alpha1.NotebookValidationJob, error) {
			var err error
			status, err = step(ctx, job.DeepCopy())
			return nil, err
		})
		if fromStart && errors.Is(err, ErrReadFresh) {
			attempt--
			continue
		}
		if err != nil {
			return job, false, fmt.Errorf("transition job %s/%s: %w", namespace, name, err)
		}
		if status == nil {
			return job, false, nil
		}
		// A function woken by an event that is not the job's (the sweep's ping) writes in the
		// job's own trace; only a write joins it, so a sweep that finds nothing to do adds
		// nothing to the traces of the jobs it lists every minute.
		endJob()
		var jctx context.Context
		jctx, endJob = tracing.InJob(ctx, string(job.UID))
		updated, err := s.traced(jctx, tracing.SpanWrite, func(ctx context.Context) (*v1alpha1.NotebookValidationJob, error) {
			if carried != nil {
				return s.PatchStatusFromCopy(ctx, *carried, *status)
			}
			return s.PatchStatus(ctx, job, *status)
		})
		if errors.Is(err, ErrStaleCopy) {
			// The copy was not the job as stored: read it and decide again, in the same round.
			attempt--
			continue
		}
		if apierrors.IsConflict(err) {
			last = err
			continue
		}
		if err != nil {
			return job, false, fmt.Errorf("transition: %w", err)
		}
		return updated, true, nil
	}
	return nil, false, &ConflictError{Namespace: namespace, Name: name, Attempts: maxAttempts, Last: last}
}

// traced runs f in a span named name (a no-op span when tracing is off); the span records
// f's error.
func (s *Store) traced(ctx context.Context, name string, f func(context.Context) (*v1alpha1.NotebookValidationJob, error)) (*v1alpha1.NotebookValidationJob, error) {
	ctx, span := tracing.Tracer().Start(ctx, name)
	defer span.End()
	job, err := f(ctx)
	tracing.Fail(span, err)
	return job, err
}
