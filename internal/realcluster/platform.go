package realcluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/knative"
	"github.com/mlops-dev/nbv/internal/realcluster/node"
	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// Domain is the public domain of the e2e cluster's Knative Services: build-status-changed is
// build-status-changed.nbv-system.<Domain> at the node's address, port knative.TraefikNodePort.
const Domain = "nbv.test"

// servingSettings are what this cluster sets in Serving's ConfigMaps beyond the docs' ingress
// class and domain. The autoscaler's are e2e-only tuning, so that a function idle in a test
// reaches zero in seconds; the README lists each with Serving's default beside it.
var servingSettings = knative.ServingSettings{
	Domain:           Domain,
	SkipTagResolving: "local.test",
	Autoscaler: map[string]string{
		"stable-window":              "6s",
		"scale-to-zero-grace-period": "6s",
	},
}

// Registry is the cluster's image registry (test/e2e/registry), at the node's address: the
// host pushes to it, the node's containerd pulls from it over plain HTTP, and Tekton builds
// push to it. Its address is private (RFC 1918), so registry clients such as kaniko's use
// plain HTTP for it too.
var Registry = fmt.Sprintf("%s:%d", node.NodeIP, knative.RegistryNodePort)

// NotebookImage is the notebook image as pods pull it from Registry: validation pods, the
// clone step of Tekton builds and the Dockerfiles they build (FROM it), and Tekton's shell.
var NotebookImage = Registry + "/nbv/notebook:e2e"

// KanikoImage is kaniko's executor built ko-style into /kaniko, the directory kaniko keeps out
// of the images it builds, running as root as kaniko's own image does. A job builds with it by
// naming it (strategyConfig builder: kaniko, builderImage), which the installer allows in
// nbv-build-images.
const KanikoImage = "local.test/kaniko-executor:e2e"

// kanikoPackage is kaniko's command, pinned by test/e2e/kaniko.
const kanikoPackage = "github.com/GoogleContainerTools/kaniko/cmd/executor"

// buildImages are the installer's allowlists of job-named build images (ConfigMap
// nbv-system/nbv-build-images): kaniko for the build step, the notebook image (which has git)
// for the clone step.
var buildImages = map[string]string{"builderImages": KanikoImage, "gitImages": NotebookImage}

// runRecords are the installer's registry settings for run records (ConfigMap
// nbv-system/nbv-artifacts): every validation pod's publish sidecar pushes its record to the
// cluster's registry, anonymously over plain HTTP.
var runRecords = map[string]string{"repository": Registry + "/nbv-runs", "insecure": "true"}

// telemetry is what the installer sets on the functions for metrics and traces (Helm:
// otlp.endpoint and otlp.podEndpoint): every function and every validation pod pushes to
// the cluster's Jaeger, which forwards metrics to Prometheus.
var telemetry = map[string]string{
	"OTEL_EXPORTER_OTLP_ENDPOINT": knative.OTLPEndpoint,
	"NBV_POD_OTLP_ENDPOINT":       knative.OTLPEndpoint,
}

// tektonTracing turns on Tekton's own tracing (ConfigMap tekton-pipelines/config-tracing),
// to the same Jaeger.
var tektonTracing = map[string]string{"enabled": "true", "endpoint": knative.OTLPEndpoint + "/v1/traces"}

// prometheusVersion is the Prometheus release of module v0.316.0 (hack/tools/prometheus).
const prometheusVersion = "3.16.0"

// platformManifests reads what runs before this project's side: Knative Eventing and Serving
// from their modules (pinned by test/e2e/knative), Traefik, Serving's ingress (pinned by
// test/e2e/traefik), Tekton Pipelines (pinned by test/e2e/tekton), the registry, and
// Prometheus and Jaeger (pinned by hack/tools/prometheus and test/e2e/jaeger), with the images
// they need built (kaniko's included: the controller starts it).
func platformManifests(ctx context.Context, repoRoot string) ([]knative.Platform, []ociimage.GoImage, error) {
	knativePin := filepath.Join(repoRoot, knativeModuleDir)
	tektonPin := filepath.Join(repoRoot, tektonModuleDir)
	dirs := map[string]string{}
	for _, m := range []struct{ pin, module string }{
		{knativePin, knative.EventingModule},
		{knativePin, knative.ServingModule},
		{knativePin, knative.NetworkingModule},
		{knativePin, knative.CachingModule},
		{filepath.Join(repoRoot, traefikModuleDir), knative.TraefikModule},
		{tektonPin, knative.TektonModule},
	} {
		dir, err := controlplane.ModuleDir(ctx, m.pin, m.module, "")
		if err != nil {
			return nil, nil, err
		}
		dirs[m.module] = dir
	}
	eventing, eventingImages, err := knative.EventingManifests(dirs[knative.EventingModule])
	if err != nil {
		return nil, nil, err
	}
	serving, servingImages, err := knative.ServingManifests(knative.ServingModules{
		Serving:    dirs[knative.ServingModule],
		Networking: dirs[knative.NetworkingModule],
		Caching:    dirs[knative.CachingModule],
	}, servingSettings)
	if err != nil {
		return nil, nil, err
	}
	traefik, err := knative.TraefikManifests(repoRoot, dirs[knative.TraefikModule])
	if err != nil {
		return nil, nil, err
	}
	tekton, tektonImages, err := knative.TektonManifests(dirs[knative.TektonModule], NotebookImage)
	if err != nil {
		return nil, nil, err
	}
	registry, err := knative.RegistryManifests(repoRoot)
	if err != nil {
		return nil, nil, err
	}
	monitoring, err := knative.MonitoringManifests(repoRoot)
	if err != nil {
		return nil, nil, err
	}
	// Tekton's reconciler exports its own spans under the span that created the PipelineRun.
	if err := knative.SetConfigData(tekton, knative.TektonNamespace, "config-tracing", tektonTracing); err != nil {
		return nil, nil, err
	}
	var images []ociimage.GoImage
	for _, p := range append(eventingImages, servingImages...) {
		images = append(images, ociimage.GoImage{Package: p, Dir: knativePin})
	}
	// Built where Traefik is the main module, so that its go.mod's replace directives apply.
	images = append(images, ociimage.GoImage{Package: knative.TraefikPackage, Dir: dirs[knative.TraefikModule]})
	for _, p := range tektonImages {
		images = append(images, ociimage.GoImage{Package: p, Dir: tektonPin})
	}
	images = append(images,
		ociimage.GoImage{Package: knative.RegistryPackage, Dir: filepath.Join(repoRoot, registryModuleDir)},
		ociimage.GoImage{Package: kanikoPackage, Dir: filepath.Join(repoRoot, kanikoModuleDir), Ref: KanikoImage, AppDir: "/kaniko", Root: true},
		ociimage.GoImage{Package: knative.JaegerPackage, Dir: filepath.Join(repoRoot, jaegerModuleDir)},
		ociimage.GoImage{Package: knative.PrometheusPackage, Dir: filepath.Join(repoRoot, prometheusModuleDir),
			Tags: []string{"remove_all_sd"}, LDFlags: "-X github.com/prometheus/common/version.Version=" + prometheusVersion})
	return []knative.Platform{
		{Name: "Knative Eventing", Objects: eventing, Namespaces: []string{knative.EventingNamespace}, Webhooks: []knative.Webhooks{knative.EventingWebhooks}},
		{Name: "Knative Serving", Objects: serving, Namespaces: []string{knative.ServingNamespace}, Webhooks: []knative.Webhooks{knative.ServingWebhooks}},
		{Name: "Traefik", Objects: traefik, Namespaces: []string{"default"}},
		{Name: "Tekton Pipelines", Objects: tekton, Namespaces: []string{knative.TektonNamespace}, Webhooks: []knative.Webhooks{knative.TektonWebhooks}},
		{Name: "registry", Objects: registry, Namespaces: []string{knative.RegistryNamespace}},
		{Name: "Prometheus and Jaeger", Objects: monitoring, Namespaces: []string{knative.MonitoringNamespace}},
	}, images, nil
}

// distinctRefs refuses two packages that would be imported under one ref: one would replace
// the other on the node.
func distinctRefs(images []ociimage.GoImage) error {
	seen := map[string]string{}
	for _, img := range images {
		ref := img.Ref
		if ref == "" {
			ref = ociimage.RefFor(img.Package)
		}
		if other, ok := seen[ref]; ok && other != img.Package {
			return fmt.Errorf("images %s and %s would both be %s", other, img.Package, ref)
		}
		seen[ref] = img.Package
	}
	return nil
}
