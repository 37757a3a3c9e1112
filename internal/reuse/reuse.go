// Package reuse computes, without I/O, what a run's verdict depends on: whether a job asks to
// reuse an earlier run's verdict (the annotation mlops.mlops.dev/reuse) and the job's reuse
// key, each input with its value and the digest over them all.
//
// Only inputs fixed before the run count: a job can match an earlier run without running only
// if every input is known from its spec. So a reusable job pins its notebook and golden
// notebook to full commit SHAs and its image by digest; a branch, a tag or a built image is
// resolved only by the run, and such a job is not reusable (Key says which input and why).
// The runner is the runner image the installer configured, as the function that starts the
// validation pod sees it.
package reuse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/modelspec"
	"github.com/mlops-dev/nbv/internal/pin"
)

// Annotation values.
const (
	requestedValue = "true"
	declinedValue  = "false"
)

// Requested reports whether job asks to reuse an earlier run's verdict. A value other than
// "true" or "false" is an error naming the annotation and the value.
func Requested(job *v1alpha1.NotebookValidationJob) (bool, error) {
	value, ok := job.Annotations[v1alpha1.AnnotationReuse]
	if !ok {
		return false, nil
	}
	switch value {
	case requestedValue:
		return true, nil
	case declinedValue:
		return false, nil
	}
	return false, fmt.Errorf("annotation %s is %q: want %q (reuse an earlier run with the same inputs) or %q",
		v1alpha1.AnnotationReuse, value, requestedValue, declinedValue)
}

// FieldSelector selects the jobs whose status carries key (status.reuseKey.digest is a
// selectable field of the CRD, so the API server filters).
func FieldSelector(key *v1alpha1.ReuseKey) string {
	return "status.reuseKey.digest=" + key.Digest
}

// NotReusableError says which input of a job is not fixed by its spec, so that no earlier run
// can be known to have had it.
type NotReusableError struct {
	Input string // the spec field, e.g. "spec.notebook.git.ref"
	Why   string
}

func (e *NotReusableError) Error() string { return e.Input + " " + e.Why }

// Key is job's reuse key when runs with runnerImage, or a *NotReusableError naming the first
// input its spec leaves open.
func Key(job *v1alpha1.NotebookValidationJob, runnerImage string) (*v1alpha1.ReuseKey, error) {
	if err := Pinned(job); err != nil {
		return nil, err
	}
	if runnerImage == "" {
		return nil, &NotReusableError{Input: "the runner image", Why: "is not known to this function (NBV_RUNNER_IMAGE is empty)"}
	}
	spec := &job.Spec
	key := &v1alpha1.ReuseKey{
		Notebook: notebook(&spec.Notebook),
		Image:    spec.PodConfig.ContainerImage,
		Execution: partDigest(struct {
			Execution *v1alpha1.ExecutionSpec `json:"execution"`
			Timeout   string                  `json:"timeout"`
		}{spec.Execution, spec.Timeout}),
		Validation: partDigest(spec.ValidationConfig),
		Comparison: partDigest(spec.ComparisonConfig),
		Environment: partDigest(struct {
			Env                []v1alpha1.EnvVar              `json:"env"`
			Resources          *v1alpha1.ResourceRequirements `json:"resources"`
			ServiceAccountName string                         `json:"serviceAccountName"`
		}{spec.PodConfig.Env, spec.PodConfig.Resources, spec.PodConfig.ServiceAccountName}),
		Runner: runnerImage,
	}
	if spec.GoldenNotebook != nil {
		key.Golden = notebook(spec.GoldenNotebook)
	}
	key.Digest = keyDigest(key)
	return key, nil
}

// Pinned returns a *NotReusableError naming the first input of job's spec that only a run
// resolves, or that the notebook reads from outside the key; nil when every input is fixed.
func Pinned(job *v1alpha1.NotebookValidationJob) error {
	spec := &job.Spec
	pc := &spec.PodConfig
	switch {
	case !pin.Commit(spec.Notebook.Git.Ref):
		return unpinnedRef("spec.notebook.git.ref", spec.Notebook.Git.Ref)
	case spec.GoldenNotebook != nil && !pin.Commit(spec.GoldenNotebook.Git.Ref):
		return unpinnedRef("spec.goldenNotebook.git.ref", spec.GoldenNotebook.Git.Ref)
	case pc.BuildConfig != nil && pc.BuildConfig.Enabled:
		return &NotReusableError{Input: "spec.podConfig.buildConfig", Why: "builds the image during the run, so its digest is known only after it"}
	case !pinnedImage(pc.ContainerImage):
		return &NotReusableError{Input: "spec.podConfig.containerImage", Why: fmt.Sprintf("%q is not pinned by digest (@sha256:<64 hex>): its tag may name another image later", pc.ContainerImage)}
	case modelspec.Enabled(job):
		return &NotReusableError{Input: "spec.modelValidation", Why: "makes the notebook depend on served models, whose state is not an input of the key"}
	case len(pc.EnvFrom) > 0 || len(pc.Credentials) > 0:
		return readsOutside("spec.podConfig.envFrom and credentials", "Secrets or ConfigMaps")
	case len(pc.VolumeMounts) > 0:
		return readsOutside("spec.podConfig.volumeMounts", "volumes")
	}
	for _, e := range pc.Env {
		if e.ValueFrom != nil {
			return readsOutside("spec.podConfig.env["+e.Name+"].valueFrom", "a Secret, ConfigMap or field")
		}
	}
	return nil
}

func unpinnedRef(input, ref string) *NotReusableError {
	return &NotReusableError{Input: input, Why: fmt.Sprintf("%q is a branch, tag or short SHA, which may name another commit later: pin a full commit SHA", ref)}
}

func readsOutside(input, what string) *NotReusableError {
	return &NotReusableError{Input: input, Why: "give the notebook " + what + " whose content is not an input of the key"}
}

// notebook is "<url>@<commit>:<path>", the commit in lower case (git accepts either).
func notebook(n *v1alpha1.NotebookSpec) string {
	return n.Git.URL + "@" + strings.ToLower(n.Git.Ref) + ":" + n.Path
}

// partDigest is "sha256:<hex>" of v's canonical JSON: object keys sorted, no insignificant
// white space, numbers as written (so that {"a": 1} and {"a":1} in a parameter are one part).
// v holds only API types, which always encode.
func partDigest(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("reuse: encode a key part: %v", err))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		panic(fmt.Sprintf("reuse: decode a key part: %v", err))
	}
	canonical, err := json.Marshal(generic)
	if err != nil {
		panic(fmt.Sprintf("reuse: encode a key part: %v", err))
	}
	return sha256Hex(canonical)
}

// keyDigest is "sha256:<hex>" over every part, each on its own line as name=value.
func keyDigest(k *v1alpha1.ReuseKey) string {
	var b strings.Builder
	for _, p := range Parts(k) {
		fmt.Fprintf(&b, "%s=%s\n", p.Name, p.Value)
	}
	return sha256Hex([]byte(b.String()))
}

// Part is one input of a key with its value.
type Part struct{ Name, Value string }

// Parts lists k's inputs in a fixed order, by their names in status.reuseKey.
func Parts(k *v1alpha1.ReuseKey) []Part {
	return []Part{
		{"notebook", k.Notebook}, {"golden", k.Golden}, {"image", k.Image},
		{"execution", k.Execution}, {"validation", k.Validation}, {"comparison", k.Comparison},
		{"environment", k.Environment}, {"runner", k.Runner},
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pinnedImage reports whether ref names its image by digest.
func pinnedImage(ref string) bool {
	_, ok := pin.ImageDigest(ref)
	return ok
}
