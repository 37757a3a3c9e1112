package v1alpha1

import corev1 "k8s.io/api/core/v1"

// EnvVar is core/v1's EnvVar (the same JSON) with the API server's rule on names in the CRD's
// schema, so that a name no pod could hold is refused when the job is created. core/v1's type
// carries no schema for its name, and a CEL rule over a list of them exceeds the API server's
// cost budget (their strings have no length bound).
type EnvVar struct {
	// Name of the variable: letters, digits, '_', '-' or '.', not starting with a digit
	// (EnvVarNamePattern).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z][-._a-zA-Z0-9]*$`
	Name string `json:"name"`

	// Value of the variable; $(VAR) references expand as in a Pod.
	// +optional
	Value string `json:"value,omitempty"`

	// ValueFrom takes the value from a Secret, ConfigMap, field or resource, as in a Pod.
	// +optional
	ValueFrom *corev1.EnvVarSource `json:"valueFrom,omitempty"`
}

// Core is the variable as a container declares it.
func (e EnvVar) Core() corev1.EnvVar {
	return corev1.EnvVar{Name: e.Name, Value: e.Value, ValueFrom: e.ValueFrom.DeepCopy()}
}
