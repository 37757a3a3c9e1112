package knative

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/knservice"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// servicesYAML returns the Knative Service documents of config/functions/services.yaml.
func servicesYAML(t *testing.T) []yamldocs.Doc {
	t.Helper()
	docs, err := yamldocs.ReadFile(filepath.Join(repoRoot(t), "config", "functions", "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []yamldocs.Doc
	for _, d := range docs {
		if isKnativeService(d.Object.GetAPIVersion(), d.Object.GetKind()) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no Knative Service in config/functions/services.yaml")
	}
	return out
}

func TestDeploymentForServices(t *testing.T) {
	for _, d := range servicesYAML(t) {
		t.Run(d.Object.GetName(), func(t *testing.T) {
			ksvc, err := knservice.DecodeManifest(d.Raw)
			if err != nil {
				t.Fatal(err)
			}
			want := ksvc.Spec.Template.Spec.PodSpec.Containers[0]
			deploy, svc, err := DeploymentFor(d.Raw)
			if err != nil {
				t.Fatal(err)
			}
			name, ns := ksvc.Metadata.Name, ksvc.Metadata.Namespace
			for kind, got := range map[string][2]string{"Deployment": {deploy.Name, deploy.Namespace}, "Service": {svc.Name, svc.Namespace}} {
				if got != [2]string{name, ns} {
					t.Errorf("%s is %s/%s, want %s/%s", kind, got[1], got[0], ns, name)
				}
			}
			if deploy.Spec.Replicas == nil || *deploy.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want 1", deploy.Spec.Replicas)
			}
			pod := deploy.Spec.Template
			if pod.Spec.ServiceAccountName != ksvc.Spec.Template.Spec.ServiceAccountName {
				t.Errorf("serviceAccountName %q, want %q", pod.Spec.ServiceAccountName, ksvc.Spec.Template.Spec.ServiceAccountName)
			}
			if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != *ksvc.Spec.Template.Spec.TimeoutSeconds {
				t.Errorf("terminationGracePeriodSeconds %v, want the Service's timeoutSeconds %d", g, *ksvc.Spec.Template.Spec.TimeoutSeconds)
			}
			c := pod.Spec.Containers[0]
			// The manifest's env first, unchanged, then what Serving sets.
			wantEnv := append(append([]corev1.EnvVar{}, want.Env...),
				corev1.EnvVar{Name: "PORT", Value: "8080"},
				corev1.EnvVar{Name: "K_SERVICE", Value: name},
				corev1.EnvVar{Name: "K_CONFIGURATION", Value: name},
				corev1.EnvVar{Name: "K_REVISION", Value: name + "-00001"})
			if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if c.Image != want.Image {
				t.Errorf("image %q, want %q (made local later, with the rest)", c.Image, want.Image)
			}
			if diff := cmp.Diff(want.Resources, c.Resources); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.SecurityContext, c.SecurityContext); diff != "" {
				t.Errorf("securityContext (-want +got):\n%s", diff)
			}
			for probe, pair := range map[string][2]*corev1.Probe{"readiness": {want.ReadinessProbe, c.ReadinessProbe}, "liveness": {want.LivenessProbe, c.LivenessProbe}} {
				if pair[1] == nil || pair[1].HTTPGet == nil {
					t.Errorf("%s probe %+v, want an HTTP GET", probe, pair[1])
					continue
				}
				if pair[1].HTTPGet.Path != pair[0].HTTPGet.Path || pair[1].HTTPGet.Port.IntValue() != 8080 {
					t.Errorf("%s probe %s on port %s, want %s on 8080", probe, pair[1].HTTPGet.Path, pair[1].HTTPGet.Port.String(), pair[0].HTTPGet.Path)
				}
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
				t.Errorf("container ports %+v, want 8080", c.Ports)
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
				t.Errorf("Service ports %+v, want 80 -> 8080", svc.Spec.Ports)
			}
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
			}
			sel := deploy.Spec.Selector.MatchLabels
			if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
				t.Errorf("Deployment selector %v does not select its pods %v", sel, pod.Labels)
			}
			if _, ok := deploy.Labels[visibilityLabel]; ok {
				t.Errorf("Deployment keeps %s", visibilityLabel)
			}
			for k := range pod.Annotations {
				if isKnativeKey(k) {
					t.Errorf("pod template keeps Knative annotation %s", k)
				}
			}
		})
	}
}

// TestDeploymentForRefuses edits a real Service of config/functions with what a Deployment
// cannot express or Serving would refuse: each must fail naming it.
func TestDeploymentForRefuses(t *testing.T) {
	base := servicesYAML(t)[0].Raw
	for name, tc := range map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"traffic split": {func(m map[string]any) {
			spec(m)["traffic"] = []any{map[string]any{"latestRevision": true, "percent": 100}}
		}, "traffic"},
		"idle timeout": {func(m map[string]any) {
			podSpec(m)["idleTimeoutSeconds"] = 30
		}, "idleTimeoutSeconds"},
		"autoscaling target": {func(m map[string]any) {
			annotations(m)["autoscaling.knative.dev/target"] = "10"
		}, "autoscaling.knative.dev/target"},
		"rollout duration on the Service": {func(m map[string]any) {
			m["metadata"].(map[string]any)["annotations"] = map[string]any{"serving.knative.dev/rollout-duration": "60s"}
		}, "serving.knative.dev/rollout-duration"},
		"public visibility spelled out": {func(m map[string]any) {
			m["metadata"].(map[string]any)["labels"].(map[string]any)[visibilityLabel] = "public"
		}, visibilityLabel},
		"PORT in the manifest": {func(m map[string]any) {
			c := container(m)
			c["env"] = append(c["env"].([]any), map[string]any{"name": "PORT", "value": "9000"})
		}, "PORT"},
		"probe on another port": {func(m map[string]any) {
			container(m)["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["port"] = 9090
		}, "livenessProbe"},
		"two ports": {func(m map[string]any) {
			container(m)["ports"] = []any{map[string]any{"containerPort": 8080}, map[string]any{"containerPort": 9090}}
		}, "2 ports"},
		"sidecar": {func(m map[string]any) {
			p := podSpec(m)
			p["containers"] = append(p["containers"].([]any), map[string]any{"name": "proxy", "image": "ko://example.com/proxy"})
		}, "2 containers"},
		"bad min-scale": {func(m map[string]any) {
			annotations(m)[minScaleAnnotation] = "-1"
		}, minScaleAnnotation},
	} {
		t.Run(name, func(t *testing.T) {
			m := map[string]any{}
			if err := yaml.Unmarshal(base, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			raw, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := DeploymentFor(raw); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func spec(m map[string]any) map[string]any { return m["spec"].(map[string]any) }

func template(m map[string]any) map[string]any { return spec(m)["template"].(map[string]any) }

func podSpec(m map[string]any) map[string]any { return template(m)["spec"].(map[string]any) }

func container(m map[string]any) map[string]any {
	return podSpec(m)["containers"].([]any)[0].(map[string]any)
}

func annotations(m map[string]any) map[string]any {
	return template(m)["metadata"].(map[string]any)["annotations"].(map[string]any)
}
