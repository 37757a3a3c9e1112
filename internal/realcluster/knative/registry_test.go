package knative

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// TestRegistryManifestsServeAtTheNodePort: the Service's node port is the one the node's
// containerd and the tests are told, and the Deployment runs the local registry image.
func TestRegistryManifestsServeAtTheNodePort(t *testing.T) {
	objs, err := RegistryManifests(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	var nodePort any
	var image string
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			nodePort = ports[0].(map[string]any)["nodePort"]
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			image, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
		}
	}
	if fmt.Sprint(nodePort) != fmt.Sprint(RegistryNodePort) {
		t.Errorf("Service node port %v, want RegistryNodePort %d", nodePort, RegistryNodePort)
	}
	if want := ociimage.RefFor(RegistryPackage); image != want {
		t.Errorf("registry image %q, want %q", image, want)
	}
}

// TestMonitoringManifestsLoadOurRules: Prometheus' rules ConfigMap holds every alert of
// config/monitoring's PrometheusRule as a rule file, both backends run the local images, and
// the node ports are the ones the tests are told.
func TestMonitoringManifestsLoadOurRules(t *testing.T) {
	objs, err := MonitoringManifests(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	images, nodePorts := map[string]string{}, map[string][]any{}
	var rules string
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			images[o.GetName()], _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
		case "Service":
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			for _, p := range ports {
				if np, ok := p.(map[string]any)["nodePort"]; ok {
					nodePorts[o.GetName()] = append(nodePorts[o.GetName()], np)
				}
			}
		case "ConfigMap":
			if o.GetName() == prometheusRulesConfigMap {
				rules, _, _ = unstructured.NestedString(o.Object, "data", "nbv.yaml")
			}
		}
	}
	if images["jaeger"] != ociimage.RefFor(JaegerPackage) || images["prometheus"] != ociimage.RefFor(PrometheusPackage) {
		t.Errorf("images %v, want the local Jaeger and Prometheus", images)
	}
	if fmt.Sprint(nodePorts["prometheus"]) != fmt.Sprint([]any{int64(PrometheusNodePort)}) ||
		fmt.Sprint(nodePorts["jaeger"]) != fmt.Sprint([]any{int64(JaegerQueryNodePort)}) {
		t.Errorf("node ports %v, want prometheus %d and jaeger %d", nodePorts, PrometheusNodePort, JaegerQueryNodePort)
	}
	source, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`)
	names := func(text string) (out []string) {
		for _, m := range alerts.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
		return out
	}
	want, got := names(string(source)), names(rules)
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rule file alerts %v, want the PrometheusRule's %v", got, want)
	}
	if strings.Contains(rules, "apiVersion") || !strings.HasPrefix(rules, "groups:") {
		t.Errorf("rule file is not the PrometheusRule's spec:\n%.200s", rules)
	}
}

// TestSetContainerEnvReachesEveryService: each Knative Service of the namespace gets the
// variables after its own; a namespace without one is an error.
func TestSetContainerEnvReachesEveryService(t *testing.T) {
	objs, _, err := FunctionManifests(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := SetContainerEnv(objs, "nbv-system", map[string]string{"B": "2", "A": "1"}); err != nil {
		t.Fatal(err)
	}
	services := 0
	for _, o := range objs {
		if o.GetKind() != "Service" || o.GetAPIVersion() != "serving.knative.dev/v1" {
			continue
		}
		services++
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
		if len(env) < 3 || fmt.Sprint(env[len(env)-2:]) != "[map[name:A value:1] map[name:B value:2]]" {
			t.Errorf("Service %s env ends %v, want A=1 and B=2 after its own", o.GetName(), env)
		}
	}
	if services != 4 {
		t.Errorf("%d Knative Services, want the four functions", services)
	}
	if err := SetContainerEnv(objs, "elsewhere", map[string]string{"A": "1"}); err == nil {
		t.Error("SetContainerEnv in a namespace without Services: no error")
	}
}
