package v1alpha1

// A job asks to reuse the verdict and artifact of an earlier run with the same inputs with
// this annotation set to "true" ("false" or no annotation: the notebook runs). An annotation
// rather than a spec field keeps manifests written for the existing operator's CRD unchanged.
const (
	AnnotationReuse = Group + "/reuse"
)
