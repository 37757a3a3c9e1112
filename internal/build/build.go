// Package build holds the strategy-neutral part of the image build: what a build child looks
// like to the state machine (State, Observed), the metadata every child carries (job label,
// controller ownerReference), the build deadline, the strategies that are refused, and the
// Dockerfile generation shared by the Tekton and OpenShift strategies.
//
// Nothing here performs I/O. The strategies (subpackages tekton and s2i) build typed objects
// that callers create with the dynamic client; a later event about the child is turned back
// into an Observed by the strategy's Observe function.
package build

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// State is a build child's progress, reduced to what the job's state machine distinguishes.
type State string

// States of a build child.
const (
	StatePending   State = "Pending"
	StateRunning   State = "Running"
	StateSucceeded State = "Succeeded"
	StateFailed    State = "Failed"
	StateCancelled State = "Cancelled"
	StateTimedOut  State = "TimedOut"
)

// ReasonImageMissing is the Observed reason of a build that reports success without saying
// which image it produced: there is nothing to validate with, so it counts as failed.
const ReasonImageMissing = "ImageMissing"

// Terminal reports whether the build has finished, successfully or not.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateTimedOut:
		return true
	}
	return false
}

// Observed is what a build child says about itself, in strategy-neutral terms.
type Observed struct {
	// State is the child's progress.
	State State
	// Image is the built image, "repo:tag@sha256:..." when the build system reported a
	// digest; set only when State is StateSucceeded.
	Image string
	// Reason is the build system's machine-readable reason for the state.
	Reason string
	// Message is the build system's human-readable explanation.
	Message string
	// Started and Completed are the build system's own timestamps, when known.
	Started, Completed *metav1.Time
	// Name is the child's name.
	Name string
}

// JobLabel is set on every build child to the job's name. The ApiServerSource for build
// children selects on it, and the functions find a job's children with it.
const JobLabel = v1alpha1.LabelJob

// DefaultTimeout is the build deadline when buildConfig.timeout is empty; it matches the
// CRD default.
const DefaultTimeout = 15 * time.Minute

// DefaultBaseImage is the FROM image when buildConfig.baseImage is empty; it matches the
// CRD default.
const DefaultBaseImage = "quay.io/jupyter/minimal-notebook:latest"

// Labels returns the labels every build child carries.
func Labels(job *v1alpha1.NotebookValidationJob) map[string]string {
	return map[string]string{JobLabel: job.Name}
}

// OwnerReference is the controller reference every child carries, so deleting the job
// garbage-collects its builds. BlockOwnerDeletion is set, as for any controller-owned child;
// the creating ServiceAccount therefore needs "update" on notebookvalidationjobs/finalizers
// where the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift).
func OwnerReference(job *v1alpha1.NotebookValidationJob) metav1.OwnerReference {
	return *metav1.NewControllerRef(job, v1alpha1.GroupVersionKind)
}

// ChildMeta is the ObjectMeta of a build child called name, in the job's namespace.
// The caller chooses name (deterministically, e.g. with kmeta.ChildName) so that a repeated
// create is recognisable as "already exists".
func ChildMeta(job *v1alpha1.NotebookValidationJob, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       job.Namespace,
		Labels:          Labels(job),
		OwnerReferences: []metav1.OwnerReference{OwnerReference(job)},
	}
}

// Spec returns the job's build configuration, or an error when the job asks for no build.
func Spec(job *v1alpha1.NotebookValidationJob) (*v1alpha1.BuildConfigSpec, error) {
	bc := job.Spec.PodConfig.BuildConfig
	if bc == nil || !bc.Enabled {
		return nil, fmt.Errorf("job %s/%s has no enabled buildConfig", job.Namespace, job.Name)
	}
	return bc, nil
}

// Timeout is the build deadline from buildConfig.timeout (DefaultTimeout when empty). The
// build system enforces it (PipelineRun spec.timeouts.pipeline, Build
// completionDeadlineSeconds), so nobody has to wait for it.
func Timeout(job *v1alpha1.NotebookValidationJob) (time.Duration, error) {
	bc := job.Spec.PodConfig.BuildConfig
	if bc == nil || bc.Timeout == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(bc.Timeout)
	if err != nil {
		return 0, fmt.Errorf("buildConfig.timeout %q: %w", bc.Timeout, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("buildConfig.timeout %q: must be positive", bc.Timeout)
	}
	return d, nil
}

// ErrUnsupported marks a strategy that is accepted by the CRD but not implemented here.
var ErrUnsupported = errors.New("unsupported build strategy")

// Unsupported returns nil for the strategies this project implements (s2i, tekton,
// external) and a wrapped ErrUnsupported for kaniko, shipwright, custom and anything else.
// The message is written for the job's status, where the user reads it.
func Unsupported(strategy string) error {
	switch strategy {
	case v1alpha1.BuildStrategyS2I, v1alpha1.BuildStrategyTekton, v1alpha1.BuildStrategyExternal:
		return nil
	case v1alpha1.BuildStrategyKaniko:
		return fmt.Errorf("%w %q: use strategy tekton with strategyConfig.builder: kaniko, or s2i, or external", ErrUnsupported, strategy)
	}
	return fmt.Errorf("%w %q: use tekton, s2i or external", ErrUnsupported, strategy)
}

// PinDigest returns the image url pinned to digest ("repo:tag@sha256:..."), or url unchanged when the
// digest is empty or malformed, or url is already pinned.
func PinDigest(url, digest string) string {
	if strings.Contains(url, "@") || !validDigest(digest) {
		return url
	}
	return url + "@" + digest
}

func validDigest(d string) bool {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || algo == "" || len(hex) < 32 {
		return false
	}
	for _, r := range algo {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	for _, r := range hex {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// ExpandOutputImage fills the placeholders of an output image template: {namespace} and
// {name} (the job's), and {uid} (the first 8 characters of the job's UID, so a job
// recreated under the same name does not overwrite the earlier job's tag).
func ExpandOutputImage(tmpl string, job *v1alpha1.NotebookValidationJob) (string, error) {
	uid := string(job.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	if uid == "" && strings.Contains(tmpl, "{uid}") {
		return "", fmt.Errorf("output image %q: job %s/%s has no UID yet", tmpl, job.Namespace, job.Name)
	}
	img := strings.NewReplacer("{namespace}", job.Namespace, "{name}", job.Name, "{uid}", uid).Replace(tmpl)
	if err := ValidImage(img); err != nil {
		return "", fmt.Errorf("output image: %w", err)
	}
	return img, nil
}
