package v1alpha1

// A namespace opts in to notebook validation with this label (and the RoleBindings of
// config/rbac/opt-in/): the event sources and the sweep select it, and the admission policy
// config/admission/opt-in.yaml refuses jobs in any namespace without it.
const (
	OptInLabel = "mlops.mlops.dev/nbv"
	OptInValue = "enabled"
)
