package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/externalci"
)

// actors play everything outside nbv that moves a job: the kubelet (validation pods), Tekton's
// and OpenShift's build controllers, and an external CI system. Each reacts to the first sight
// of its object: it reports it running at once and finished after a delay, with the outcome
// the job's plan calls for. Every write is retried (bounded) so that an API server restart
// delays it but does not lose it.
type actors struct {
	ctx       context.Context
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	namespace string
	rec       *recorder
	buildTime time.Duration
	runTime   time.Duration
	ciURL     string
	ciKey     []byte
	http      *http.Client
	// nearRestart reports whether kube-apiserver restarts or just came back (see restartGrace).
	nearRestart func() bool

	mu      sync.Mutex
	handled map[string]bool // "<kind>/<name>" already acted on
	errs    []error
	wg      sync.WaitGroup
}

// once reports whether key is seen for the first time.
func (a *actors) once(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handled[key] {
		return false
	}
	a.handled[key] = true
	return true
}

func (a *actors) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errs) < 100 {
		a.errs = append(a.errs, err)
	}
}

// errors are the writes that could not be made within their retries.
func (a *actors) errors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// later runs f after d on its own goroutine, unless the run ends first.
func (a *actors) later(d time.Duration, f func()) {
	a.wg.Go(func() {
		select {
		case <-a.ctx.Done():
		case <-time.After(d):
			f()
		}
	})
}

// wait waits for every scheduled action.
func (a *actors) wait() { a.wg.Wait() }

// podAdded plays the kubelet for a new validation pod: Running at once, then the runner's end.
func (a *actors) podAdded(job, pod string) {
	if !a.once("pod/" + pod) {
		return
	}
	p, ok := a.rec.plan(job)
	if !ok {
		return
	}
	started := metav1.Now()
	a.later(0, func() {
		a.writePod(pod, func(*corev1.Pod) (corev1.PodStatus, error) { return runningPodStatus(started), nil })
	})
	a.later(a.runTime, func() {
		a.rec.podDone(job, time.Now())
		a.writePod(pod, func(*corev1.Pod) (corev1.PodStatus, error) {
			return finishedPodStatus(started, metav1.Now(), p.NotebookFails)
		})
	})
}

func (a *actors) writePod(name string, status func(*corev1.Pod) (corev1.PodStatus, error)) {
	pods := a.kube.CoreV1().Pods(a.namespace)
	err := retry(a.ctx, func() error {
		pod, err := pods.Get(a.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return nil // a retried write that had landed
		}
		if pod.Status, err = status(pod); err != nil {
			return errPermanent{err}
		}
		_, err = pods.UpdateStatus(a.ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		a.fail(fmt.Errorf("kubelet: pod %s: %w", name, err))
	}
}

// buildAdded plays the build controller of r (PipelineRuns or OpenShift Builds) for a new build
// child of job.
func (a *actors) buildAdded(r childapi.Resource, job, name string) {
	if !a.once(r.Kind + "/" + name) {
		return
	}
	p, ok := a.rec.plan(job)
	if !ok {
		return
	}
	status := tektonStatus
	if r.Kind == childapi.Builds.Kind {
		status = openshiftStatus
	}
	image := "registry.example.com/" + a.namespace + "/" + job + ":v1"
	end := buildSucceeded
	if p.BuildFails {
		end = buildFailed
	}
	a.later(0, func() { a.writeBuild(r, name, status(buildRunning, image, metav1.Now())) })
	a.later(a.buildTime, func() {
		a.rec.buildDone(job, time.Now())
		a.writeBuild(r, name, status(end, image, metav1.Now()))
	})
}

func (a *actors) writeBuild(r childapi.Resource, name string, status map[string]any) {
	c := a.dyn.Resource(r.GVR).Namespace(a.namespace)
	err := retry(a.ctx, func() error {
		obj, err := c.Get(a.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if st, _ := obj.Object["status"].(map[string]any); buildFinished(st) {
			// A retried write that had landed, or the running write retried across an API
			// server restart after the end was written: a build controller never goes back.
			return nil
		}
		obj.Object["status"] = status
		_, err = c.UpdateStatus(a.ctx, obj, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		a.fail(fmt.Errorf("%s controller: %s: %w", r.Kind, name, err))
	}
}

// externalBuilding plays the external CI system of a job that entered Building: after the
// build time it posts the signed report to build-status-changed's /ci route, as a new event
// (new id) on each attempt that could not be answered, as a CI system retrying would.
func (a *actors) externalBuilding(job string) {
	if !a.once("ci/" + job) {
		return
	}
	p, ok := a.rec.plan(job)
	if !ok {
		return
	}
	a.later(a.buildTime, func() {
		a.rec.buildDone(job, time.Now())
		report := events.BuildReport{Namespace: a.namespace, Job: job, Status: events.BuildSucceeded,
			Image: "registry.example.com/" + a.namespace + "/" + job, Digest: imageDigest, Message: "pipeline passed", BuildID: job}
		if p.BuildFails {
			report = events.BuildReport{Namespace: a.namespace, Job: job, Status: events.BuildFailed, Message: "unit tests failed", BuildID: job}
		}
		attempt := 0
		err := retry(a.ctx, func() error {
			attempt++
			now := time.Now()
			ev, err := externalci.NewEvent(report, "/ci/bench", job+"-"+strconv.Itoa(attempt), now)
			if err != nil {
				return errPermanent{err}
			}
			req, err := externalci.NewRequest(a.ctx, a.ciURL, ev, externalci.Structured, a.ciKey, now)
			if err != nil {
				return errPermanent{err}
			}
			_, err = externalci.Send(a.http, req)
			var rejected *externalci.RejectedError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &rejected) && rejected.Status == http.StatusConflict:
				// The job left Building: an earlier attempt was applied after all.
				return nil
			case errors.As(err, &rejected) && rejected.Status == http.StatusUnauthorized && a.nearRestart != nil && a.nearRestart():
				return err // the restarted API server's RBAC cache not yet synced (restartGrace)
			case errors.As(err, &rejected) && rejected.Status < 500 && rejected.Status != http.StatusTooManyRequests:
				return errPermanent{err}
			}
			return err
		})
		if err != nil {
			a.fail(fmt.Errorf("external CI: job %s: %w", job, err))
		}
	})
}

// errPermanent marks an error no retry can fix.
type errPermanent struct{ error }

func (e errPermanent) Unwrap() error { return e.error }

// retry calls f until it succeeds, fails permanently, or about a minute of backoff has passed:
// long enough to ride out an API server restart on a loaded machine, short enough that a run
// always ends.
func retry(ctx context.Context, f func() error) error {
	delay := 20 * time.Millisecond
	var err error
	for range 40 {
		if err = f(); err == nil {
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) {
			return perm.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
	return fmt.Errorf("gave up after 40 attempts: %w", err)
}
