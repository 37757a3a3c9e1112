package knative

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The telemetry backends of test/e2e/monitoring/monitoring.yaml, built from the modules that
// pin them: Jaeger v2 (test/e2e/jaeger) and Prometheus (hack/tools/prometheus, promtool's).
const (
	JaegerPackage     = "github.com/jaegertracing/jaeger/cmd/jaeger"
	PrometheusPackage = "github.com/prometheus/prometheus/cmd/prometheus"
)

// MonitoringNamespace is where Prometheus and Jaeger run.
const MonitoringNamespace = "nbv-monitoring"

// OTLPEndpoint is the OTLP/HTTP base URL inside the cluster that the functions, the
// validation pods and Tekton push to: Jaeger's OTLP receiver, which keeps the traces and
// forwards the metrics to Prometheus' OTLP receiver.
const OTLPEndpoint = "http://jaeger." + MonitoringNamespace + ".svc.cluster.local:4318"

// PrometheusNodePort and JaegerQueryNodePort are where Prometheus' HTTP API and Jaeger's
// query API take requests at the node's address, from the host.
const (
	PrometheusNodePort  = 30909
	JaegerQueryNodePort = 30686
)

// prometheusRulesConfigMap holds the alert rules Prometheus loads (a rule file per key).
const prometheusRulesConfigMap = "prometheus-rules"

// MonitoringManifests reads the telemetry backends' objects from repoRoot's
// test/e2e/monitoring/monitoring.yaml, with local images (JaegerPackage and PrometheusPackage),
// and adds the ConfigMap of Prometheus' rules: the spec of config/monitoring's PrometheusRule,
// the rules an installer would load, so the real Prometheus evaluates exactly those.
func MonitoringManifests(repoRoot string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(repoRoot, "test", "e2e", "monitoring", "monitoring.yaml")
	objs, images, err := localManifests([]string{path})
	if err != nil {
		return nil, err
	}
	if want := []string{JaegerPackage, PrometheusPackage}; !slices.Equal(images, want) {
		return nil, fmt.Errorf("%s: images %q, want %q", path, images, want)
	}
	rules, err := ruleFile(filepath.Join(repoRoot, "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		return nil, err
	}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": prometheusRulesConfigMap, "namespace": MonitoringNamespace},
		"data":       map[string]any{"nbv.yaml": rules},
	}}
	return append(objs, cm), nil
}

// ruleFile is the spec of the PrometheusRule in path as a Prometheus rule file.
func ruleFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read alert rules: %w", err)
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		return "", fmt.Errorf("%s: not a PrometheusRule with rule groups", path)
	}
	out, err := yaml.Marshal(rule.Spec)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return string(out), nil
}

// SetContainerEnv appends env to the first container of every Knative Service in namespace
// among objs, as an installer does for the OTLP endpoints (Helm: otlp.endpoint). No Service
// there is an error: the setting would silently not apply.
func SetContainerEnv(objs []*unstructured.Unstructured, namespace string, env map[string]string) error {
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	found := 0
	for _, o := range objs {
		if o.GetKind() != "Service" || o.GetAPIVersion() != "serving.knative.dev/v1" || o.GetNamespace() != namespace {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if err != nil || len(containers) == 0 {
			return fmt.Errorf("Knative Service %s/%s: no containers", namespace, o.GetName())
		}
		c := containers[0].(map[string]any)
		list, _, _ := unstructured.NestedSlice(c, "env")
		for _, k := range names {
			list = append(list, map[string]any{"name": k, "value": env[k]})
		}
		c["env"] = list
		if err := unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			return fmt.Errorf("Knative Service %s/%s: %w", namespace, o.GetName(), err)
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("no Knative Service in %s among the manifests", namespace)
	}
	return nil
}
