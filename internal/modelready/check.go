// Package modelready reads, for a NotebookValidationJob with spec.modelValidation, whether
// its serving platform is installed and its target models are ready, from the real objects:
// an InferenceService's Ready condition (kserve, openshift-ai), a Deployment's available
// replicas (vllm, torchserve, tensorflow-serving, triton: the Deployment named like the model,
// as the existing operator finds them), the named object's Ready condition for custom
// (customPlatform.apiGroup and resourceType). It turns what it read into the
// statemachine.ModelCheck job-created decides with; it never fails a job: a platform that is
// not served, a target in another namespace, or a kind job-created may not read are recorded
// in the result and the job proceeds, as in the existing operator. The pure rules live in
// readiness.go and internal/modelspec; this file does the reads.
package modelready

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/modelspec"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// Reader reads model objects and what the API server serves.
type Reader struct {
	Dynamic   dynamic.Interface
	Discovery Discovery
}

// New builds a Reader for cfg.
func New(cfg *rest.Config) (*Reader, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("model readiness: %w", err)
	}
	disc, err := NewAPIDiscovery(cfg)
	if err != nil {
		return nil, fmt.Errorf("model readiness: %w", err)
	}
	return &Reader{Dynamic: dyn, Discovery: disc}, nil
}

// Check reads job's platform and target models. An error is a fault a retry can fix (the
// API server unreachable, a 5xx); everything the job's spec or the cluster's make-up causes
// is in the returned check instead.
func (r *Reader) Check(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*statemachine.ModelCheck, error) {
	platform := modelspec.Platform(job)
	result := v1alpha1.ModelValidationResult{Phase: modelspec.Phase(job), Platform: platform}
	proceed := func(message string) *statemachine.ModelCheck {
		result.Message = message
		return &statemachine.ModelCheck{Result: result}
	}
	gvr, why, err := r.resource(ctx, job)
	if err != nil {
		return nil, err
	}
	if why != "" {
		return proceed(fmt.Sprintf("Platform %s not available in cluster (checked from namespace %s): %s; proceeding without model readiness",
			platform, job.Namespace, why)), nil
	}
	result.PlatformDetected = true
	if group, unread := unreadGroups[platform]; unread {
		result.Success = true
		return proceed(fmt.Sprintf("platform %s detected (%s); the readiness of its models is not read", platform, group)), nil
	}
	targets, refused := modelspec.Targets(job)
	if len(refused) > 0 {
		return proceed(fmt.Sprintf("Model validation failed: failed to resolve %d model reference(s): %s; proceeding without model readiness",
			len(refused), strings.Join(refused, "; "))), nil
	}
	skipped := 0
	if len(targets) > modelspec.MaxTargets {
		skipped = len(targets) - modelspec.MaxTargets
		targets = targets[:modelspec.MaxTargets]
	}
	rule := readinessOf(platform)
	check := &statemachine.ModelCheck{}
	checked := make([]v1alpha1.ModelCheckResult, 0, len(targets))
	var waiting []string
	for _, t := range targets {
		obj, err := r.Dynamic.Resource(gvr).Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			checked = append(checked, v1alpha1.ModelCheckResult{ModelName: t.Name, Message: fmt.Sprintf("%s %s not found", gvr.GroupResource(), t)})
			check.Waiting = append(check.Waiting, t.String())
			waiting = append(waiting, fmt.Sprintf("%s (%s not found)", t, gvr.GroupResource()))
			continue
		case apierrors.IsForbidden(err):
			return proceed(fmt.Sprintf("job-created may not read %s in namespace %s (grant it get on them); proceeding without model readiness",
				gvr.GroupResource(), t.Namespace)), nil
		case err != nil:
			return nil, fmt.Errorf("read model %s %s: %w", gvr.GroupResource(), t, err)
		}
		ready, why := rule.Ready(obj)
		checked = append(checked, v1alpha1.ModelCheckResult{ModelName: t.Name, Available: true, Healthy: ready, Message: why})
		if !ready {
			check.Waiting = append(check.Waiting, t.String())
			waiting = append(waiting, fmt.Sprintf("%s (%s)", t, why))
		}
	}
	existing := &v1alpha1.ExistingEnvironmentCheckResult{ModelsChecked: checked, Success: len(waiting) == 0}
	if skipped > 0 {
		existing.Message = fmt.Sprintf("%d target model(s) beyond the first %d not checked; ", skipped, modelspec.MaxTargets)
	}
	if len(waiting) == 0 {
		existing.Message += fmt.Sprintf("All %d model(s) are ready in namespace %s", len(checked), job.Namespace)
		result.Success, result.Message = true, "Model validation successful: "+existing.Message
	} else {
		check.Message = "waiting for target model(s) to be ready: " + strings.Join(waiting, "; ")
		existing.Message += fmt.Sprintf("%d of %d model(s) not ready", len(waiting), len(checked))
		result.Message = check.Message
	}
	result.ExistingEnvironmentCheck = existing
	check.Result = result
	return check, nil
}

// resource is the resource job's target models are, or why none can be read (the platform's
// API is not served, customPlatform is incomplete). For the platforms whose readiness is not
// read it is their detection resource.
func (r *Reader) resource(ctx context.Context, job *v1alpha1.NotebookValidationJob) (schema.GroupVersionResource, string, error) {
	platform := modelspec.Platform(job)
	switch platform {
	case modelspec.PlatformKServe, modelspec.PlatformOpenShiftAI:
		return r.served(ctx, InferenceServices)
	case modelspec.PlatformVLLM, modelspec.PlatformTorchServe, modelspec.PlatformTensorFlowServing, modelspec.PlatformTriton:
		return Deployments, "", nil
	case modelspec.PlatformCustom:
		cp := job.Spec.ModelValidation.CustomPlatform
		if cp == nil || cp.APIGroup == "" || cp.ResourceType == "" {
			return schema.GroupVersionResource{}, "platform custom needs customPlatform.apiGroup and customPlatform.resourceType", nil
		}
		return r.preferred(ctx, schema.GroupResource{Group: cp.APIGroup, Resource: strings.ToLower(cp.ResourceType)})
	}
	if gr, ok := unreadGroups[platform]; ok {
		return r.preferred(ctx, gr)
	}
	return schema.GroupVersionResource{}, fmt.Sprintf("unknown platform %q", platform), nil
}

// served checks that the API server serves gvr (discovery, as the existing operator detects
// platforms): the empty reason when it does.
func (r *Reader) served(ctx context.Context, gvr schema.GroupVersionResource) (schema.GroupVersionResource, string, error) {
	list, err := r.Discovery.ResourcesFor(ctx, gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return gvr, fmt.Sprintf("%s is not served", gvr.GroupResource()), nil
	}
	if err != nil {
		return gvr, "", fmt.Errorf("discover %s: %w", gvr.GroupVersion(), err)
	}
	for _, res := range list.APIResources {
		if res.Name == gvr.Resource {
			return gvr, "", nil
		}
	}
	return gvr, fmt.Sprintf("%s is not served", gvr.GroupResource()), nil
}

// preferred finds the preferred version of gr's group and checks that it serves gr.
func (r *Reader) preferred(ctx context.Context, gr schema.GroupResource) (schema.GroupVersionResource, string, error) {
	groups, err := r.Discovery.Groups(ctx)
	if err != nil {
		return schema.GroupVersionResource{}, "", fmt.Errorf("discover API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name == gr.Group {
			return r.served(ctx, gr.WithVersion(g.PreferredVersion.Version))
		}
	}
	return schema.GroupVersionResource{}, fmt.Sprintf("API group %s is not served", gr.Group), nil
}
