package knative

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentReadyOnlyWhenRolledOut(t *testing.T) {
	available := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	for name, tc := range map[string]struct {
		replicas *int32
		status   appsv1.DeploymentStatus
		ready    bool
	}{
		"rolled out": {ptr.To[int32](1), appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, Conditions: available}, true},
		// A new template's pod is starting while the old one still serves: the Deployment is
		// Available, but what runs is the old template (an ApiServerSource adapter that does not
		// yet watch a newly opted-in namespace).
		"old pod still serving": {ptr.To[int32](1), appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1, Conditions: available}, false},
		"old pod terminating":   {ptr.To[int32](1), appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2, Conditions: available}, false},
		"not observed":          {ptr.To[int32](1), appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, Conditions: available}, false},
		"not available":         {nil, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1}, false},
		"scaled to zero":        {ptr.To[int32](0), appsv1.DeploymentStatus{}, true},
	} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: tc.replicas}, Status: tc.status}
		if got := deploymentWorkload(d).ready; got != tc.ready {
			t.Errorf("%s: ready %v, want %v", name, got, tc.ready)
		}
	}
}
