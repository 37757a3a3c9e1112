package sweep

import (
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// TestForbiddenOnJobs: only a refusal to touch the job itself says the namespace lacks the
// RoleBindings; a pod refused by Pod Security admission (also 403) does not.
func TestForbiddenOnJobs(t *testing.T) {
	jobs := schema.GroupResource{Group: v1alpha1.SchemeGroupVersion.Group, Resource: v1alpha1.Resource}
	pods := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"job get forbidden, wrapped", fmt.Errorf("transition: get job: %w", apierrors.NewForbidden(jobs, "x", fmt.Errorf("no"))), true},
		{"pod refused by admission", fmt.Errorf("create pod: %w", apierrors.NewForbidden(pods, "x-validation", fmt.Errorf("violates PodSecurity"))), false},
		{"job not found", apierrors.NewNotFound(jobs, "x"), false},
		{"plain error", fmt.Errorf("forbidden"), false},
	} {
		if got := forbiddenOnJobs(tc.err); got != tc.want {
			t.Errorf("%s: forbiddenOnJobs = %v, want %v", tc.name, got, tc.want)
		}
	}
}
