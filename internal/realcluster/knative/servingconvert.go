package knative

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/knservice"
)

// ServiceLabel is the label Serving puts on every pod of a Knative Service; the Deployment's
// pods carry it too, so `kubectl get pods -l serving.knative.dev/service=<name>` finds a
// function's pods on both kinds of cluster. The Deployment and the Service select on it.
const ServiceLabel = "serving.knative.dev/service"

// Serving's defaults and conventions that a Deployment has to spell out.
const (
	// defaultPort is the container port Serving uses when the container declares none, and
	// the PORT it then sets (the functions also default to it: internal/function).
	defaultPort = 8080
	// servicePort is where Serving's cluster-local address takes requests.
	servicePort = 80
	// defaultTimeoutSeconds is Serving's revision-timeout-seconds (config-defaults).
	defaultTimeoutSeconds = 300
)

// Knative metadata this conversion understands; any other key of these groups is an error.
const (
	visibilityLabel    = "networking.knative.dev/visibility"
	minScaleAnnotation = "autoscaling.knative.dev/min-scale"
	maxScaleAnnotation = knservice.MaxScaleAnnotation
)

// reservedEnv are the variables Serving sets in every revision's container (and refuses in a
// manifest); the Deployment sets them with Serving's values.
var reservedEnv = []string{"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}

// DeploymentFor turns one Knative Service document into what runs it without Serving: a
// Deployment of one replica with the revision's pod spec, and a Service of the same name and
// namespace whose port 80 reaches the container's port, as the Service's cluster-local address
// does under Serving. What only Serving's data path or autoscaler can do (scale to zero,
// max-scale, containerConcurrency, the request timeout, public visibility) is dropped, and
// said so in the package's README text; a field or Knative annotation this function does not
// know is an error naming it, never dropped silently. Images are left as they are.
func DeploymentFor(raw []byte) (*appsv1.Deployment, *corev1.Service, error) {
	m, err := knservice.DecodeManifest(raw)
	if err != nil {
		var named struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		_ = yaml.Unmarshal(raw, &named) // for the message only
		return nil, nil, fmt.Errorf("Knative Service %s: %w (a field this conversion does not know is refused, not dropped)", named.Metadata.Name, err)
	}
	if m.APIVersion != "serving.knative.dev/v1" || m.Kind != "Service" {
		return nil, nil, fmt.Errorf("%s %s is not a serving.knative.dev/v1 Service", m.APIVersion, m.Kind)
	}
	name := m.Metadata.Name
	if name == "" {
		return nil, nil, fmt.Errorf("Knative Service without metadata.name")
	}
	fail := func(format string, args ...any) (*appsv1.Deployment, *corev1.Service, error) {
		return nil, nil, fmt.Errorf("Knative Service %s: "+format, append([]any{name}, args...)...)
	}
	if err := checkObjectMeta(m.Metadata, "metadata"); err != nil {
		return fail("%v", err)
	}
	tmpl := m.Spec.Template
	if err := checkObjectMeta(tmpl.Metadata, "spec.template.metadata"); err != nil {
		return fail("%v", err)
	}
	labels := withoutKeys(m.Metadata.Labels, visibilityLabel)
	if v, ok := m.Metadata.Labels[visibilityLabel]; ok && v != "cluster-local" {
		return fail("label %s=%q: want cluster-local (or no label)", visibilityLabel, v)
	}
	podAnnotations := withoutKeys(tmpl.Metadata.Annotations, minScaleAnnotation, maxScaleAnnotation)
	for _, key := range []string{minScaleAnnotation, maxScaleAnnotation} {
		if v, ok := tmpl.Metadata.Annotations[key]; ok {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fail("annotation %s=%q is not a non-negative integer", key, v)
			}
		}
	}

	spec := *tmpl.Spec.PodSpec.DeepCopy()
	if v := tmpl.Spec.ContainerConcurrency; v != nil && *v < 0 {
		return fail("spec.template.spec.containerConcurrency %d is negative", *v)
	}
	timeout := int64(defaultTimeoutSeconds)
	if v := tmpl.Spec.TimeoutSeconds; v != nil {
		if *v <= 0 {
			return fail("spec.template.spec.timeoutSeconds %d is not positive", *v)
		}
		timeout = *v
	}
	// Serving gives a revision's pods its request timeout to finish in-flight requests.
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(timeout)
	}
	// Serving's default (config-defaults enable-service-links: false).
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptr.To(false)
	}
	if len(spec.Containers) != 1 {
		return fail("%d containers, want one (the function)", len(spec.Containers))
	}
	c := &spec.Containers[0]
	port, err := servingPort(c)
	if err != nil {
		return fail("container %s: %v", c.Name, err)
	}
	for _, e := range c.Env {
		if slices.Contains(reservedEnv, e.Name) {
			return fail("container %s: env %s is set by Serving, not by the manifest", c.Name, e.Name)
		}
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(int(port))},
		corev1.EnvVar{Name: "K_SERVICE", Value: name},
		corev1.EnvVar{Name: "K_CONFIGURATION", Value: name},
		corev1.EnvVar{Name: "K_REVISION", Value: name + "-00001"},
	)
	c.Ports = []corev1.ContainerPort{{Name: "http1", ContainerPort: port, Protocol: corev1.ProtocolTCP}}
	if c.ReadinessProbe == nil {
		// Serving's default readiness probe: the port accepts connections.
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
	}
	for probeName, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if err := fillProbePort(p, port); err != nil {
			return fail("container %s: %s: %v", c.Name, probeName, err)
		}
	}

	podLabels := merged(labels, tmpl.Metadata.Labels)
	podLabels[ServiceLabel] = name
	selector := map[string]string{ServiceLabel: name}
	meta := metav1.ObjectMeta{Name: name, Namespace: m.Metadata.Namespace, Labels: labels, Annotations: m.Metadata.Annotations}
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec:       spec,
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: *meta.DeepCopy(),
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports: []corev1.ServicePort{{
				Name: "http", Port: servicePort, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	return deploy, svc, nil
}

// checkObjectMeta refuses labels and annotations of Knative's own groups that DeploymentFor
// does not interpret: each would change what Serving does, and a Deployment would ignore it.
func checkObjectMeta(meta metav1.ObjectMeta, where string) error {
	known := map[string]bool{visibilityLabel: true, minScaleAnnotation: true, maxScaleAnnotation: true}
	for kind, keys := range map[string]map[string]string{"label": meta.Labels, "annotation": meta.Annotations} {
		var unknown []string
		for k := range keys {
			if isKnativeKey(k) && !known[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%s %s %s has no equivalent without Knative Serving", where, kind, strings.Join(unknown, ", "))
		}
	}
	return nil
}

func isKnativeKey(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	return ok && (prefix == "knative.dev" || strings.HasSuffix(prefix, ".knative.dev"))
}

// servingPort is the port Serving would route to: the container's one declared port, or 8080.
func servingPort(c *corev1.Container) (int32, error) {
	switch len(c.Ports) {
	case 0:
		return defaultPort, nil
	case 1:
		if c.Ports[0].ContainerPort <= 0 {
			return 0, fmt.Errorf("ports[0].containerPort %d is not a port", c.Ports[0].ContainerPort)
		}
		return c.Ports[0].ContainerPort, nil
	default:
		return 0, fmt.Errorf("%d ports, Serving routes to one", len(c.Ports))
	}
}

// fillProbePort gives a probe without a port the serving port, as Serving does; a probe naming
// another port is an error (Serving refuses it).
func fillProbePort(p *corev1.Probe, port int32) error {
	if p == nil {
		return nil
	}
	check := func(current *intstr.IntOrString) error {
		if current.Type == intstr.Int && current.IntVal == 0 && current.StrVal == "" {
			*current = intstr.FromInt32(port)
			return nil
		}
		if current.Type == intstr.Int && current.IntVal == port {
			return nil
		}
		return fmt.Errorf("port %s is not the serving port %d", current.String(), port)
	}
	switch {
	case p.HTTPGet != nil:
		return check(&p.HTTPGet.Port)
	case p.TCPSocket != nil:
		return check(&p.TCPSocket.Port)
	case p.GRPC != nil:
		if p.GRPC.Port == 0 {
			p.GRPC.Port = port
		} else if p.GRPC.Port != port {
			return fmt.Errorf("grpc port %d is not the serving port %d", p.GRPC.Port, port)
		}
	}
	return nil
}

func withoutKeys(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func merged(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
