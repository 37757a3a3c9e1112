// Package knservice reads the Knative Services of config/functions: for each function, what a
// cluster would run it with (its container's environment, ServiceAccount, containerConcurrency,
// timeoutSeconds, max-scale and readiness path). The local stack starts function processes
// from exactly this, so a setting missing from the manifest is missing locally too.
package knservice

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// MaxScaleAnnotation bounds a revision's instances.
const MaxScaleAnnotation = "autoscaling.knative.dev/max-scale"

// Knative Serving's defaults (config-defaults): the revision timeout, and the instance bound
// used when max-scale is unset (Knative has none; a local machine needs one).
const (
	DefaultTimeoutSeconds = 300
	DefaultMaxScale       = 10
)

// Function is one Knative Service, reduced to what running it needs.
type Function struct {
	// Name is the Service's name (the Trigger subscriber's name).
	Name string
	// Namespace is the Service's namespace (where its ServiceAccount lives).
	Namespace string
	// Image is the container image (a ko:// import path before `ko resolve`).
	Image string
	// Env is the container's environment, in manifest order.
	Env []corev1.EnvVar
	// ServiceAccountName is the identity of its pods ("default" when unset, as on a cluster).
	ServiceAccountName string
	// ContainerConcurrency is how many requests one instance serves at once; 0 is unbounded.
	ContainerConcurrency int
	// TimeoutSeconds bounds a request, from its arrival to its answer.
	TimeoutSeconds int
	// MaxScale bounds the instances.
	MaxScale int
	// ReadinessPath is the readiness probe's HTTP path ("/" when the probe names none).
	ReadinessPath string
}

// Manifest is a serving.knative.dev/v1 Service as config/functions writes them: the revision
// template's spec is a PodSpec plus Knative's own fields. DecodeManifest decodes it strictly,
// so that a misspelled field, or a Knative field nobody here interprets, fails as the API
// server's validation would fail it.
type Manifest struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Template struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				corev1.PodSpec       `json:",inline"`
				ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`
				TimeoutSeconds       *int64 `json:"timeoutSeconds,omitempty"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// LoadDir reads every Knative Service in the *.yaml files of dir, by name.
func LoadDir(dir string) (map[string]Function, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(files)
	out := map[string]Function{}
	for _, path := range files {
		docs, err := yamldocs.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.Object.GetKind() != "Service" || !strings.HasPrefix(d.Object.GetAPIVersion(), "serving.knative.dev/") {
				continue
			}
			f, err := decode(d.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s document %d: %w", path, d.Index, err)
			}
			if _, dup := out[f.Name]; dup {
				return nil, fmt.Errorf("%s document %d: Service %s defined twice", path, d.Index, f.Name)
			}
			out[f.Name] = f
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Knative Service in %s", dir)
	}
	return out, nil
}

// DecodeManifest decodes one Knative Service document strictly: an unknown field is an error
// naming it.
func DecodeManifest(raw []byte) (Manifest, error) {
	var s Manifest
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return Manifest{}, fmt.Errorf("decoding Knative Service: %w", err)
	}
	return s, nil
}

func decode(raw []byte) (Function, error) {
	s, err := DecodeManifest(raw)
	if err != nil {
		return Function{}, err
	}
	spec := s.Spec.Template.Spec
	f := Function{
		Name:               s.Metadata.Name,
		Namespace:          s.Metadata.Namespace,
		ServiceAccountName: spec.ServiceAccountName,
		TimeoutSeconds:     DefaultTimeoutSeconds,
		MaxScale:           DefaultMaxScale,
		ReadinessPath:      "/",
	}
	if f.Name == "" {
		return Function{}, fmt.Errorf("Knative Service without metadata.name")
	}
	if f.ServiceAccountName == "" {
		f.ServiceAccountName = "default"
	}
	if len(spec.Containers) != 1 {
		return Function{}, fmt.Errorf("Service %s: %d containers, want one (the function)", f.Name, len(spec.Containers))
	}
	c := spec.Containers[0]
	f.Image = c.Image
	for _, e := range c.Env {
		if e.ValueFrom != nil && (e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.SecretKeyRef != nil ||
			e.ValueFrom.FieldRef != nil || e.ValueFrom.ResourceFieldRef != nil) {
			// Only ConfigMap keys are resolved (localstack, when an instance's environment is
			// made); no function takes a Secret or a field that way.
			return Function{}, fmt.Errorf("Service %s: env %s uses a valueFrom other than configMapKeyRef, which the local stack does not resolve", f.Name, e.Name)
		}
		f.Env = append(f.Env, e)
	}
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "" {
		f.ReadinessPath = p.HTTPGet.Path
	}
	if v := spec.ContainerConcurrency; v != nil {
		if *v < 0 {
			return Function{}, fmt.Errorf("Service %s: containerConcurrency %d is negative", f.Name, *v)
		}
		f.ContainerConcurrency = int(*v)
	}
	if v := spec.TimeoutSeconds; v != nil {
		if *v <= 0 {
			return Function{}, fmt.Errorf("Service %s: timeoutSeconds %d is not positive", f.Name, *v)
		}
		f.TimeoutSeconds = int(*v)
	}
	if v, ok := s.Spec.Template.Metadata.Annotations[MaxScaleAnnotation]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Function{}, fmt.Errorf("Service %s: %s %q is not a non-negative integer", f.Name, MaxScaleAnnotation, v)
		}
		if n > 0 { // 0 means unbounded in Knative; keep the local bound then
			f.MaxScale = n
		}
	}
	return f, nil
}

// Package is the Go import path of the function's binary: its ko:// image reference.
func (f Function) Package() (string, error) {
	pkg, ok := strings.CutPrefix(f.Image, "ko://")
	if !ok {
		return "", fmt.Errorf("Service %s: image %q is not a ko:// reference, so no binary of this module is its program", f.Name, f.Image)
	}
	return pkg, nil
}
