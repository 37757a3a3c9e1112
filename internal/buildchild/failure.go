package buildchild

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/dyntyped"
)

// maxTaskRunsRead bounds the reads for one failed PipelineRun: a user's Pipeline
// (strategyConfig pipelineRef) may have any number of tasks; ours has one.
const maxTaskRunsRead = 8

// explainFailure is the message of a failed PipelineRun with the step that failed, read from
// its first maxTaskRunsRead TaskRuns: Tekton's own message counts failed tasks only. A TaskRun
// that cannot be read leaves Tekton's message, with the reason appended: the verdict does not
// depend on it.
func (b *Builds) explainFailure(ctx context.Context, obj *unstructured.Unstructured, o build.Observed) string {
	var pr tekton.PipelineRun
	if err := dyntyped.FromUnstructured(obj.Object, &pr); err != nil {
		return o.Message
	}
	names := tekton.TaskRunNames(&pr)
	for _, name := range names[:min(len(names), maxTaskRunsRead)] {
		u, err := b.API.Get(ctx, childapi.TaskRuns, obj.GetNamespace(), name)
		if err != nil {
			return fmt.Sprintf("%s (the failed step is unknown: %v)", o.Message, err)
		}
		var tr tekton.TaskRun
		if err := dyntyped.FromUnstructured(u.Object, &tr); err != nil {
			return fmt.Sprintf("%s (the failed step is unknown: decode TaskRun %s: %v)", o.Message, name, err)
		}
		if step, ok := tekton.FailedStep(&tr); ok {
			return tekton.FailureMessage(o.Message, &tr, step)
		}
	}
	return o.Message
}
