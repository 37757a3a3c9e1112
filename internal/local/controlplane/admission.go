package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/jobaccess"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// The probe InstallAdmission waits with.
const (
	probeNamespace = "nbv-system"
	probeImage     = "nbv.invalid/admission-probe:0"
)

var jobsGVR = schema.GroupVersionResource{Group: "mlops.mlops.dev", Version: "v1alpha1", Resource: "notebookvalidationjobs"}

// InstallAdmission applies what the API server enforces on jobs besides their CRD, as an
// installer does: config/namespace.yaml (the ConfigMap's namespace) and every manifest of
// config/admission/ (the author-recording MutatingAdmissionPolicy, the build-image
// ValidatingAdmissionPolicy and its ConfigMap). It returns once both policies act on a
// dry-run job: the API server loads policies from an informer, and a job created before
// then would carry no author.
func InstallAdmission(ctx context.Context, admin *rest.Config, repoRoot string) error {
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "admission", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("admission: no manifests in config/admission under %s (%v)", repoRoot, err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range append([]string{filepath.Join(repoRoot, "config", "namespace.yaml")}, files...) {
		docs, err := yamldocs.ReadFile(f)
		if err != nil {
			return fmt.Errorf("admission: %w", err)
		}
		for _, d := range docs {
			objs = append(objs, d.Object)
		}
	}
	if err := serverapply.Objects(ctx, admin, objs, serverapply.Options{FieldManager: "nbv-install"}); err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	client, err := dynamic.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("admission: dynamic client: %w", err)
	}
	jobs := client.Resource(jobsGVR).Namespace(probeNamespace)
	probe := func(builderImage string) (*unstructured.Unstructured, error) {
		job := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": jobsGVR.GroupVersion().String(), "kind": "NotebookValidationJob",
			"metadata": map[string]any{"generateName": "admission-probe-"},
			"spec": map[string]any{
				"notebook":  map[string]any{"git": map[string]any{"url": "https://git.invalid/probe.git", "ref": "main"}, "path": "probe.ipynb"},
				"podConfig": map[string]any{"containerImage": "nbv.invalid/probe:0"},
			},
		}}
		if builderImage != "" {
			_ = unstructured.SetNestedStringMap(job.Object, map[string]string{"builderImage": builderImage}, "spec", "podConfig", "buildConfig", "strategyConfig")
			_ = unstructured.SetNestedField(job.Object, "tekton", "spec", "podConfig", "buildConfig", "strategy")
		}
		return jobs.Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	}
	var last string
	for {
		got, err := probe("")
		switch {
		case err != nil:
			last = fmt.Sprintf("a plain dry-run job was refused: %v", err)
		case got.GetAnnotations()[jobaccess.AnnotationAuthor] == "":
			last = "a dry-run job carries no " + jobaccess.AnnotationAuthor + " annotation yet"
		default:
			_, err := probe(probeImage)
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				return nil
			}
			last = fmt.Sprintf("a dry-run job naming builder image %s was not refused (%v)", probeImage, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("admission: policies not in force: %s: %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
