package integration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// TestS2IBuildCreatesItsImageStream: an s2i job with no output image pushes to the
// ImageStreamTag <job>:latest; job-created (as its ServiceAccount) creates that ImageStream,
// owned by the job, before the Build, as the existing operator does.
func TestS2IBuildCreatesItsImageStream(t *testing.T) {
	f := newFixture(t, 1)
	job := f.startBuild(buildSystem{v1alpha1.BuildStrategyS2I, childapi.Builds, openshiftStatus}, "s2i-own")
	is, err := f.dynamic().Resource(childapi.ImageStreams.GVR).Namespace(f.ns).Get(f.ctx, "s2i-own", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no ImageStream for the build's output: %v", err)
	}
	if !metav1.IsControlledBy(is, job) || is.GetLabels()[v1alpha1.LabelJob] != "s2i-own" {
		t.Errorf("ImageStream owners %v labels %v, want the job's controller reference and label", is.GetOwnerReferences(), is.GetLabels())
	}
	bld, err := f.dynamic().Resource(childapi.Builds.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	to, _, _ := unstructured.NestedStringMap(bld.Object, "spec", "output", "to")
	if to["kind"] != "ImageStreamTag" || to["name"] != "s2i-own:latest" {
		t.Errorf("Build output %v, want the ImageStreamTag s2i-own:latest", to)
	}
}

// TestTektonBuildHonoursRegistry: strategyConfig.registry (the existing operator's key) is
// where the PipelineRun pushes.
func TestTektonBuildHonoursRegistry(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("tkn-reg", func(j *v1alpha1.NotebookValidationJob) {
		buildJob(v1alpha1.BuildStrategyTekton)(j)
		j.Spec.PodConfig.BuildConfig.StrategyConfig = map[string]string{"registry": "quay.io/ml-team"}
	})
	job := f.waitJob("tkn-reg", "Building", phaseIs(v1alpha1.PhaseBuilding))
	pr, err := f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params, _, _ := unstructured.NestedSlice(pr.Object, "spec", "params")
	want := "quay.io/ml-team/" + f.ns + "/tkn-reg:" + string(job.UID)[:8]
	var got string
	for _, p := range params {
		if m, ok := p.(map[string]any); ok && m["name"] == "output-image" {
			got, _ = m["value"].(string)
		}
	}
	if got != want {
		t.Errorf("PipelineRun output-image %q, want %q", got, want)
	}
}
