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

// The probes InstallAdmission waits with: dry-run jobs in an opted-in namespace that exists
// only for them (nothing is ever stored there) and in nbv-system, which never opts in.
const (
	// AdmissionProbeNamespace is opted in (labelled only) and holds nothing: tests dry-run
	// jobs there to see what admission says.
	AdmissionProbeNamespace = "nbv-admission-probe"
	notOptedNamespace       = "nbv-system"
	probeImage              = "nbv.invalid/admission-probe:0"
)

var jobsGVR = schema.GroupVersionResource{Group: "mlops.mlops.dev", Version: "v1alpha1", Resource: "notebookvalidationjobs"}

// InstallAdmission applies what the API server enforces on jobs besides their CRD, as an
// installer does: config/namespace.yaml (the ConfigMap's namespace) and every manifest of
// config/admission/ (the author-recording MutatingAdmissionPolicy, the build-image and opt-in
// ValidatingAdmissionPolicies and the ConfigMap). It returns once every policy acts on a
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
	if err := EnsureNamespace(ctx, admin, AdmissionProbeNamespace, OptInLabels()); err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	client, err := dynamic.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("admission: dynamic client: %w", err)
	}
	probe := func(namespace, builderImage string) (*unstructured.Unstructured, error) {
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
		return client.Resource(jobsGVR).Namespace(namespace).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	}
	var last string
	for {
		got, err := probe(AdmissionProbeNamespace, "")
		switch {
		case err != nil:
			last = fmt.Sprintf("a plain dry-run job was refused: %v", err)
		case got.GetAnnotations()[jobaccess.AnnotationAuthor] == "":
			last = "a dry-run job carries no " + jobaccess.AnnotationAuthor + " annotation yet"
		default:
			_, imageErr := probe(AdmissionProbeNamespace, probeImage)
			_, optInErr := probe(notOptedNamespace, "")
			if refused(imageErr) && refused(optInErr) {
				return nil
			}
			last = fmt.Sprintf("a dry-run job naming builder image %s was not refused (%v), or one in namespace %s, which has not opted in (%v)",
				probeImage, imageErr, notOptedNamespace, optInErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("admission: policies not in force: %s: %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func refused(err error) bool { return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) }
