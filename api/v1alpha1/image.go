package v1alpha1

// ImageReferencePattern is the container image reference grammar of the distribution project
// ([registry[:port]/]path[:tag][@digest]; path components lower case), as one RE2 regular
// expression. The CRD's image fields carry it as their schema pattern, and the external-CI build
// report schema (schemas/dev.mlops.notebookvalidationjob.build.v1.json) as the pattern of its
// image; a test keeps all three identical to this constant. It refuses at the edge what the API
// server would refuse only later, as a Pod (leading or trailing spaces, control characters),
// and what no registry could serve.
const ImageReferencePattern = `^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(:[0-9]+)?/)?[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`

// EnvVarNamePattern is the API server's rule for an environment variable's name
// (k8s.io/apimachinery validation.IsEnvVarName); the CRD checks env names with it.
const EnvVarNamePattern = `^[-._a-zA-Z][-._a-zA-Z0-9]*$`
