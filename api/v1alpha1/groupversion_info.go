// Package v1alpha1 holds the NotebookValidationJob API (group mlops.mlops.dev,
// version v1alpha1). Its wire format is compatible with the existing CRD of that
// name: every manifest written for it decodes here with the same meaning.
//
// +kubebuilder:object:generate=true
// +groupName=mlops.mlops.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// Group is the API group of NotebookValidationJob.
	Group = "mlops.mlops.dev"
	// Version is the API version served by this package.
	Version = "v1alpha1"
	// Kind is the kind of the single resource in this group.
	Kind = "NotebookValidationJob"
	// Resource is the plural resource name.
	Resource = "notebookvalidationjobs"
	// LabelJob is set on every child of a job (pod, build) to the job's name; the event
	// sources select children by it.
	LabelJob = Group + "/notebookvalidationjob"
)

var (
	// SchemeGroupVersion is the group and version of this package.
	SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}
	// GroupVersionResource addresses the resource for dynamic clients.
	GroupVersionResource = SchemeGroupVersion.WithResource(Resource)
	// GroupVersionKind names the kind for typed decoding and ownerReferences.
	GroupVersionKind = SchemeGroupVersion.WithKind(Kind)

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &NotebookValidationJob{}, &NotebookValidationJobList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
